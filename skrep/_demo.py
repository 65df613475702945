"""The main job: compare two networks layer by layer, end to end.

Used by ``python -m skrep`` (and the ``skrep`` console script). The analysis
(:func:`analyse_networks`) takes any two torch models and inputs; the demo
(:func:`run_demo`) first trains two small CNNs on scikit-learn's digits with
different seeds, plus an untrained network as the chance baseline.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from skrep import (
    PWCCA,
    SVCCA,
    SparseLayerPredictor,
    UnitMatcher,
    compare_layers,
    dead_units,
)

_IMPORTED = time.perf_counter()

#: The sparse-prediction decays of Li et al. (2016), Table 1.
DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


#: Bootstrap resamples of the demo's 95% intervals (SVCCA, a~b). Each
#: resample re-forms the moments of every position row (77 000 rows in relu1
#: and relu2), so the count is kept small to hold the demo near half a minute.
N_RESAMPLES = 49
#: The same for ``--quick``.
N_RESAMPLES_QUICK = 19


def _seconds_since_process_start():
    """Seconds since this process started (Linux), else None."""
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return max(0.0, uptime - started)


class _Progress:
    """Numbered progress lines with the time since the process started.

    The clock starts at process start where the system tells it (Linux),
    else when :mod:`skrep._demo` was imported, so that imports, training and
    figure writing are all counted.
    """

    def __init__(self, total, stream=print):
        self.total, self.step, self.stream = total, 0, stream
        since = _seconds_since_process_start()
        self.start = time.perf_counter() - (
            since if since is not None else time.perf_counter() - _IMPORTED
        )

    def elapsed(self):
        return time.perf_counter() - self.start

    def __call__(self, message):
        self.step += 1
        self.stream(f"[{self.step}/{self.total} {self.elapsed():5.1f}s] {message}")


def extract_layers(model, layers, images, *, reduction, device=None, batch_size=256):
    """Activations of ``layers`` as ``{name: (rows, units) float64 array}``.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    layers : list of str
        Module names.
    images : array-like
        Inputs, first axis samples.
    reduction : str
        Extractor reduction ("positions" makes every spatial position a row).
    device : str, default=None
        Where the forward passes run.
    batch_size : int, default=256
        Images per forward pass.

    Returns
    -------
    activations : dict of {str: ndarray}
        One samples x units matrix per layer.
    """
    from skrep.torch import TorchActivationExtractor

    extractor = TorchActivationExtractor(
        model, list(layers), reduction=reduction, batch_size=batch_size, device=device
    )
    return {
        name: np.asarray(acts, dtype=np.float64)
        for name, acts in extractor.extract(images).items()
    }


def _as_list(baseline):
    if baseline is None:
        return []
    if isinstance(baseline, (list, tuple)):
        return list(baseline)
    return [baseline]


def _baseline_labels(baselines, labels):
    if labels is None:
        if len(baselines) == 1:
            return ["baseline"]
        return [f"baseline{i + 1}" for i in range(len(baselines))]
    labels = [str(label) for label in labels]
    if len(labels) != len(baselines) or len(set(labels)) != len(labels):
        raise ValueError(
            f"baseline_labels must give one distinct label per baseline network "
            f"({len(baselines)}); got {labels}."
        )
    return labels


def _groups(rows, n_images):
    """Label each row with its image (rows are image-major)."""
    return np.repeat(np.arange(n_images), rows.shape[0] // n_images)


def _interval(estimator, x, y, groups, n_resamples, random_state):
    from skrep.inference import bootstrap_interval

    result = bootstrap_interval(
        estimator, x, y, groups=groups, n_resamples=n_resamples,
        random_state=random_state,
    )  # fmt: skip
    return [float(result.ci_low), float(result.ci_high)]


def _live_loss(predictor, x, y):
    """Held-out loss averaged over the target units that were live in fit."""
    losses = predictor.prediction_loss(x, y, multioutput="raw_values")
    live = ~predictor.y_constant_
    return float(losses[live].mean()) if live.any() else float("nan")


def analyse_networks(
    net_a,
    net_b,
    images_train,
    images_test,
    layers,
    *,
    baseline=None,
    baseline_labels=None,
    output_dir="skrep-output",
    device=None,
    decays=DECAYS,
    n_resamples=0,
    random_state=0,
    data=("fitting inputs", "held-out inputs"),
    reduction="positions",
    description=(),
    log=print,
    progress=None,
):
    """Run every skrep analysis on two networks and write tables and figures.

    Parameters
    ----------
    net_a, net_b : torch.nn.Module
        The two networks (same inputs; layers may differ in width).
    images_train, images_test : array-like
        Inputs on which directions, matchings and predictors are fitted,
        and held-out inputs on which they are scored.
    layers : list of str or list of (str, str)
        Layers to compare, input to output: a name present in both nets, or
        a pair (name in net_a, name in net_b).
    baseline : torch.nn.Module or list of torch.nn.Module, default=None
        Reference networks (e.g. untrained, with net_a's architecture), each
        compared with ``net_a`` as ``net_b`` is: the chance level, reported
        as the mean and the range over them.
    baseline_labels : list of str, default=None
        A name for each baseline network (pairs read ``a~<label>``); None
        gives "baseline" (one) or "baseline1", "baseline2", ...
    output_dir : str or Path, default="skrep-output"
        Where CSV, JSON and PNG files go (created).
    device : str, default=None
        Device for the forward passes.
    decays : sequence of float, default=DECAYS
        L1 decays of the sparse-prediction table.
    n_resamples : int, default=0
        Bootstrap resamples for the 95% interval of each layer's a~b SVCCA
        fit (in-sample) score (:func:`skrep.inference.bootstrap_interval`,
        whole images drawn: all positions of an image together); 0 skips
        them.
    random_state : int, default=0
        Seed of the bootstrap.
    data : (str, str), default=("fitting inputs", "held-out inputs")
        What the two sets of inputs are, for figure titles.
    reduction : {"positions", "mean", "flatten"}, default="positions"
        How a layer's output becomes rows: every spatial position of a conv
        layer a row, one row of per-input means, or one flattened row per
        input (:class:`~skrep.torch.TorchActivationExtractor`). Tables,
        titles and the layer grid say which.
    description : sequence of str, default=()
        Lines that open the printed summary (e.g. the seeds).
    log : callable, default=print
        Receives the printed report, line by line.
    progress : callable, default=None
        Receives progress messages.

    Returns
    -------
    results : dict
        Everything that was written to ``results.json``.
    """
    progress = progress or (lambda message: None)
    if reduction not in _ROWS:
        raise ValueError(
            f"reduction must be one of {sorted(_ROWS)}, got {reduction!r}."
        )
    rows_are = _ROWS[reduction]
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    pairs = [(p, p) if isinstance(p, str) else tuple(p) for p in layers]
    names = [a if a == b else f"{a}~{b}" for a, b in pairs]
    baselines = _as_list(baseline)
    labels = _baseline_labels(baselines, baseline_labels)
    nets = {"a": net_a, "b": net_b, **dict(zip(labels, baselines))}
    others = {"b": "a~b", **{label: f"a~{label}" for label in labels}}

    progress(f"extracting activations ({rows_are[1]}) ...")
    acts = {}  # acts[(net, layer, reduction)] = (train, test)
    for key, net in nets.items():
        layer_names = [a if key != "b" else b for a, b in pairs]
        train, test = (
            extract_layers(net, layer_names, images, reduction=reduction, device=device)
            for images in (images_train, images_test)
        )
        for name, layer in zip(names, layer_names):
            acts[key, name, "positions"] = (train[layer], test[layer])
            # rows are sample-major, so the mean over positions is a reshape away
            acts[key, name, "mean"] = tuple(
                rows.reshape(len(images), -1, rows.shape[1]).mean(axis=1)
                for rows, images in ((train[layer], images_train),
                                     (test[layer], images_test))
            )  # fmt: skip
    groups = {
        name: _groups(acts["a", name, "positions"][0], len(images_train))
        for name in names
    }

    with warnings.catch_warnings(record=True) as captured:
        warnings.simplefilter("always")
        progress("unit matching (Li et al. 2016) ...")
        matching, matchers = [], {}
        for name in names:
            for other, pair in others.items():
                (xa, xa_test), (xo, xo_test) = (
                    acts["a", name, "positions"],
                    acts[other, name, "positions"],
                )
                for method in ("semi-matching", "matching"):
                    matcher = UnitMatcher(method=method).fit(xa, xo)
                    matching.append(
                        {
                            "layer": name,
                            "pair": pair,
                            "method": method,
                            "fit_mean": matcher.score(xa, xo),
                            "held_out_mean": matcher.score(xa_test, xo_test),
                            "overlap": matcher.overlap_,
                        }
                    )
                    if other == "b" and method == "matching":
                        matchers[name] = matcher

        progress("sparse prediction of net b from net a over the decay grid ...")
        sparse, live = {}, {}
        for name in names:
            (xa, xa_test), (xb, xb_test) = (
                acts["a", name, "positions"],
                acts["b", name, "positions"],
            )
            predictors = [SparseLayerPredictor(decay=d).fit(xa, xb) for d in decays]
            sparse[name] = [_live_loss(p, xa_test, xb_test) for p in predictors]
            live[name] = [int(np.sum(~predictors[0].y_constant_)), xb.shape[1]]

        progress("SVCCA and PWCCA between corresponding layers ...")
        cca_rows, spectra, kept = [], {}, {}
        for name in names:
            for other, pair in others.items():
                (xa, xa_test), (xo, xo_test) = (
                    acts["a", name, "positions"],
                    acts[other, name, "positions"],
                )
                row = {"layer": name, "pair": pair}
                for est in (SVCCA(), PWCCA()):
                    est.fit(xa, xo)
                    key = type(est).__name__.lower()
                    row[f"{key}_kept_a"] = int(est.x_n_directions_)
                    row[f"{key}_kept_other"] = int(est.y_n_directions_)
                    row[f"{key}_in_sample"] = est.score(xa, xo)
                    row[f"{key}_held_out"] = est.score(xa_test, xo_test)
                    if key == "svcca":
                        spectra[name, pair] = est.canonical_correlations_
                cca_rows.append(row)

        progress("layer x layer SVCCA grid (mean over positions), held-out ...")
        train_a = {n: acts["a", n, "mean"][0] for n in names}
        train_b = {n: acts["b", n, "mean"][0] for n in names}
        test_a = {n: acts["a", n, "mean"][1] for n in names}
        test_b = {n: acts["b", n, "mean"][1] for n in names}
        grid = compare_layers(
            train_a, train_b, SVCCA(), test=(test_a, test_b), n_jobs=None
        )
        # the chance level of each cell: net a against each untrained net
        chance_grids = [
            compare_layers(
                train_a,
                {n: acts[label, n, "mean"][0] for n in names},
                SVCCA(),
                test=(test_a, {n: acts[label, n, "mean"][1] for n in names}),
                n_jobs=None,
            ).scores
            for label in labels
        ]
        chance_grid = (
            dataclasses.replace(grid, scores=np.mean(chance_grids, axis=0))
            if chance_grids
            else None
        )
        for name in names:
            # SVD truncation is per view: a layer keeps as many directions in
            # every cell of its row (or column) as in the diagonal cell
            est = SVCCA().fit(train_a[name], train_b[name])
            kept[name] = (int(est.x_n_directions_), int(est.y_n_directions_))

        if n_resamples:
            progress(
                f"95% bootstrap intervals of the a~b SVCCA fit ({n_resamples} "
                "resamples of whole images) ..."
            )
            for row in cca_rows:
                if row["pair"] == "a~b":
                    low, high = _interval(
                        SVCCA(),
                        acts["a", row["layer"], "positions"][0],
                        acts["b", row["layer"], "positions"][0],
                        groups[row["layer"]],
                        n_resamples,
                        random_state,
                    )
                    row["svcca_in_sample_ci_low"] = low
                    row["svcca_in_sample_ci_high"] = high
    notes = _summarise_warnings(captured)
    dead = [
        {
            "layer": name,
            **{
                f"dead_units_{key}": int(
                    np.sum(dead_units(acts[key, name, "positions"][0]))
                )
                for key in nets
            },
            "units_a": acts["a", name, "positions"][0].shape[1],
            "units_b": acts["b", name, "positions"][0].shape[1],
        }
        for name in names
    ]

    progress("writing tables and figures ...")
    results = {
        "layers": names,
        "baselines": labels,
        "bootstrap": {
            "of": "in-sample SVCCA of net a with net b, per layer",
            "n_resamples": int(n_resamples),
            "confidence_level": 0.95,
            "method": "percentile",
            "groups": "images (all positions of an image together)",
            "random_state": random_state,
        }
        if n_resamples
        else None,
        "matching": matching,
        "sparse_prediction": {
            "decays": list(decays),
            "held_out_loss": {n: [float(v) for v in sparse[n]] for n in names},
            "loss_over": "live (non-constant on the fitting inputs) units of net b",
            "live_units": live,
        },
        "cca": cca_rows,
        "svcca_layer_grid": {
            **grid.to_dict(),
            "kept_a": [kept[n][0] for n in names],
            "kept_b": [kept[n][1] for n in names],
            "reduction": "mean over positions",
            "chance_scores": None
            if chance_grid is None
            else chance_grid.scores.tolist(),
            "chance_of": f"net a against {_nets(len(labels))}, mean"
            if labels
            else None,
        },
        "rows": rows_are[0],
        "rows_in_tables": rows_are[2],
        "dead_units": dead,
        "warnings": notes,
    }
    results["chance"] = _chance(results)
    results["summary"] = _summary_checks(results) if baselines else None
    results["description"] = list(description)
    _write_outputs(output, results, matchers, spectra, grid, data)
    _report(results, output, log)
    return results


#: How each extractor reduction makes rows: (in titles, in progress lines,
#: in the printed tables).
_ROWS = {
    "positions": (
        "every position a sample",
        "every spatial position a row",
        "every spatial position a sample",
    ),
    "mean": (
        "one row per input: mean over positions",
        "per-input means",
        "per-input means (mean over positions)",
    ),
    "flatten": (
        "one row per input: flattened outputs",
        "flattened, one row per input",
        "one flattened row per input",
    ),
}


def _spread(values):
    return {
        "mean": float(np.mean(values)),
        "range": [float(np.min(values)), float(np.max(values))],
    }


def _chance(results):
    """Mean and range over the baseline networks of every a~baseline score."""
    pairs = [f"a~{label}" for label in results["baselines"]]
    if not pairs:
        return None
    matching, cca = {}, {}
    for name in results["layers"]:
        for method in ("semi-matching", "matching"):
            rows = [
                r for r in results["matching"]
                if r["layer"] == name and r["method"] == method and r["pair"] in pairs
            ]  # fmt: skip
            matching[f"{name}/{method}"] = {
                value: _spread([r[value] for r in rows])
                for value in ("fit_mean", "held_out_mean")
            }
        rows = [r for r in results["cca"] if r["layer"] == name and r["pair"] in pairs]
        cca[name] = {
            value: _spread([r[value] for r in rows])
            for value in (
                "svcca_in_sample", "svcca_held_out", "pwcca_in_sample",
                "pwcca_held_out", "svcca_kept_other", "pwcca_kept_other",
            )
        }  # fmt: skip
    return {"pairs": pairs, "matching": matching, "cca": cca}


def _summarise_warnings(captured):
    """Group the warnings of an analysis into a few counted kinds."""
    kinds = Counter()
    for w in captured:
        message = str(w.message)
        if "constant" in message or "dead" in message:
            kinds["dead (constant) units were dropped or scored 0 (counts above)"] += 1
        elif "converge" in message:
            kinds["coordinate descent stopped at max_iter for some units"] += 1
        elif "off-centre" in message:
            kinds[
                "bootstrap distribution off-centre (in-sample CCA bias; see "
                "skrep.inference.bootstrap_interval)"
            ] += 1
        elif "More units than samples" in message:
            kinds["more units than samples: in-sample CCA trivially 1"] += 1
        else:
            kinds[f"{type(w.message).__name__}: {message[:120]}"] += 1
    return dict(kinds)


def _write_csv(path, rows):
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _write_outputs(output, results, matchers, spectra, grid, data):
    (output / "results.json").write_text(json.dumps(results, indent=2))
    _write_csv(output / "matching.csv", results["matching"])
    _write_csv(output / "cca.csv", results["cca"])
    sparse = results["sparse_prediction"]
    _write_csv(
        output / "sparse_prediction.csv",
        [
            {
                "layer": name,
                "live_units_b": sparse["live_units"][name][0],
                "units_b": sparse["live_units"][name][1],
                **{f"decay={d:g}": v for d, v in zip(sparse["decays"], losses)},
            }
            for name, losses in sparse["held_out_loss"].items()
        ],
    )
    grid_results = results["svcca_layer_grid"]
    _write_csv(
        output / "svcca_layer_grid.csv",
        [
            {"layer_a": a, "kept_a": k, **dict(zip(grid.layers_b, row))}
            for a, k, row in zip(grid.layers_a, grid_results["kept_a"], grid.scores)
        ]
        + [{"layer_a": "kept_b", **dict(zip(grid.layers_b, grid_results["kept_b"]))}],
    )
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - the plot extra is optional
        return
    matplotlib.use("Agg")
    _figures(output, results, matchers, spectra, grid, data)


def _chance_label(pairs):
    return pairs[0] if len(pairs) == 1 else f"net a~untrained ({len(pairs)} nets)"


def _figures(output, results, matchers, spectra, grid, data):
    import matplotlib.pyplot as plt

    from skrep.plotting import (
        plot_canonical_correlations,
        plot_correlation_matrix,
        plot_layer_similarity,
        plot_loss_vs_decay,
    )

    fit_data, held_out_data = data
    # unit correlations, natural and matched order, one shared colour bar
    fig, axes = plt.subplots(
        len(matchers), 2, figsize=(8.5, 3.9 * len(matchers)), layout="constrained",
        squeeze=False,
    )  # fmt: skip
    for row, (name, matcher) in zip(axes, matchers.items()):
        for ax, match, order in ((row[0], None, "natural"),
                                 (row[1], matcher.match_, "matched")):  # fmt: skip
            plot_correlation_matrix(
                matcher.correlation_, match, ax=ax, x_dead=matcher.x_constant_,
                y_dead=matcher.y_constant_, names=("net a", "net b"),
                title=f"{name}: {order} order", colorbar=False,
            )  # fmt: skip
    fig.colorbar(
        axes[0, 0].images[0], ax=axes, shrink=0.4, location="right",
        label="Pearson correlation of unit a with unit b",
    )  # fmt: skip
    fig.suptitle(
        "Unit correlations between nets a and b, in-sample "
        f"({fit_data}, {results['rows']})\n"
        "matched order: one-to-one matching (Li et al. 2016), best pairs first; "
        "ticks are unit ids",
        fontsize=10,
    )
    fig.savefig(output / "correlation_matrices.png", dpi=90)
    plt.close(fig)

    # layer x layer SVCCA with the kept directions, beside its chance level
    grid_results = results["svcca_layer_grid"]
    chance_scores = grid_results["chance_scores"]
    fig, axes = plt.subplots(
        1, 1 if chance_scores is None else 2, figsize=(6.4 if chance_scores is None
                                                       else 11.5, 5.6),
        squeeze=False,
    )  # fmt: skip
    ax = plot_layer_similarity(
        grid,
        ax=axes[0, 0],
        kept=(grid_results["kept_a"], grid_results["kept_b"]),
        title="nets a~b; each cell the mean over its canonical pairs\n"
        "(the fewer SVD directions kept of the two layers)",
        colorbar=False,
    )
    ax.set_ylabel("net a layer (SVD directions kept)")
    ax.set_xlabel("net b layer (SVD directions kept)")
    if chance_scores is not None:
        chance = plot_layer_similarity(
            dataclasses.replace(grid, scores=np.asarray(chance_scores)),
            ax=axes[0, 1],
            title=f"chance: {grid_results['chance_of']}\n"
            "(same layers of net a; untrained nets in the columns)",
            colorbar=False,
        )
        chance.set_ylabel("")
        chance.set_xlabel("untrained net layer")
    for panel in axes.ravel():
        panel.title.set_fontsize(9)
    fig.colorbar(
        ax.images[0], ax=axes, shrink=0.8, label="SVCCA similarity"
    )  # fmt: skip
    fig.suptitle(
        f"SVCCA (99% variance) of per-image means, held-out: fitted on {fit_data}, "
        f"scored on {held_out_data}",
        fontsize=10,
    )
    fig.savefig(output / "svcca_layer_grid.png", dpi=90)
    plt.close(fig)

    # sparse prediction loss against decay (0.5 is the chance level)
    sparse = results["sparse_prediction"]
    ax = plot_loss_vs_decay(
        sparse["decays"],
        {
            f"{name} ({sparse['live_units'][name][0]} of "
            f"{sparse['live_units'][name][1]} live)": losses
            for name, losses in sparse["held_out_loss"].items()
        },
        title=f"Sparse prediction of net b's units from net a's, held-out\n"
        f"(fitted on {fit_data}, scored on {held_out_data}); "
        "loss over net b's live units",
    )
    ax.figure.set_size_inches(6.4, 4.6)
    ax.title.set_fontsize(9)
    ax.figure.savefig(output / "sparse_loss_vs_decay.png", dpi=90)
    plt.close(ax.figure)

    # canonical correlation spectra, a~b against the untrained baselines
    layers = results["layers"]
    baselines = [f"a~{label}" for label in results["baselines"]]
    fig, axes = plt.subplots(
        1, len(layers), figsize=(2.9 * len(layers), 3.4), layout="constrained",
        squeeze=False, sharey=True,
    )  # fmt: skip
    rows = {(r["layer"], r["pair"]): r for r in results["cca"]}
    for ax, name in zip(axes[0], layers):
        kept = rows[name, "a~b"]
        plot_canonical_correlations(
            {"a~b": spectra[name, "a~b"]},
            ax=ax,
            baseline={
                (_chance_label(baselines) if i == 0 else pair): spectra[name, pair]
                for i, pair in enumerate(baselines)
            },
            title=f"{name}: kept a {kept['svcca_kept_a']}, "
            f"b {kept['svcca_kept_other']}",
        )
        ax.title.set_fontsize(9)
        if ax is not axes[0, 0]:
            ax.set_ylabel("")
    fig.suptitle(
        f"SVCCA canonical correlations, in-sample ({fit_data}, {results['rows']}): "
        "nets a~b"
        + (", dashed grey: net a against untrained nets (chance)" if baselines else ""),
        fontsize=10,
    )
    fig.savefig(output / "canonical_correlations.png", dpi=90)
    plt.close(fig)


def _table(rows, columns, log):
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    log("  ".join(f"{c:>{w}}" for c, w in zip(columns, widths)))
    for r in rows:
        log("  ".join(f"{_fmt(r.get(c)):>{w}}" for c, w in zip(columns, widths)))


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = value
        if isinstance(low, float):
            return f"[{low:.3f},{high:.3f}]"
        return str(low) if low == high else f"{low}-{high}"
    return str(value)


def _above(interval_or_value, chance_range):
    """Whether a score (or the low end of its interval) exceeds the chance range."""
    low = (
        interval_or_value[0]
        if isinstance(interval_or_value, list)
        else (interval_or_value)
    )
    return low > chance_range[1]


def _report(results, output, log):
    chance = results["chance"]
    n_chance = len(chance["pairs"]) if chance else 0
    with_ci = results["bootstrap"] is not None
    by_pair = {(r["layer"], r["method"], r["pair"]): r for r in results["matching"]}
    log("\nUnit matching (Li et al. 2016): mean correlation of paired units")
    log("  fit = on the fitting inputs, held_out = the same pairs on held-out ones")
    if chance:
        log(f"  chance = net a against {_nets(n_chance)}: mean and [min,max]")
    rows = []
    for name in results["layers"]:
        for method in ("semi-matching", "matching"):
            ab = by_pair[name, method, "a~b"]
            row = {
                "layer": name,
                "method": method,
                "overlap": ab["overlap"],
                "a~b_fit": ab["fit_mean"],
                "a~b_held_out": ab["held_out_mean"],
            }
            if chance:
                spread = chance["matching"][f"{name}/{method}"]
                row |= {
                    "chance_fit": spread["fit_mean"]["mean"],
                    "chance_fit_range": spread["fit_mean"]["range"],
                    "chance_held_out": spread["held_out_mean"]["mean"],
                    "chance_held_out_range": spread["held_out_mean"]["range"],
                }
            rows.append(row)
    columns = ["layer", "method", "overlap", "a~b_fit", "a~b_held_out"]
    if chance:
        columns += ["chance_fit", "chance_fit_range", "chance_held_out",
                    "chance_held_out_range"]  # fmt: skip
    _table(rows, columns, log)

    sparse = results["sparse_prediction"]
    log("\nSparse prediction of net b's units from net a's (held-out loss, averaged")
    log("  over net b's live units; 0.5 = no better than the mean, as in Li et al.")
    log("  2016, Table 1; columns: L1 decay)")
    rows = [
        {
            "layer": n,
            "live_b": "{}/{}".format(*sparse["live_units"][n]),
            **{f"{d:g}": v for d, v in zip(sparse["decays"], losses)},
        }
        for n, losses in sparse["held_out_loss"].items()
    ]
    _table(rows, ["layer", "live_b"] + [f"{d:g}" for d in sparse["decays"]], log)

    log("\nSVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018), corresponding")
    log(f"  layers, {results['rows_in_tables']}; fit = in-sample, held_out =")
    log("  directions from the fit scored on held-out inputs; kept = SVD directions")
    log("  kept (SVCCA: 99% of the variance; PWCCA: all non-null)")
    if with_ci:
        log(
            f"  a~b_fit_95% = 95% bootstrap interval of the SVCCA fit "
            f"({results['bootstrap']['n_resamples']} resamples"
        )
        log("  of whole images; not computed for PWCCA, to keep the run short)")
    if chance:
        log(f"  chance = net a against {_nets(n_chance)}: mean and [min,max]")
    rows = []
    by_pair = {(r["layer"], r["pair"]): r for r in results["cca"]}
    for name in results["layers"]:
        ab = by_pair[name, "a~b"]
        for key in ("svcca", "pwcca"):
            row = {
                "layer": name,
                "measure": key.upper(),
                "kept_a": ab[f"{key}_kept_a"],
                "kept_b": ab[f"{key}_kept_other"],
                "a~b_fit": ab[f"{key}_in_sample"],
                "a~b_fit_95%": (
                    _interval_or_value(ab, f"{key}_in_sample")
                    if f"{key}_in_sample_ci_low" in ab
                    else None
                ),
                "a~b_held_out": ab[f"{key}_held_out"],
            }
            if chance:
                spread = chance["cca"][name]
                kept = [int(k) for k in spread[f"{key}_kept_other"]["range"]]
                row |= {
                    "kept_chance": kept,
                    "chance_fit": spread[f"{key}_in_sample"]["mean"],
                    "chance_fit_range": spread[f"{key}_in_sample"]["range"],
                    "chance_held_out": spread[f"{key}_held_out"]["mean"],
                    "chance_held_out_range": spread[f"{key}_held_out"]["range"],
                }
            rows.append(row)
    columns = ["layer", "measure", "kept_a", "kept_b", "a~b_fit"]
    columns += ["a~b_fit_95%"] * with_ci + ["a~b_held_out"]
    if chance:
        columns += ["kept_chance", "chance_fit", "chance_fit_range",
                    "chance_held_out", "chance_held_out_range"]  # fmt: skip
    _table(rows, columns, log)

    grid = results["svcca_layer_grid"]
    log(
        f"\nLayer x layer SVCCA ({grid['evaluation']}, per-image means; rows net a,"
        " columns net b;"
    )
    log("  kept = SVD directions kept; a cell averages min(kept_a, kept_b) pairs)")
    grid_rows = [
        {"": a, **dict(zip(grid["layers_b"], row)), "kept_a": k}
        for a, row, k in zip(grid["layers_a"], grid["scores"], grid["kept_a"])
    ]
    grid_rows.append({"": "kept_b", **dict(zip(grid["layers_b"], grid["kept_b"]))})
    _table(grid_rows, ["", *grid["layers_b"], "kept_a"], log)
    if grid["chance_scores"] is not None:
        log(
            f"\nThe same grid for net a against each untrained net (chance; "
            f"{grid['chance_of']}):"
        )
        _table(
            [
                {"": a, **dict(zip(grid["layers_b"], row))}
                for a, row in zip(grid["layers_a"], grid["chance_scores"])
            ],
            ["", *grid["layers_b"]],
            log,
        )

    log("\nDead (constant) units on the fitting inputs, per network")
    dead_rows = []
    for row in results["dead_units"]:
        dead_row = {
            "layer": row["layer"],
            "dead_a": row["dead_units_a"],
            "dead_b": row["dead_units_b"],
            "units_a": row["units_a"],
            "units_b": row["units_b"],
        }
        if chance:
            dead_row["dead_chance"] = "/".join(
                str(row[f"dead_units_{label}"]) for label in results["baselines"]
            )
        dead_rows.append(dead_row)
    _table(
        dead_rows,
        ["layer", "dead_a", "dead_b"] + ["dead_chance"] * bool(chance)
        + ["units_a", "units_b"],
        log,
    )  # fmt: skip
    if results["warnings"]:
        log("\nWarnings raised during the analysis (count x kind):")
        for message, count in results["warnings"].items():
            log(f"  {count} x {message}")
    if chance:
        _summary(results, log)


def _nets(n):
    return "1 untrained net" if n == 1 else f"{n} untrained nets"


def _interval_or_value(row, column):
    """Return the 95% interval of ``column`` where computed, else its value."""
    if f"{column}_ci_low" in row:
        return [row[f"{column}_ci_low"], row[f"{column}_ci_high"]]
    return row[column]


def _summary_checks(results):
    """For each score, which layers' a~b lies above the whole chance range."""
    chance = results["chance"]
    matching = {(r["layer"], r["method"], r["pair"]): r for r in results["matching"]}
    cca = {(r["layer"], r["pair"]): r for r in results["cca"]}
    checks = {}
    for method in ("semi-matching", "matching"):
        for value, label in (("fit_mean", "fit"), ("held_out_mean", "held-out")):
            checks[f"{method} {label}"] = {
                name: _above(
                    _interval_or_value(matching[name, method, "a~b"], value),
                    chance["matching"][f"{name}/{method}"][value]["range"],
                )
                for name in results["layers"]
            }
    for key in ("svcca", "pwcca"):
        for value, label in (("in_sample", "fit"), ("held_out", "held-out")):
            column = f"{key}_{value}"
            checks[f"{key.upper()} {label}"] = {
                name: _above(
                    _interval_or_value(cca[name, "a~b"], column),
                    chance["cca"][name][column]["range"],
                )
                for name in results["layers"]
            }
    return checks


def _summary(results, log):
    with_ci = results["bootstrap"] is not None
    log("\nSummary: where does a~b lie above every untrained net (chance_range)?")
    for line in results.get("description", ()):
        log(f"  {line}")
    if with_ci:
        boot = results["bootstrap"]
        log(
            "  SVCCA fit: a~b is taken at the low end of its 95% interval "
            f"({boot['n_resamples']} bootstrap"
        )
        log(
            "  resamples of whole images; the interval covers the choice of "
            "images, not of seeds)"
        )
    checks = results["summary"]
    width = max(len(label) for label in checks)
    for label, above in checks.items():
        yes = [name for name, is_above in above.items() if is_above]
        no = [name for name, is_above in above.items() if not is_above]
        text = "every layer" if not no else (", ".join(yes) or "no layer")
        if no and yes:
            text += f"; not {', '.join(no)}"
        log(f"  {label:<{width}}  above at: {text}")


def run_demo(
    *,
    output_dir="skrep-output",
    seeds=(0, 1),
    untrained_seeds=None,
    device=None,
    quick=False,
    epochs=None,
    n_resamples=None,
    log=print,
):
    """Train two digits CNNs with different seeds and compare them.

    Parameters
    ----------
    output_dir : str or Path, default="skrep-output"
        Where tables and figures go.
    seeds : (int, int), default=(0, 1)
        Seeds of the two trained networks.
    untrained_seeds : sequence of int, default=None
        Seeds of the untrained networks that give the chance level, distinct
        from ``seeds``; None gives three, from ``max(1000, max(seeds) + 1)``.
    device : str, default=None
        Device for training-free forward passes (training runs on the CPU).
    quick : bool, default=False
        Fewer epochs and a narrower network, for a smoke run in seconds.
    epochs : int, default=None
        Training epochs (default 15, or 4 when quick).
    n_resamples : int, default=None
        Bootstrap resamples of the 95% intervals (default
        :data:`N_RESAMPLES`, or :data:`N_RESAMPLES_QUICK` when quick).
    log : callable, default=print
        Receives the report, line by line.

    Returns
    -------
    results : dict
        As :func:`analyse_networks`, plus the networks' test accuracies.
    """
    seeds = tuple(int(seed) for seed in seeds)
    if untrained_seeds is None:
        first = max(1000, max(seeds) + 1)
        untrained_seeds = (first, first + 1, first + 2)
    untrained_seeds = tuple(int(seed) for seed in untrained_seeds)
    if len(seeds) != 2 or seeds[0] == seeds[1]:
        raise ValueError(f"seeds must be two different integers; got {seeds}.")
    if (
        not untrained_seeds
        or set(untrained_seeds) & set(seeds)
        or len(set(untrained_seeds)) != len(untrained_seeds)
    ):
        raise ValueError(
            "untrained_seeds must be distinct integers, none of them a seed of "
            f"the trained networks {seeds}; got {untrained_seeds}."
        )
    if n_resamples is None:
        n_resamples = N_RESAMPLES_QUICK if quick else N_RESAMPLES
    with _one_thread():
        return _run_demo(
            output_dir, seeds, untrained_seeds, device, quick, epochs, n_resamples,
            log,
        )  # fmt: skip


@contextmanager
def _one_thread():
    """Run torch and BLAS on one thread, restoring both afterwards.

    The demo's problems are small; on a busy 2-core machine extra threads
    only contend (training was measured 60x slower on two threads).
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def _run_demo(output_dir, seeds, untrained_seeds, device, quick, epochs, n_resamples,
              log):  # fmt: skip
    import torch

    from skrep.datasets import load_digits_images
    from skrep.torch import DIGITS_LAYERS, train_digits_cnn

    progress = _Progress(11 if n_resamples else 10, stream=log)
    data = load_digits_images()
    epochs = (4 if quick else 15) if epochs is None else epochs
    width = 8 if quick else 16
    untrained = ", ".join(map(str, untrained_seeds))
    log(
        f"skrep demo: two CNNs (width {width}, {epochs} epochs, seeds "
        f"{seeds[0]} and {seeds[1]}) on scikit-learn's digits, "
        f"{len(data.X_train)} training / {len(data.X_test)} held-out images;"
    )
    log(f"  chance level: {len(untrained_seeds)} untrained CNNs (seeds {untrained})")
    nets, accuracy = [], {}
    for label, seed in zip(("a", "b"), seeds):
        progress(f"training net {label} (seed {seed}) ...")
        net = train_digits_cnn(
            data.X_train, data.y_train, seed=seed, width=width, epochs=epochs
        )
        with torch.inference_mode():
            predicted = net(torch.as_tensor(data.X_test)).argmax(1).numpy()
        accuracy[label] = float(np.mean(predicted == data.y_test))
        nets.append(net)
        log(f"      net {label}: held-out accuracy {accuracy[label]:.3f}")
    progress(f"initialising the untrained nets (seeds {untrained}) ...")
    baselines = [
        train_digits_cnn(data.X_train, data.y_train, seed=s, width=width, epochs=0)
        for s in untrained_seeds
    ]
    description = [
        f"trained seeds {seeds[0]} (net a) and {seeds[1]} (net b); untrained "
        f"seeds {untrained}",
    ]
    results = analyse_networks(
        nets[0],
        nets[1],
        data.X_train,
        data.X_test,
        list(DIGITS_LAYERS),
        baseline=baselines,
        baseline_labels=[f"untrained{s}" for s in untrained_seeds],
        output_dir=output_dir,
        device=device,
        n_resamples=n_resamples,
        data=("training digits", "held-out digits"),
        description=description,
        log=log,
        progress=progress,
    )
    results["accuracy"] = accuracy
    results["seeds"] = {"trained": list(seeds), "untrained": list(untrained_seeds)}
    (Path(output_dir) / "results.json").write_text(json.dumps(results, indent=2))
    progress(
        f"done: {progress.elapsed():.1f} s for the whole run, from process start, "
        "figures included"
    )
    log(f"Tables (CSV, JSON) and figures (PNG) are in {Path(output_dir).resolve()}")
    return results
