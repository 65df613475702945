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


def test_tick_labels_are_unit_ids_after_reordering():
    rng = np.random.RandomState(3)
    perm = rng.permutation(8)
    corr = np.eye(8)[:, perm] * np.linspace(1, 0.3, 8)[:, None]
    match = np.argmax(corr, axis=0)
    rows, columns = matched_order(corr, match)
    ax = plot_correlation_matrix(corr, match, max_ticks=8)
    assert [int(t.get_text()) for t in ax.get_yticklabels()] == rows.tolist()
    assert [int(t.get_text()) for t in ax.get_xticklabels()] == columns.tolist()
    # the cell drawn at each tick is the correlation of the labelled pair
    shown = ax.images[0].get_array()
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            assert shown[i, j] == corr[r, c]
    plt.close(ax.figure)
    ax = plot_correlation_matrix(np.zeros((40, 30)), max_ticks=5)
    labels = [int(t.get_text()) for t in ax.get_xticklabels()]
    assert len(labels) <= 5 and labels[0] == 0
    plt.close(ax.figure)


def test_dead_units_are_masked_last_and_explained():
    rng = np.random.RandomState(0)
    corr = rng.uniform(-1, 1, size=(5, 4))
    x_dead = np.array([False, True, False, False, False])
    y_dead = np.array([False, False, True, False])
    corr[1, :] = 0.0
    corr[:, 2] = 0.0
    match = np.array([1, 0, 3, 2])  # pairs (1, 0) and (3, 2) hold a dead unit
    ax = plot_correlation_matrix(corr, match, x_dead=x_dead, y_dead=y_dead)
    rows = [int(t.get_text()) for t in ax.get_yticklabels()]
    columns = [int(t.get_text()) for t in ax.get_xticklabels()]
    assert rows[-1] == 1 and columns[-1] == 2  # dead units come last
    shown = ax.images[0].get_array()
    assert shown.mask[-1, :].all() and shown.mask[:, -1].all()
    assert not shown.mask[:-1, :-1].any()
    legend = ax.get_legend().get_texts()[0].get_text()
    assert "dead (constant) unit" in legend and "1 of net 1, 1 of net 2" in legend
    plt.close(ax.figure)
    ax = plot_correlation_matrix(corr, names=("net a", "net b"), colorbar=False)
    assert ax.get_xlabel() == "net b unit (id)" and ax.get_legend() is None
    assert len(ax.figure.axes) == 1  # no colour bar
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"x_dead must be a boolean mask .* \(5,\)"):
        plot_correlation_matrix(corr, x_dead=[0, 1, 0, 0, 0])
    with pytest.raises(ValueError, match=r"y_dead must be a boolean mask .* \(4,\)"):
        plot_correlation_matrix(corr, y_dead=np.zeros(5, dtype=bool))


def test_layer_grid_shows_kept_directions_and_a_plain_title():
    rng = np.random.RandomState(0)
    x = rng.randn(200, 6)
    grid = compare_layers({"a": x, "b": x[:, :3]}, {"c": x[:, :2], "d": x})
    ax = plot_layer_similarity(grid, kept=([6, 3], [2, 6]))
    assert ax.get_title() == "SVCCA, in-sample"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a (6)", "b (3)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["c (2)", "d (6)"]
    pairs = [text.get_text().split("\n")[1] for text in ax.texts]
    assert pairs == ["2 pairs", "6 pairs", "2 pairs", "3 pairs"]
    plt.close(ax.figure)
    tuned = compare_layers({"a": x}, {"d": x}, SVCCA(svd_components=3))
    ax = plot_layer_similarity(tuned, title="custom", colorbar=False)
    assert ax.get_title() == "custom" and len(ax.figure.axes) == 1
    plt.close(ax.figure)
    ax = plot_layer_similarity(tuned)
    assert ax.get_title() == "SVCCA(svd_components=3), in-sample"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"one count per row layer \(2\)"):
        plot_layer_similarity(grid, kept=([6], [2, 6]))


def test_spectra_with_a_chance_baseline():
    ax = plot_canonical_correlations(
        {"a~b": [0.9, 0.99, 0.5]},
        baseline={"untrained": [0.8, 0.3], "other": [0.7, 0.2]},
        title="t",
    )
    solid, *dashed = ax.lines
    assert solid.get_ydata().tolist() == [0.99, 0.9, 0.5]  # sorted
    assert [line.get_linestyle() for line in dashed] == ["--", "--"]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["a~b", "untrained"]  # one legend entry for the baseline
    assert ax.get_title() == "t"
    plt.close(ax.figure)
