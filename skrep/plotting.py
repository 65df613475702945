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


def _display_name(estimator):
    """``"SVCCA"`` for ``"SVCCA()"``; a repr with parameters stays whole."""
    text = str(estimator)
    return text[:-2] if text.endswith("()") else text


def _kept_label(name, kept):
    return str(name) if kept is None else f"{name} ({int(kept)})"


def plot_layer_similarity(
    comparison,
    *,
    ax=None,
    cmap="viridis",
    annotate=True,
    kept=None,
    title=None,
    colorbar=True,
):
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
    kept : (sequence of int, sequence of int), default=None
        SVD directions kept per layer of the rows and of the columns (e.g.
        ``SVCCA.x_n_directions_`` and ``y_n_directions_`` of each layer):
        shown in brackets after each tick label, and, in each annotated cell,
        the number of canonical pairs, ``min(kept row, kept column)``. A
        score averaged over few pairs can exceed one over many, so a cell is
        read with its count.
    title : str, default=None
        Title; None gives the estimator's name and the evaluation
        (``comparison.evaluation``).
    colorbar : bool, default=True
        Add a colour bar (turn it off to share one across panels).

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    ValueError
        If ``kept`` does not give one count per row and per column.

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
    'SVCCA, in-sample'
    >>> ax = plot_layer_similarity(
    ...     compare_layers({"a": x}, {"b": x[:, :2]}), kept=([5], [2])
    ... )
    >>> [t.get_text() for t in ax.get_xticklabels()], ax.texts[0].get_text().split()
    (['b (2)'], ['1.00', '2', 'pairs'])
    """
    scores = np.asarray(comparison.scores, dtype=float)
    kept_rows = kept_columns = None
    if kept is not None:
        kept_rows, kept_columns = (list(k) for k in kept)
        if len(kept_rows) != scores.shape[0] or len(kept_columns) != scores.shape[1]:
            raise ValueError(
                f"kept must give one count per row layer ({scores.shape[0]}) and "
                f"per column layer ({scores.shape[1]}); got {len(kept_rows)} and "
                f"{len(kept_columns)}."
            )
    ax = _axes(ax)
    image = ax.imshow(np.ma.masked_invalid(scores), cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(
        range(len(comparison.layers_b)),
        [
            _kept_label(name, None if kept is None else kept_columns[j])
            for j, name in enumerate(comparison.layers_b)
        ],
        rotation=45,
        ha="right",
        rotation_mode="anchor",
    )
    ax.set_yticks(
        range(len(comparison.layers_a)),
        [
            _kept_label(name, None if kept is None else kept_rows[i])
            for i, name in enumerate(comparison.layers_a)
        ],
    )
    if annotate:
        for (i, j), value in np.ndenumerate(scores):
            if np.isfinite(value):
                text = f"{value:.2f}"
                if kept is not None:
                    text += f"\n{min(kept_rows[i], kept_columns[j])} pairs"
                ax.text(
                    j, i, text, ha="center", va="center",
                    color="white" if value < 0.6 else "black", fontsize=8,
                )  # fmt: skip
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="similarity")
    if title is None:
        title = f"{_display_name(comparison.estimator)}, {comparison.evaluation}"
    ax.set_title(title)
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


#: Colour of dead (constant) units in :func:`plot_correlation_matrix`.
DEAD_COLOUR = "0.25"


def _check_dead(dead, n_units, what):
    if dead is None:
        return np.zeros(n_units, dtype=bool)
    dead = np.asarray(dead)
    if dead.dtype != bool or dead.shape != (n_units,):
        raise ValueError(
            f"{what} must be a boolean mask with one entry per unit, shape "
            f"({n_units},); got dtype {dead.dtype} and shape {dead.shape}."
        )
    return dead


def _unit_ticks(n_units, max_ticks):
    """Positions of at most ``max_ticks`` evenly spaced ticks."""
    step = max(1, int(np.ceil(n_units / max_ticks)))
    return np.arange(0, n_units, step)


def plot_correlation_matrix(
    correlation,
    match=None,
    *,
    ax=None,
    cmap="RdBu_r",
    x_dead=None,
    y_dead=None,
    names=("net 1", "net 2"),
    title=None,
    colorbar=True,
    max_ticks=12,
):
    """Between-net unit correlations, in natural or matched order.

    Rows are X units, columns Y units. Tick labels are the units' own ids,
    also after reordering, so a cell can be traced back to its pair.

    Parameters
    ----------
    correlation : ndarray of shape (n_units_x, n_units_y)
        Pearson correlation of each X unit with each Y unit.
    match : ndarray of shape (n_units_y,), default=None
        When given (``UnitMatcher.match_``), rows and columns are reordered
        by :func:`matched_order` so that matched pairs lie on the diagonal.
        The X partner of each Y unit, -1 for none. Pairs holding a dead
        unit (see ``x_dead``, ``y_dead``) count as unmatched, and dead units
        come last.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    cmap : str, default="RdBu_r"
        Diverging colour map, centred on 0.
    x_dead, y_dead : ndarray of bool, default=None
        Dead (constant) units of X and of Y (``UnitMatcher.x_constant_``,
        ``y_constant_``): their rows and columns are drawn in a flat dark
        grey, explained in a legend, instead of as correlation 0.
    names : (str, str), default=("net 1", "net 2")
        What X and Y are, for the axis labels and the legend.
    title : str, default=None
        Title; None gives "natural order" or "matched order".
    colorbar : bool, default=True
        Add a colour bar (turn it off to share one across panels; the
        image is ``ax.images[0]``).
    max_ticks : int, default=12
        Most tick labels per axis.

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    ValueError
        If ``correlation`` is not 2-D, ``match`` is invalid (see
        :func:`matched_order`) or a dead mask does not fit its units.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skrep.plotting import plot_correlation_matrix
    >>> ax = plot_correlation_matrix(np.eye(3)[:, [2, 0, 1]], match=[2, 0, 1])
    >>> ax.get_title()
    'matched order'
    >>> [t.get_text() for t in ax.get_yticklabels()]  # X unit ids, reordered
    ['2', '0', '1']
    """
    correlation = _check_correlation(correlation)
    n_x, n_y = correlation.shape
    x_dead = _check_dead(x_dead, n_x, "x_dead")
    y_dead = _check_dead(y_dead, n_y, "y_dead")
    rows, columns = np.arange(n_x), np.arange(n_y)
    default_title = "natural order"
    if match is not None:
        match = _check_match(match, n_x, n_y)
        # a pair holding a dead unit is no pair: dead units go last, unmatched
        partner_dead = x_dead[np.clip(match, 0, None)] & (match >= 0)
        match = np.where(y_dead | partner_dead, -1, match)
        rows, columns = matched_order(correlation, match)
        rows = rows[np.argsort(x_dead[rows], kind="stable")]
        columns = columns[np.argsort(y_dead[columns], kind="stable")]
        default_title = "matched order"
    shown = correlation[np.ix_(rows, columns)]
    dead = x_dead[rows][:, None] | y_dead[columns][None, :]
    ax = _axes(ax)
    import matplotlib as mpl
    from matplotlib.patches import Patch

    colours = mpl.colormaps[cmap].with_extremes(bad=DEAD_COLOUR)
    image = ax.imshow(
        np.ma.masked_array(shown, mask=dead),
        cmap=colours,
        vmin=-1,
        vmax=1,
        interpolation="none",
    )
    x_ticks, y_ticks = _unit_ticks(n_y, max_ticks), _unit_ticks(n_x, max_ticks)
    ax.set_xticks(x_ticks, [str(int(columns[t])) for t in x_ticks], fontsize=7)
    ax.set_yticks(y_ticks, [str(int(rows[t])) for t in y_ticks], fontsize=7)
    ax.set_xlabel(f"{names[1]} unit (id)")
    ax.set_ylabel(f"{names[0]} unit (id)")
    ax.set_title(default_title if title is None else title)
    if x_dead.any() or y_dead.any():
        ax.legend(
            handles=[
                Patch(
                    facecolor=DEAD_COLOUR,
                    label=f"dead (constant) unit, no correlation: "
                    f"{int(x_dead.sum())} of {names[0]}, "
                    f"{int(y_dead.sum())} of {names[1]}",
                )
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            fontsize=7,
            frameon=False,
        )
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="correlation")
    return ax


def plot_loss_vs_decay(decays, losses, *, ax=None, title=None):
    """Sparse prediction loss against the L1 decay, one line per layer.

    Parameters
    ----------
    decays : sequence of float
        The decay grid (0 allowed: the axis is linear near 0, logarithmic
        beyond the smallest positive decay).
    losses : dict of {str: sequence of float}
        Loss per decay for each layer (0.5 = no better than the mean); the
        keys label the lines.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        Title; None leaves the axes untitled.

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
    ax.axhline(
        0.5,
        color="grey",
        linestyle=":",
        linewidth=1,
        label="0.5: no better than each unit's mean",
    )
    ax.set_xlabel("L1 decay")
    ax.set_ylabel("prediction loss")
    ax.legend(fontsize=8)
    if title is not None:
        ax.set_title(title)
    return ax


def _sorted_spectrum(value):
    rho = getattr(value, "canonical_correlations_", value)
    return np.sort(np.asarray(rho, dtype=float))[::-1]


def plot_canonical_correlations(spectra, *, ax=None, baseline=None, title=None):
    """Canonical correlation spectra, sorted, one line per comparison.

    Parameters
    ----------
    spectra : dict of {str: estimator or array}
        Fitted :class:`~skrep.SVCCA`/:class:`~skrep.PWCCA` estimators (their
        ``canonical_correlations_``) or arrays of correlations.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    baseline : dict of {str: estimator or array}, default=None
        Chance-level spectra (e.g. against untrained networks), drawn as
        dashed grey lines; the first key labels them in the legend.
    title : str, default=None
        Title; None leaves the axes untitled.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skrep.plotting import plot_canonical_correlations
    >>> ax = plot_canonical_correlations(
    ...     {"fc": [0.99, 0.8, 0.3]}, baseline={"untrained": [0.9, 0.4]}
    ... )
    >>> ax.get_ylabel(), len(ax.lines)
    ('canonical correlation', 2)
    """
    ax = _axes(ax)
    for name, value in spectra.items():
        rho = _sorted_spectrum(value)
        ax.plot(np.arange(1, rho.size + 1), rho, marker=".", label=str(name))
    for index, (name, value) in enumerate((baseline or {}).items()):
        rho = _sorted_spectrum(value)
        ax.plot(
            np.arange(1, rho.size + 1),
            rho,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=str(name) if index == 0 else None,
        )
    ax.set_xlabel("canonical direction (sorted)")
    ax.set_ylabel("canonical correlation")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    if title is not None:
        ax.set_title(title)
    return ax
