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
