import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skrep import SVCCA, compare_layers  # noqa: E402
from skrep.plotting import (  # noqa: E402
    matched_order,
    plot_canonical_correlations,
    plot_correlation_matrix,
    plot_layer_similarity,
    plot_loss_vs_decay,
)


def _saved(ax, path):
    ax.figure.savefig(path)
    plt.close(ax.figure)
    assert path.stat().st_size > 1000
    return path


def test_layer_similarity_renders(tmp_path):
    rng = np.random.RandomState(0)
    x = rng.randn(120, 6)
    grid = compare_layers({"a": x, "b": np.tanh(x)}, {"c": x @ rng.randn(6, 4)})
    ax = plot_layer_similarity(grid)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert len(ax.texts) == 2
    _saved(ax, tmp_path / "grid.png")


def test_matched_order_puts_partners_on_diagonal(tmp_path):
    rng = np.random.RandomState(0)
    perm = rng.permutation(6)
    corr = np.eye(6)[:, perm] * np.linspace(1, 0.5, 6)[:, None]
    match = np.argmax(corr, axis=0)
    rows, columns = matched_order(corr, match)
    reordered = corr[np.ix_(rows, columns)]
    np.testing.assert_allclose(np.diag(reordered), np.linspace(1, 0.5, 6))
    _saved(plot_correlation_matrix(corr, match), tmp_path / "matched.png")
    _saved(plot_correlation_matrix(corr), tmp_path / "natural.png")


def test_matched_order_with_unmatched_units():
    corr = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.1]])
    rows, columns = matched_order(corr, np.array([0, 1, -1]))
    assert list(columns) == [0, 1, 2] and list(rows) == [0, 1]


def test_loss_and_spectrum_render(tmp_path):
    ax = plot_loss_vs_decay(
        [0, 1e-5, 1e-3, 1e-1], {"conv1": [0.1, 0.1, 0.2, 0.5], "fc": [0.2] * 4}
    )
    assert len(ax.lines) == 3  # two layers and the 0.5 reference line
    _saved(ax, tmp_path / "loss.png")
    rng = np.random.RandomState(0)
    est = SVCCA().fit(rng.randn(100, 5), rng.randn(100, 5))
    ax = plot_canonical_correlations({"fitted": est, "array": [0.9, 0.5]})
    assert len(ax.lines) == 2
    _saved(ax, tmp_path / "spectrum.png")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matched_order_is_a_permutation_with_unmatched_units(seed):
    rng = np.random.RandomState(seed)
    n_x, n_y = 7, 5
    corr = rng.uniform(-1, 1, size=(n_x, n_y))
    match = rng.randint(-1, n_x, size=n_y)
    match[0] = -1
    rows, columns = matched_order(corr, match)
    assert sorted(rows.tolist()) == list(range(n_x))
    assert sorted(columns.tolist()) == list(range(n_y))
    n_matched = int(np.sum(match >= 0))
    assert np.all(match[columns[:n_matched]] >= 0)  # unmatched Y units come last
    assert np.all(match[columns[n_matched:]] == -1)
    partners = corr[match[columns[:n_matched]], columns[:n_matched]]
    assert np.all(np.diff(partners) <= 0)  # best-correlated pairs first
    # integral floats are accepted and give the same order
    rows_f, columns_f = matched_order(corr, match.astype(float))
    assert rows_f.tolist() == rows.tolist()
    assert columns_f.tolist() == columns.tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("length", [2, 4, 6])
def test_match_of_the_wrong_length_is_refused(seed, length):
    rng = np.random.RandomState(seed)
    corr = rng.uniform(-1, 1, size=(4, 5))
    match = rng.randint(0, 4, size=length)
    message = rf"one entry per Y unit .* expected shape \(5,\), got \({length},\)"
    with pytest.raises(ValueError, match=message):
        matched_order(corr, match)
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match=message):
        plot_correlation_matrix(corr, match)
    assert plt.get_fignums() == figures  # no half-drawn figure is left open


@pytest.mark.parametrize("bad", [4, 10, -2])
def test_match_out_of_range_is_refused(bad):
    corr = np.random.RandomState(0).uniform(-1, 1, size=(4, 5))
    match = np.array([0, 1, -1, bad, 2])
    message = rf"match\[3\] = {bad} is not an X unit: .* \[-1, 4\) for 4 X units"
    with pytest.raises(ValueError, match=message):
        matched_order(corr, match)
    with pytest.raises(ValueError, match=message):
        plot_correlation_matrix(corr, match)


def test_match_and_correlation_shapes_and_types_are_checked():
    corr = np.eye(3)
    with pytest.raises(ValueError, match="match must hold integers"):
        matched_order(corr, [0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="match must hold integers"):
        matched_order(corr, [0.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="match must hold integers"):
        matched_order(corr, [True, False, True])
    with pytest.raises(ValueError, match=r"expected shape \(3,\), got \(1, 3\)"):
        matched_order(corr, [[0, 1, 2]])
    with pytest.raises(ValueError, match="correlation must be a 2-D array"):
        matched_order(np.ones(3), [0, 1, 2])
    with pytest.raises(ValueError, match="correlation must be a 2-D array"):
        plot_correlation_matrix(np.ones(3))
