"""Warnings say true numbers, suspect transposed input, and come once, counted."""

import re
import warnings

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.model_selection import KFold, cross_val_score, cross_validate

from skrep import CKA, PWCCA, SVCCA, Procrustes, UnitMatcher, compare_layers
from skrep.exceptions import (
    TRANSPOSED_MAX_SAMPLES,
    TRANSPOSED_RATIO,
    DeadUnitWarning,
    InSampleBiasWarning,
    SkrepWarning,
    TransposedInputWarning,
    UnstableTruncationWarning,
    summarize_warnings,
)
from skrep.inference import permutation_test

NULL = re.compile(
    r"(X|Y) has (\d+) null direction\(s\): (\d+) constant \(dead\) unit\(s\) and "
    r"(\d+) duplicate or collinear"
)


def _caught(function, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, caught


def _messages(caught, category):
    return [str(w.message) for w in caught if issubclass(w.category, category)]


def _degenerate_views(seed, n_samples=300, n_dead=3, n_copies=2):
    """X with dead units, Y with duplicated units; a shared 3-d latent."""
    rng = np.random.RandomState(seed)
    latent = rng.randn(n_samples, 3)
    X = latent @ rng.randn(3, 16) + 0.05 * rng.randn(n_samples, 16)
    X[:, :n_dead] = rng.randn(n_dead)  # constant (dead) units
    Y = latent @ rng.randn(3, 12) + 0.05 * rng.randn(n_samples, 12)
    Y[:, 12 - n_copies :] = Y[:, :n_copies]  # exact duplicates
    return X, Y


# ---------------------------------------------------------------------------
# Numbers in the null-direction warning match the fitted attributes.
# ---------------------------------------------------------------------------

CCA_CASES = [
    SVCCA(),  # 0.99: keeps few of the non-null directions
    SVCCA(svd_components=None),
    SVCCA(svd_components=2),
    SVCCA(svd_components=None, n_components=2),
    SVCCA(svd_components=1.0, algorithm="svd"),
    PWCCA(),
    PWCCA(svd_components=5),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("estimator", CCA_CASES, ids=repr)
def test_null_direction_numbers_match_attributes(estimator, seed):
    X, Y = _degenerate_views(seed, n_dead=1 + seed, n_copies=2 + seed % 2)
    fitted, caught = _caught(estimator.fit, X, Y)
    messages = _messages(caught, DeadUnitWarning)
    assert len(messages) == 2  # one per view
    n = fitted.n_samples_seen_
    for message in messages:
        view, n_null, n_dead, n_collinear = NULL.search(message).groups()
        x = view == "X"
        width = fitted.n_features_in_ if x else fitted.n_features_y_
        rank = fitted.x_rank_ if x else fitted.y_rank_
        kept = fitted.x_n_directions_ if x else fitted.y_n_directions_
        data = X if x else Y
        assert int(n_null) == min(width, n - 1) - rank
        assert int(n_dead) == np.count_nonzero(np.ptp(data, axis=0) == 0)
        assert int(n_dead) + int(n_collinear) == int(n_null)
        pairs = re.search(r"(\d+) canonical pair\(s\) are formed", message)
        assert int(pairs.group(1)) == fitted.n_components_
        if kept < rank:
            match = re.search(r"(\d+) non-null direction\(s\), of which .* keeps (\d+)",
                              message)  # fmt: skip
            assert [int(g) for g in match.groups()] == [rank, kept]
        else:
            assert f"keeps its {rank} non-null direction(s)" in message


def test_issue_case_never_says_more_pairs_than_kept():
    # The case of the report: SVCCA at 0.99 keeps 3 directions while X has
    # 13 non-null ones; the warning must say 3 pairs, not 12 or 13.
    X, Y = _degenerate_views(0, n_dead=3, n_copies=0)
    fitted, caught = _caught(SVCCA().fit, X, Y)
    (message,) = _messages(caught, DeadUnitWarning)
    assert fitted.n_components_ == 3 and fitted.x_rank_ == 13
    assert "3 canonical pair(s) are formed" in message
    assert "13 non-null direction(s), of which svd_components=0.99 keeps 3" in message


@pytest.mark.parametrize("seed", [0, 1])
def test_in_sample_bias_numbers_match_attributes(seed):
    rng = np.random.RandomState(seed)
    X, Y = rng.randn(30, 20 + seed), rng.randn(30, 18)
    fitted, caught = _caught(SVCCA(svd_components=None).fit, X, Y)
    (message,) = _messages(caught, InSampleBiasWarning)
    numbers = re.search(
        r"(\d+) \+ (\d+) kept directions exceed the (\d+) dimensions that (\d+) "
        r"centred samples span, so at least (\d+)",
        message,
    ).groups()
    kx, ky = fitted.x_n_directions_, fitted.y_n_directions_
    excess = kx + ky - 29
    assert [int(v) for v in numbers] == [
        kx, ky, 29, 30, min(excess, fitted.n_components_)
    ]  # fmt: skip
    # And the claim itself: that many in-sample correlations are 1.
    trivial = np.count_nonzero(fitted.canonical_correlations_ > 1 - 1e-8)
    assert trivial >= int(numbers[-1])


def test_procrustes_null_direction_numbers():
    X, Y = _degenerate_views(3, n_dead=2, n_copies=1)
    fitted, caught = _caught(Procrustes().fit, X, Y)
    for message in _messages(caught, DeadUnitWarning):
        view, n_null, n_dead, _ = NULL.search(message).groups()
        rank = fitted.x_rank_ if view == "X" else fitted.y_rank_
        assert f"keeps {rank} direction(s)" in message
        width = X.shape[1] if view == "X" else Y.shape[1]
        assert int(n_null) == width - rank


# ---------------------------------------------------------------------------
# Transposed input.
# ---------------------------------------------------------------------------


def test_transposed_digits_layer_warns():
    rng = np.random.RandomState(0)
    layer = rng.randn(16, 1797)  # a 16-unit layer given as (units, samples)
    _, caught = _caught(CKA().fit, layer, layer)
    (message,) = _messages(caught, TransposedInputWarning)
    assert "did you swap rows and columns?" in message
    assert "16 x 1797" in message


@pytest.mark.parametrize(
    "shape, warns",
    [
        ((TRANSPOSED_MAX_SAMPLES, TRANSPOSED_RATIO * TRANSPOSED_MAX_SAMPLES), True),
        ((20, TRANSPOSED_RATIO * 20), True),
        ((20, TRANSPOSED_RATIO * 20 - 1), False),  # just under the ratio
        ((TRANSPOSED_MAX_SAMPLES + 1, 4096), False),  # enough samples
        ((200, 1000), False),  # an ordinary wide layer: 5x more units
        ((92, 4096), False),  # RSA-style: 92 stimuli, a wide layer
        ((1000, 10), False),
    ],
)
def test_transposed_rule_both_sides(shape, warns):
    rng = np.random.RandomState(0)
    X = rng.randn(*shape)
    Y = rng.randn(shape[0], 5)  # only X is wide: still checked
    _, caught = _caught(CKA().fit, X, Y)
    assert bool(_messages(caught, TransposedInputWarning)) is warns
    _, caught = _caught(CKA().fit, Y, X)  # the second view is checked too
    assert bool(_messages(caught, TransposedInputWarning)) is warns


def test_partial_fit_batches_do_not_warn_transposed():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 300)
    _, caught = _caught(SVCCA().partial_fit, X[:8], X[:8])
    assert not _messages(caught, TransposedInputWarning)


# ---------------------------------------------------------------------------
# summarize_warnings.
# ---------------------------------------------------------------------------


def _dead_views(seed=0, n=100):
    rng = np.random.RandomState(seed)
    X, Y = rng.randn(n, 4), rng.randn(n, 3)
    X[:, 0] = 2.0
    return X, Y


def test_summarize_cross_val_score_counts():
    X, Y = _dead_views()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with summarize_warnings() as summary:
            cross_val_score(SVCCA(svd_components=None), X, Y, cv=4)
    dead = _messages(caught, DeadUnitWarning)
    assert len(dead) == 1
    assert dead[0].endswith("[raised 4 times during 4 fits]")
    assert summary.n_fits == 4
    assert list(summary.counts.values()) == [4]


def test_summarize_points_at_the_callers_line():
    X, Y = _dead_views()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with summarize_warnings():
            cross_val_score(SVCCA(svd_components=None), X, Y, cv=3)
    assert caught[0].filename == __file__


def test_summarize_keeps_ignore_and_error_filters():
    X, Y = _dead_views()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeadUnitWarning)
        with summarize_warnings() as summary:
            cross_val_score(SVCCA(svd_components=None), X, Y, cv=3)
    assert not caught and summary.counts == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadUnitWarning)
        with pytest.raises(DeadUnitWarning), summarize_warnings():
            SVCCA(svd_components=None).fit(X, Y)


def test_summarize_counts_repeats_under_default_filters():
    # Python's "default" action shows a repeat from one line once; inside
    # the context every repeat is counted.
    X, Y = _dead_views()
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")
        with summarize_warnings() as summary:
            for _ in range(3):
                SVCCA(svd_components=None).fit(X, Y)
    assert list(summary.counts.values()) == [3]
    assert len(caught) == 1


def test_summarize_lets_other_warnings_through():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with summarize_warnings():
            for _ in range(2):
                warnings.warn("not skrep's", RuntimeWarning)
    assert [w.category for w in caught] == [RuntimeWarning, RuntimeWarning]


def test_summarize_collects_threads():
    X, Y = _dead_views()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with summarize_warnings() as summary, parallel_config(backend="threading"):
            cross_val_score(SVCCA(svd_components=None), X, Y, cv=4, n_jobs=2)
    assert len(_messages(caught, DeadUnitWarning)) == 1
    assert list(summary.counts.values()) == [4]


# ---------------------------------------------------------------------------
# compare_layers and inference aggregate.
# ---------------------------------------------------------------------------


def _grid_with_dead_layer(seed=0, n=120):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 3)
    layers = {f"l{i}": latent @ rng.randn(3, 5) + rng.randn(n, 5) for i in range(3)}
    layers["l1"][:, :2] = 0.0  # two dead units in one layer
    return layers


@pytest.mark.parametrize("backend", [None, "threading", "loky"])
def test_compare_layers_one_aggregated_warning(backend):
    layers = _grid_with_dead_layer()
    config = {} if backend is None else {"backend": backend}
    n_jobs = None if backend is None else 2
    with warnings.catch_warnings(record=True) as caught, parallel_config(**config):
        warnings.simplefilter("always")
        compare_layers(
            layers, estimator=SVCCA(svd_components=None), cv=3, n_jobs=n_jobs
        )
    dead = [w for w in caught if issubclass(w.category, DeadUnitWarning)]
    # The dead layer is X in 3 pairs and Y in 3 pairs (l1 x l1 warns for
    # both): two distinct messages, each raised in 3 pairs x 3 folds.
    assert len(dead) == 2
    for w in dead:
        text = str(w.message)
        assert "[raised 9 times during 27 fits, in 3 of 9 layer pairs:" in text
        assert w.filename == __file__
    x_side = next(str(w.message) for w in dead if str(w.message).startswith("X"))
    assert "l1 x l0, l1 x l1, l1 x l2" in x_side


def test_compare_layers_single_pair_plain_message():
    layers = _grid_with_dead_layer()
    _, caught = _caught(
        compare_layers, {"l1": layers["l1"]}, {"l0": layers["l0"]},
        SVCCA(svd_components=None),
    )  # fmt: skip
    (message,) = _messages(caught, DeadUnitWarning)
    assert "[raised" not in message


def _unstable_views():
    # Seed 1: 5-fold SVCCA(0.99) keeps 2, 3, 3, 2, 2 directions of X.
    rng = np.random.RandomState(1)
    latent = rng.randn(200, 3)
    basis = np.linalg.qr(rng.randn(8, 8))[0][:3]
    X = latent * [10, 1.0, 1.0] @ basis + 0.05 * rng.randn(200, 8)
    Y = latent @ rng.randn(3, 6) + 0.3 * rng.randn(200, 6)
    return X, Y


def test_compare_layers_warns_when_folds_keep_different_counts():
    X, Y = _unstable_views()
    folds = cross_validate(SVCCA(), X, Y, cv=5, return_estimator=True)
    counts = [est.n_components_ for est in folds["estimator"]]
    assert len(set(counts)) > 1
    _, caught = _caught(compare_layers, {"a": X}, {"b": Y}, SVCCA(), cv=5)
    (message,) = _messages(caught, UnstableTruncationWarning)
    assert f"a x b: {counts}" in message
    assert "in 1 of 1 layer pairs" in message
    # A fixed number of directions: no warning.
    _, caught = _caught(compare_layers, {"a": X}, {"b": Y}, SVCCA(2), cv=5)
    assert not _messages(caught, UnstableTruncationWarning)


def test_permutation_test_cv_warns_unstable_folds_once():
    X, Y = _unstable_views()
    splits = KFold(5)
    folds = cross_validate(SVCCA(), X, Y, cv=splits, return_estimator=True)
    counts = [est.n_components_ for est in folds["estimator"]]
    _, caught = _caught(
        permutation_test, SVCCA(), X, Y, cv=splits, n_permutations=5, random_state=0
    )
    (message,) = _messages(caught, UnstableTruncationWarning)
    assert str(counts) in message


def test_permutation_test_refits_warn_once():
    X, Y = _dead_views(n=60)
    _, caught = _caught(
        permutation_test, SVCCA(svd_components=None), X, Y, cv=3,
        n_permutations=10, random_state=0,
    )  # fmt: skip
    (message,) = _messages(caught, DeadUnitWarning)
    assert message.endswith("[raised 33 times during 33 fits]")


def test_every_new_warning_is_a_skrep_warning():
    for category in (TransposedInputWarning, UnstableTruncationWarning):
        assert issubclass(category, SkrepWarning)


def test_unit_matcher_dead_units_aggregate_in_compare_layers():
    layers = _grid_with_dead_layer()
    _, caught = _caught(compare_layers, layers, estimator=UnitMatcher())
    dead = sorted(_messages(caught, DeadUnitWarning))
    # Three texts from fit (dead units in X, in Y, in both), one from score
    # (matched pairs with a dead unit), each once, with where it was raised.
    assert len(dead) == 4
    assert dead[0].startswith("0 unit(s) of X and 2")
    assert dead[0].endswith("in 2 of 9 layer pairs: l0 x l1, l2 x l1]")
    assert dead[1].endswith("in 5 of 9 layer pairs: l0 x l1, l1 x l0, l1 x l1, ...]")
    assert dead[3].endswith(
        "[raised once during 9 fits, in 1 of 9 layer pairs: l1 x l1]"
    )


# ---------------------------------------------------------------------------
# Output names say which unit of which view.
# ---------------------------------------------------------------------------


def test_unit_matcher_pandas_output_names_both_views():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.randn(80, 12)
    Y = X[:, [10, 11, 7]] + 0.05 * rng.randn(80, 3)
    matcher = UnitMatcher().set_output(transform="pandas").fit(X, Y)
    out = matcher.transform(X)
    assert list(out.columns) == ["x10_for_y0", "x11_for_y1", "x7_for_y2"]
    np.testing.assert_array_equal(out.to_numpy(), X[:, [10, 11, 7]])
    # Named columns: the names of both views.
    Xd = pd.DataFrame(X, columns=[f"conv.{i}" for i in range(12)])
    Yd = pd.DataFrame(Y, columns=["fc.a", "fc.b", "fc.c"])
    matcher = UnitMatcher().set_output(transform="pandas").fit(Xd, Yd)
    assert list(matcher.transform(Xd).columns) == [
        "conv.10_for_fc.a", "conv.11_for_fc.b", "conv.7_for_fc.c"
    ]  # fmt: skip
    np.testing.assert_array_equal(matcher.feature_names_y_, Yd.columns)
    # A refit on unnamed y forgets the names.
    matcher.fit(X, Y)
    assert not hasattr(matcher, "feature_names_y_")
    assert matcher.get_feature_names_out()[0] == "x10_for_y0"


def test_unit_matcher_semi_matching_names_repeat_x():
    rng = np.random.RandomState(1)
    X = rng.randn(60, 3)
    Y = np.column_stack([X[:, 1], X[:, 1] + 0.1 * rng.randn(60), X[:, 0]])
    names = UnitMatcher(method="semi-matching").fit(X, Y).get_feature_names_out()
    assert names.tolist() == ["x1_for_y0", "x1_for_y1", "x0_for_y2"]


def test_summarize_leaves_other_warnings_filters_alone():
    # A "default" filter for every UserWarning shows a repeated non-skrep
    # warning once, inside the context as outside; skrep's are counted.
    X, Y = _dead_views()
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default", UserWarning)
        with summarize_warnings() as summary:
            for _ in range(3):
                warnings.warn("someone else's", UserWarning)
            for _ in range(3):
                SVCCA(svd_components=None).fit(X, Y)
    assert [str(w.message) for w in caught if w.category is UserWarning] == [
        "someone else's"
    ]
    assert list(summary.counts.values()) == [3]


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_compare_layers_with_permutations_in_parallel(backend):
    # Each cell runs permutation_test, which summarizes its own refits; in
    # compare_layers' workers the outer collection counts them all.
    layers = _grid_with_dead_layer(n=60)
    before = warnings.showwarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with parallel_config(backend=backend):
            compare_layers(
                layers, estimator=SVCCA(svd_components=None), cv=2,
                inference="permutation", n_permutations=3, random_state=0,
                n_jobs=2,
            )  # fmt: skip
        dead = _messages(caught, DeadUnitWarning)
        # The dead layer as X (3 pairs) and as Y (3 pairs): per pair, 2 folds
        # of the score, then 2 folds of the statistic and of 3 permutations.
        assert len(dead) == 2
        for message in dead:
            assert "[raised 30 times during" in message
            assert "in 3 of 9 layer pairs" in message
    assert warnings.showwarning is before
