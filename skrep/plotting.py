"""Figures for skrep results (needs matplotlib: ``pip install skrep[plot]``).

Every function draws on a given matplotlib ``Axes`` (or a new figure's) and
returns the ``Axes``, so figures compose and save the usual way::

    ax = plot_layer_similarity(grid)
    ax.figure.savefig("svcca.png")
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "matched_order",
    "plot_canonical_correlations",
    "plot_correlation_matrix",
    "plot_layer_similarity",
    "plot_loss_vs_decay",
]


def _axes(ax, figsize=(5, 4)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_layer_similarity(comparison, *, ax=None, cmap="viridis", annotate=True):
    """Heatmap of a layer x layer similarity grid.

    Parameters
    ----------
    comparison : LayerComparison
        The result of :func:`skrep.compare_layers`.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    cmap : str, default="viridis"
        Colour map.
    annotate : bool, default=True
        Write each score in its cell.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skrep import compare_layers
    >>> from skrep.plotting import plot_layer_similarity
    >>> rng = np.random.RandomState(0)
    >>> x = rng.randn(100, 5)
    >>> ax = plot_layer_similarity(compare_layers({"a": x, "b": x + rng.randn(100, 5)}))
    >>> ax.get_title()
    'SVCCA(), in-sample'
    """
    ax = _axes(ax)
    scores = np.asarray(comparison.scores, dtype=float)
    image = ax.imshow(np.ma.masked_invalid(scores), cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(len(comparison.layers_b)), comparison.layers_b, rotation=45)
    ax.set_yticks(range(len(comparison.layers_a)), comparison.layers_a)
    if annotate:
        for (i, j), value in np.ndenumerate(scores):
            if np.isfinite(value):
                ax.text(
                    j, i, f"{value:.2f}", ha="center", va="center",
                    color="white" if value < 0.6 else "black", fontsize=8,
                )  # fmt: skip
    ax.figure.colorbar(image, ax=ax, label="similarity")
    ax.set_title(f"{comparison.estimator}, {comparison.evaluation}")
    return ax


def _check_correlation(correlation):
    correlation = np.asarray(correlation, dtype=float)
    if correlation.ndim != 2:
        raise ValueError(
            "correlation must be a 2-D array of shape (n_units_x, n_units_y), "
            f"got shape {correlation.shape}."
        )
    return correlation


def _check_match(match, n_units_x, n_units_y):
    """Validate ``match``: one X partner (or -1) per Y unit, as ints."""
    match = np.asarray(match)
    if match.ndim != 1 or match.shape[0] != n_units_y:
        raise ValueError(
            f"match must have one entry per Y unit (column of correlation): "
            f"expected shape ({n_units_y},), got {match.shape}."
        )
    if match.dtype.kind not in "iu":
        whole = (
            match.dtype.kind == "f"
            and np.all(np.isfinite(match))
            and np.all(match == np.round(match))
        )
        if not whole:
            raise ValueError(
                f"match must hold integers (X unit indices, -1 for none), got "
                f"dtype {match.dtype}."
            )
        match = match.astype(np.intp)
    bad = np.flatnonzero((match < -1) | (match >= n_units_x))
    if bad.size:
        j = int(bad[0])
        raise ValueError(
            f"match[{j}] = {int(match[j])} is not an X unit: entries must lie in "
            f"[-1, {n_units_x}) for {n_units_x} X units (rows of correlation), "
            f"-1 meaning unmatched; {bad.size} entries are out of range."
        )
    return match


def matched_order(correlation, match):
    """Row and column order that puts matched unit pairs on the diagonal.

    Y units (columns) are sorted by the correlation with their partner,
    highest first; X units (rows) follow their partners, and X units without
    a partner come last.

    Parameters
    ----------
    correlation : ndarray of shape (n_units_x, n_units_y)
        Between-net correlations (e.g. ``UnitMatcher.correlation_``).
    match : ndarray of shape (n_units_y,)
        X partner of each Y unit, -1 for none (``UnitMatcher.match_``).

    Returns
    -------
    rows : ndarray of int
        Order of X units.
    columns : ndarray of int
        Order of Y units.

    Raises
    ------
    ValueError
        If ``correlation`` is not 2-D, or ``match`` is not a 1-D array of
        integers with one entry per Y unit (column), each in
        ``[-1, n_units_x)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep.plotting import matched_order
    >>> correlation = np.array([[0.1, 0.9, 0.0], [0.8, 0.2, 0.1], [0.0, 0.1, 0.3]])
    >>> rows, columns = matched_order(correlation, match=[1, 0, 2])
    >>> rows.tolist(), columns.tolist()
    ([0, 1, 2], [1, 0, 2])
    """
    correlation = _check_correlation(correlation)
    match = _check_match(match, *correlation.shape)
    columns = np.arange(match.size)
    partner = np.where(
        match >= 0, correlation[np.clip(match, 0, None), columns], -np.inf
    )
    columns = columns[np.argsort(-partner, kind="stable")]
    rows = [int(match[j]) for j in columns if match[j] >= 0]
    seen = set(rows)
    rows = list(dict.fromkeys(rows))  # semi-matching may repeat a partner
    rows += [i for i in range(correlation.shape[0]) if i not in seen]
    return np.array(rows), columns


def plot_correlation_matrix(correlation, match=None, *, ax=None, cmap="RdBu_r"):
    """Between-net unit correlations, in natural or matched order.

    Parameters
    ----------
    correlation : ndarray of shape (n_units_x, n_units_y)
        Pearson correlation of each X unit with each Y unit.
    match : ndarray of shape (n_units_y,), default=None
        When given (``UnitMatcher.match_``), rows and columns are reordered
        by :func:`matched_order` so that matched pairs lie on the diagonal.
        The X partner of each Y unit, -1 for none.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    cmap : str, default="RdBu_r"
        Diverging colour map, centred on 0.

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    ValueError
        If ``correlation`` is not 2-D or ``match`` is invalid (see
        :func:`matched_order`).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skrep.plotting import plot_correlation_matrix
    >>> ax = plot_correlation_matrix(np.eye(3)[:, [2, 0, 1]], match=[2, 0, 1])
    >>> ax.get_title()
    'matched order'
    """
    correlation = _check_correlation(correlation)
    title = "natural order"
    if match is not None:
        rows, columns = matched_order(correlation, match)
        correlation = correlation[np.ix_(rows, columns)]
        title = "matched order"
    ax = _axes(ax)
    image = ax.imshow(correlation, cmap=cmap, vmin=-1, vmax=1, interpolation="none")
    ax.set_xlabel("net 2 units")
    ax.set_ylabel("net 1 units")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label="correlation")
    return ax


def plot_loss_vs_decay(decays, losses, *, ax=None):
    """Sparse prediction loss against the L1 decay, one line per layer.

    Parameters
    ----------
    decays : sequence of float
        The decay grid (0 allowed: the axis is linear near 0, logarithmic
        beyond the smallest positive decay).
    losses : dict of {str: sequence of float}
        Loss per decay for each layer (0.5 = no better than the mean).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skrep.plotting import plot_loss_vs_decay
    >>> ax = plot_loss_vs_decay([0, 1e-3, 1e-1], {"conv1": [0.1, 0.2, 0.5]})
    >>> ax.get_xscale()
    'symlog'
    """
    ax = _axes(ax)
    decays = np.asarray(decays, dtype=float)
    for name, values in losses.items():
        ax.plot(decays, values, marker="o", label=str(name))
    positive = decays[decays > 0]
    ax.set_xscale("symlog", linthresh=positive.min() if positive.size else 1e-5)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("L1 decay")
    ax.set_ylabel("prediction loss (0.5 = mean)")
    ax.legend(fontsize=8)
    return ax


def plot_canonical_correlations(spectra, *, ax=None):
    """Canonical correlation spectra, sorted, one line per comparison.

    Parameters
    ----------
    spectra : dict of {str: estimator or array}
        Fitted :class:`~skrep.SVCCA`/:class:`~skrep.PWCCA` estimators (their
        ``canonical_correlations_``) or arrays of correlations.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skrep.plotting import plot_canonical_correlations
    >>> ax = plot_canonical_correlations({"fc": [0.99, 0.8, 0.3]})
    >>> ax.get_ylabel()
    'canonical correlation'
    """
    ax = _axes(ax)
    for name, value in spectra.items():
        rho = getattr(value, "canonical_correlations_", value)
        rho = np.sort(np.asarray(rho, dtype=float))[::-1]
        ax.plot(np.arange(1, rho.size + 1), rho, label=str(name))
    ax.set_xlabel("canonical direction (sorted)")
    ax.set_ylabel("canonical correlation")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    return ax
