"""DFT-CCA: known answers, independent formulas, dead channels, resampling, input."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import KFold, cross_val_score

from skrep import SVCCA, compare_layers
from skrep._core.dft import (
    SpectralMoments,
    fit_spectral_cca,
    fourier_resample,
    frequency_plan,
    spectral_correlations,
)
from skrep._dft import DFTCCA
from skrep.exceptions import DeadUnitWarning, InSampleBiasWarning


def make_maps(seed=0, n=40, c=3, d=4, size=(6, 6), y_size=None, noise=1.0):
    """Two layers of maps sharing a signal: Y mixes X's channels plus noise."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, c, *size)
    Y = np.einsum("nchw,cd->ndhw", X, rng.randn(c, d))
    Y = Y + noise * rng.randn(*Y.shape)
    if y_size is not None:
        Y = fourier_resample(Y, y_size)
    return X, Y


def closure(maps):
    """Every sample's maps circularly shifted over all positions (rows)."""
    h, w = maps.shape[2:]
    return np.concatenate(
        [np.roll(maps, (a, b), axis=(2, 3)) for a in range(h) for b in range(w)]
    )


def flat(maps):
    return maps.reshape(maps.shape[0], -1)


def multiset(est):
    """The canonical correlations over the full grid, each frequency's pairs."""
    grid, pairs = est.canonical_correlations_, est.n_pairs_
    values = [grid[i, j, : pairs[i, j]] for i, j in np.ndindex(pairs.shape)]
    return np.sort(np.concatenate(values))


def quiet_fit(est, X, Y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(X, Y)


# -- known answers -------------------------------------------------------------


@pytest.mark.parametrize("size", [(6, 6), (5, 4)])
@pytest.mark.parametrize("algorithm", ["moments", "svd"])
def test_translation_invariant_data_equal_plain_cca_on_flattened_maps(size, algorithm):
    # The paper's theorem: on a dataset closed under circular translation,
    # rows (image, shift), the CCA of the flattened c*h*w maps splits into
    # one CCA per frequency. The multisets must agree, pair for pair.
    X, Y = make_maps(1, n=10, size=size)
    Xc, Yc = closure(X), closure(Y)
    est = DFTCCA(algorithm=algorithm).fit(Xc, Yc)
    plain = SVCCA(svd_components=None, algorithm="svd").fit(flat(Xc), flat(Yc))
    expected = np.sort(plain.canonical_correlations_)
    assert est.n_components_ == plain.n_components_ == 3 * size[0] * size[1]
    np.testing.assert_allclose(multiset(est), expected, rtol=0, atol=1e-10)
    assert est.score(Xc, Yc) == pytest.approx(expected.mean(), abs=1e-12)


def test_any_data_equal_plain_cca_on_closure_of_centred_maps():
    # Centring every frequency over the samples is centring every unit, so
    # DFT-CCA of any maps is plain CCA of the closure of the centred maps,
    # in sample and on held-out data.
    X, Y = make_maps(2, n=24, size=(4, 5))
    train, test = slice(0, 14), slice(14, None)
    est = DFTCCA().fit(X[train], Y[train])

    def centred_closure(maps):
        return flat(closure(maps - maps.mean(axis=0)))

    plain = SVCCA(svd_components=None, algorithm="svd").fit(
        centred_closure(X[train]), centred_closure(Y[train])
    )
    np.testing.assert_allclose(
        multiset(est), np.sort(plain.canonical_correlations_), atol=1e-10
    )
    assert (est.x_rank_, est.y_rank_) == (plain.x_rank_, plain.y_rank_)
    held_out = plain.score(centred_closure(X[test]), centred_closure(Y[test]))
    assert est.score(X[test], Y[test]) == pytest.approx(held_out, abs=1e-10)
    assert est.score(X[test], Y[test]) < est.score(X[train], Y[train])


def _complex_cca(A, B):
    """Canonical correlations of two complex data matrices (rows are samples)."""
    A, B = A - A.mean(axis=0), B - B.mean(axis=0)
    qa = np.linalg.svd(A, full_matrices=False)[0]
    qb = np.linalg.svd(B, full_matrices=False)[0]
    return np.linalg.svd(qa.conj().T @ qb, compute_uv=False)


def test_every_frequency_matches_a_direct_complex_cca():
    # Independent formula: numpy's full fft2 and a QR-free complex CCA at
    # each of the h*w frequencies (no symmetry used), against the half
    # spectrum and its bookkeeping.
    X, Y = make_maps(3, n=30, c=2, d=3, size=(4, 6))
    est = DFTCCA().fit(X, Y)
    FX, FY = np.fft.fft2(X), np.fft.fft2(Y)
    for i, j in np.ndindex(4, 6):
        expected = _complex_cca(FX[:, :, i, j], FY[:, :, i, j])
        np.testing.assert_allclose(
            est.canonical_correlations_[i, j], expected, atol=1e-12
        )
    assert est.canonical_correlations_.shape == (4, 6, 2)
    assert (est.n_pairs_ == 2).all()
    assert int(est.frequency_weights_.sum()) == 24


def test_one_by_one_maps_are_plain_cca():
    rng = np.random.RandomState(4)
    X, Y = rng.randn(50, 4), rng.randn(50, 3)
    Y[:, 0] += X[:, 0]
    plain = SVCCA(svd_components=None).fit(X, Y)
    for view_x, view_y in ((X, Y), (X[:, :, None, None], Y[:, :, None, None])):
        est = DFTCCA().fit(view_x, view_y)
        np.testing.assert_allclose(
            est.canonical_correlations_[0, 0], plain.canonical_correlations_, atol=1e-12
        )
        assert est.score(view_x, view_y) == pytest.approx(plain.score(X, Y), abs=1e-12)
    # 1-D maps (Conv1d) are 1 x length maps
    X1, Y1 = make_maps(4, size=(1, 7))
    est1 = DFTCCA().fit(X1[:, :, 0], Y1[:, :, 0])
    est2 = DFTCCA().fit(X1, Y1)
    assert est1.x_map_shape_ == (3, 1, 7) and est1.map_size_ == (1, 7)
    np.testing.assert_allclose(
        est1.canonical_correlations_, est2.canonical_correlations_, atol=1e-13
    )


def test_identical_views_give_one():
    X, _ = make_maps(5, n=60)
    est = DFTCCA().fit(X, X)
    assert est.score(X, X) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(est.canonical_correlations_, 1.0, atol=1e-10)


# -- invariances -----------------------------------------------------------------


def test_invariances_of_the_channels_and_positions():
    X, Y = make_maps(6, n=50, c=3, d=4, size=(5, 6))
    rng = np.random.RandomState(6)
    reference = DFTCCA().fit(X, Y).score(X, Y)
    mix_x = rng.randn(3, 3) + 2 * np.eye(3)
    mix_y = rng.randn(4, 4) + 2 * np.eye(4)
    variants = {
        "invertible map of X's channels at every position": (
            np.einsum("nchw,cd->ndhw", X, mix_x),
            Y,
        ),
        "invertible map of Y's channels": (X, np.einsum("nchw,cd->ndhw", Y, mix_y)),
        "a constant per unit (channel, position)": (X + 7 * rng.randn(3, 5, 6), Y),
        "isotropic scaling": (X, 1e3 * Y),
        "circular translation of X's maps": (np.roll(X, (2, 1), axis=(2, 3)), Y),
    }
    for name, (X_mapped, Y_mapped) in variants.items():
        score = DFTCCA().fit(X_mapped, Y_mapped).score(X_mapped, Y_mapped)
        assert score == pytest.approx(reference, rel=1e-9), name
    # A map that differs across positions is not a channel map: it changes
    # the value (the measure is not invariant to maps of flattened units).
    scaled = X * rng.uniform(0.2, 5.0, size=(1, 3, 5, 6))
    assert DFTCCA().fit(scaled, Y).score(scaled, Y) != pytest.approx(reference)


def test_views_swap_symmetrically():
    X, Y = make_maps(7, n=40, size=(6, 6), y_size=(3, 4))
    forward = DFTCCA().fit(X, Y)
    backward = DFTCCA().fit(Y, X)
    assert forward.map_size_ == backward.map_size_ == (3, 4)
    np.testing.assert_allclose(
        forward.canonical_correlations_[..., :3],
        backward.canonical_correlations_[..., :3],
        atol=1e-10,
    )


# -- dead channels, precision, bias ------------------------------------------------


@pytest.mark.parametrize("value", [3.5, 0.0, 1e8])
@pytest.mark.parametrize("view", ["X", "y"])
def test_dead_channels_warn_and_are_dropped_exactly(value, view):
    X, Y = make_maps(8, n=40, size=(4, 4))
    reference = DFTCCA().fit(X, Y)
    if view == "X":
        X_dead, Y_dead = np.insert(X, 1, value, axis=1), Y
    else:
        X_dead, Y_dead = X, np.insert(Y, 1, value, axis=1)
    with pytest.warns(DeadUnitWarning, match="1 constant \\(dead\\) channel"):
        est = DFTCCA().fit(X_dead, Y_dead)
    assert est.score(X_dead, Y_dead) == pytest.approx(reference.score(X, Y), abs=1e-9)
    np.testing.assert_array_equal(est.n_dropped_units_ > 0, [view == "X", view == "y"])
    for attribute in ("canonical_correlations_", "x_rotations_", "y_rotations_"):
        assert np.all(np.isfinite(getattr(est, attribute)))
    # live channels in fit, a dead one in the data scored: finite
    X_held = X_dead.copy()
    X_held[:, 0] = 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert np.isfinite(est.score(X_held, Y_dead))


def test_a_channel_dead_at_one_position_only_is_not_dead():
    X, Y = make_maps(9, n=40, size=(4, 4))
    X[:, 0, 0, 0] = 0.0  # a border pixel always 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadUnitWarning)
        est = DFTCCA().fit(X, Y)
    assert est.x_rank_ == 3 * 16


def test_every_channel_dead_is_refused():
    X, Y = make_maps(10, n=20, size=(3, 3))
    with pytest.raises(ValueError, match="constant \\(dead\\)"):
        DFTCCA().fit(np.full_like(X, 2.0), Y)


def test_band_limited_maps_take_no_pairs_at_empty_frequencies():
    # Y upsampled 2x by repetition has no signal at the grid's Nyquist rows
    # and columns: those frequencies give round-off, which takes no pair.
    X, _ = make_maps(11, n=40, c=2, d=2, size=(3, 3))
    Y = X.repeat(2, axis=2).repeat(2, axis=3)
    X6 = X.repeat(2, axis=2).repeat(2, axis=3) + 0.1 * np.random.RandomState(11).randn(
        40, 2, 6, 6
    )
    with pytest.warns(DeadUnitWarning, match="no signal"):
        est = DFTCCA().fit(X6, Y)
    assert est.n_pairs_[3, :].sum() == 0 and est.n_pairs_[:, 3].sum() == 0
    assert est.n_pairs_[0, 0] == 2
    assert np.isfinite(est.score(X6, Y))


def test_routes_agree_and_auto_falls_back_on_weak_directions():
    X, Y = make_maps(12, n=80, c=3, d=3, size=(4, 4))
    results = {a: DFTCCA(algorithm=a).fit(X, Y) for a in ("auto", "moments", "svd")}
    assert results["auto"].algorithm_ == "moments"
    for est in results.values():
        np.testing.assert_allclose(
            est.canonical_correlations_,
            results["svd"].canonical_correlations_,
            atol=1e-12,
        )
    # A channel that differs from another by 1e-5: a kept direction five
    # orders below the largest, which the squared route cannot resolve.
    weak = X.copy()
    weak[:, 2] = X[:, 1] + 1e-5 * np.random.RandomState(0).randn(80, 4, 4)
    auto = DFTCCA().fit(weak, Y)
    svd = DFTCCA(algorithm="svd").fit(weak, Y)
    assert auto.algorithm_ in ("mixed", "svd")
    np.testing.assert_allclose(
        auto.canonical_correlations_, svd.canonical_correlations_, atol=1e-9
    )


def test_float32_agrees_with_float64():
    X, Y = make_maps(13, n=60, size=(4, 4))
    X, Y = X + 50.0, Y + 20.0  # large means, as after a ReLU
    score64 = DFTCCA().fit(X, Y).score(X, Y)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    score32 = DFTCCA().fit(X32, Y32).score(X32, Y32)
    assert score32 == pytest.approx(score64, abs=1e-4)


def test_held_out_below_in_sample_and_bias_warning():
    X, Y = make_maps(14, n=24, c=8, d=8, size=(3, 3), noise=4.0)
    # 8 + 8 directions in the 11 dimensions 12 centred samples span: 5 of
    # the 8 pairs are trivially 1 at each of the 3 x 3 frequencies.
    with pytest.warns(InSampleBiasWarning, match="45 in-sample canonical"):
        est = DFTCCA().fit(X[:12], Y[:12])
    assert np.all(est.canonical_correlations_[..., :5] > 1 - 1e-9)
    assert est.score(X[12:], Y[12:]) < est.score(X[:12], Y[:12]) - 0.2


def test_score_in_sample_is_the_mean_canonical_correlation():
    X, Y = make_maps(15, n=30, c=2, d=4, size=(3, 4))
    est = DFTCCA().fit(X, Y)
    total = est.canonical_correlations_.sum()
    assert est.score(X, Y) == pytest.approx(total / est.n_components_, abs=1e-12)


# -- resampling --------------------------------------------------------------------


def test_fourier_resample_is_decimation_of_band_limited_maps():
    rng = np.random.RandomState(16)
    # maps holding only frequencies |f| <= 2 on an 8 x 8 grid (2 is the
    # Nyquist frequency of a 4 x 4 grid)
    spectrum = np.zeros((3, 8, 8), dtype=complex)
    for f1 in (-2, -1, 0, 1, 2):
        for f2 in (-2, -1, 0, 1, 2):
            spectrum[:, f1 % 8, f2 % 8] = rng.randn(3) + 1j * rng.randn(3)
    maps = np.fft.ifft2(spectrum).real
    np.testing.assert_allclose(
        fourier_resample(maps, (4, 4)), maps[:, ::2, ::2], atol=1e-13
    )
    np.testing.assert_allclose(fourier_resample(maps, (8, 8)), maps)
    constant = np.full((2, 7, 5), 3.0)
    np.testing.assert_allclose(fourier_resample(constant, (3, 2)), 3.0)
    with pytest.raises(ValueError, match="smaller"):
        fourier_resample(maps, (9, 4))


def test_different_spatial_sizes_are_resampled_to_the_smaller():
    X, Y = make_maps(17, n=40, size=(8, 8), y_size=(4, 4))
    est = DFTCCA().fit(X, Y)
    assert est.map_size_ == (4, 4) and est.x_map_shape_ == (3, 8, 8)
    resampled = fourier_resample(X, (4, 4))
    same = DFTCCA().fit(resampled, Y)
    np.testing.assert_allclose(
        est.canonical_correlations_, same.canonical_correlations_, atol=1e-12
    )
    assert est.score(X, Y) == pytest.approx(same.score(resampled, Y), abs=1e-12)
    # sizes that do not divide, and per axis
    X7, Y5 = make_maps(17, n=40, size=(7, 4), y_size=(5, 3))
    odd = DFTCCA().fit(X7, Y5)
    assert odd.map_size_ == (5, 3)
    assert 0.5 < odd.score(X7, Y5) <= 1.0
    # a dense layer against maps: their spatial means
    dense = DFTCCA().fit(X.mean(axis=(2, 3)), Y)
    means = DFTCCA().fit(X.mean(axis=(2, 3)), Y.mean(axis=(2, 3)))
    assert dense.map_size_ == (1, 1)
    np.testing.assert_allclose(
        dense.canonical_correlations_, means.canonical_correlations_, atol=1e-12
    )


# -- streaming ---------------------------------------------------------------------


def test_partial_fit_and_merged_moments_equal_fit():
    X, Y = make_maps(18, n=90, size=(4, 5), y_size=(3, 5))
    full = DFTCCA().fit(X, Y)
    streamed = DFTCCA()
    for rows in np.array_split(np.random.RandomState(0).permutation(90), 5):
        streamed.partial_fit(X[rows], Y[rows])
    for attribute in ("canonical_correlations_", "x_rotations_", "y_rotations_"):
        np.testing.assert_allclose(
            getattr(streamed, attribute), getattr(full, attribute), atol=1e-10
        )
    assert streamed.score(X, Y) == pytest.approx(full.score(X, Y), abs=1e-12)
    a = SpectralMoments((3, 4, 5), (4, 3, 5)).update(flat(X[:30]), flat(Y[:30]))
    b = SpectralMoments((3, 4, 5), (4, 3, 5)).update(flat(X[30:]), flat(Y[30:]))
    merged, _ = fit_spectral_cca(flat(X), flat(Y), (3, 4, 5), (4, 3, 5))
    from skrep._core.dft import spectral_cca_from_moments

    np.testing.assert_allclose(
        spectral_cca_from_moments(a.merge(b)).correlations,
        merged.correlations,
        atol=1e-12,
    )
    with pytest.raises(ValueError, match="fitted on maps of shape"):
        streamed.partial_fit(X.reshape(90, 3, 5, 4), Y)


def test_core_correlations_in_sample_are_the_canonical_ones():
    X, Y = make_maps(19, n=50, size=(3, 4))
    result, moments = fit_spectral_cca(flat(X), flat(Y), (3, 3, 4), (4, 3, 4))
    correlations, constant = spectral_correlations(
        flat(X), flat(Y), (3, 3, 4), (4, 3, 4), result
    )
    np.testing.assert_allclose(correlations, result.correlations, atol=1e-12)
    assert not constant.any()


def test_frequency_plan_covers_the_grid_once():
    for size in [(1, 1), (1, 7), (4, 4), (5, 6), (6, 5), (3, 3)]:
        plan = frequency_plan(size)
        assert int(plan.weights.sum()) == size[0] * size[1]
        grid = np.zeros(size, dtype=int)
        np.add.at(grid, (plan.rows, plan.cols), 1)
        partner_rows, partner_cols = plan.partners()
        paired = plan.weights == 2
        np.add.at(grid, (partner_rows[paired], partner_cols[paired]), 1)
        assert (grid == 1).all(), size
        assert plan.rows[0] == plan.cols[0] == 0


# -- input -------------------------------------------------------------------------


def test_caller_arrays_are_not_modified():
    X, Y = make_maps(20, n=30, size=(4, 4))
    for X_in, Y_in in (
        (np.asfortranarray(X), np.asfortranarray(Y)),
        (X.astype(np.float32), Y.astype(np.float32)),
        (X.copy(), Y.copy()),
    ):
        X_in.setflags(write=False)
        Y_in.setflags(write=False)
        saved = X_in.copy(), Y_in.copy()
        est = DFTCCA().fit(X_in, Y_in)
        est.score(X_in, Y_in)
        est.partial_fit(X_in, Y_in).score(X_in, Y_in)
        np.testing.assert_array_equal(X_in, saved[0])
        np.testing.assert_array_equal(Y_in, saved[1])


def test_bad_shapes_are_refused_clearly():
    X, Y = make_maps(21, n=20, size=(4, 4))
    est = DFTCCA().fit(X, Y)
    with pytest.raises(ValueError, match="5 dimensions"):
        DFTCCA().fit(X[..., None], Y)
    with pytest.raises(ValueError, match="5 dimensions"):
        DFTCCA().fit(X, Y[..., None])
    with pytest.raises(ValueError, match="fitted on maps of shape \\(3, 4, 4\\)"):
        est.score(X.reshape(20, 3, 2, 8), Y)  # same width, other maps
    with pytest.raises(ValueError, match="fitted on maps of shape \\(4, 4, 4\\)"):
        est.score(X, Y.reshape(20, 4, 16))
    with pytest.raises(ValueError, match="features"):
        est.score(X[:, :2], Y)
    with pytest.raises(ValueError, match="different numbers of rows|inconsistent"):
        DFTCCA().fit(X, Y[:-1])
    with pytest.raises(ValueError, match="empty axis"):
        DFTCCA().fit(X[:, :, :0], Y)
    with pytest.raises(ValueError):
        DFTCCA().fit(X[:, 0, 0, 0], Y)  # 1-D X
    nan = X.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DFTCCA().fit(nan, Y)


# -- with the rest of skrep ------------------------------------------------------


def test_works_in_compare_layers_and_cross_validation():
    X, Y = make_maps(22, n=60, size=(4, 4))
    Z = np.random.RandomState(22).randn(60, 2, 2, 2)
    grid = compare_layers(
        {"conv1": X, "conv2": Y}, {"other": Z, "conv2": Y}, DFTCCA(), cv=3
    )
    assert grid.scores.shape == (2, 2)
    assert grid.scores[1, 1] == pytest.approx(1.0)
    assert grid.scores[0, 1] > grid.scores[0, 0]
    scores = cross_val_score(DFTCCA(), X, Y, cv=KFold(3))
    assert scores.shape == (3,) and np.all(scores < 1.0)
