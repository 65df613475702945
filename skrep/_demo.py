"""The main job: compare two networks layer by layer, end to end.

Used by ``python -m skrep`` (and the ``skrep`` console script). The analysis
(:func:`analyse_networks`) takes any two torch models and inputs; the demo
(:func:`run_demo`) first trains two small CNNs on scikit-learn's digits with
different seeds, plus an untrained network as the chance baseline.
"""

from __future__ import annotations

import csv
import json
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

#: The sparse-prediction decays of Li et al. (2016), Table 1.
DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


class _Progress:
    """Numbered progress lines with the time spent so far."""

    def __init__(self, total, stream=print):
        self.total, self.step, self.start, self.stream = total, 0, time.time(), stream

    def __call__(self, message):
        self.step += 1
        elapsed = time.time() - self.start
        self.stream(f"[{self.step}/{self.total} {elapsed:5.1f}s] {message}")


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


def _matching_rows(layer, acts_a, acts_b, label):
    rows = []
    for method in ("semi-matching", "matching"):
        matcher = UnitMatcher(method=method).fit(acts_a[0], acts_b[0])
        rows.append(
            {
                "layer": layer,
                "pair": label,
                "method": method,
                "fit_mean": matcher.semi_matching_mean_
                if method == "semi-matching"
                else matcher.matching_mean_,
                "held_out_mean": matcher.score(acts_a[1], acts_b[1]),
                "overlap": matcher.overlap_,
            }
        )
    return rows, matcher


def analyse_networks(
    net_a,
    net_b,
    images_train,
    images_test,
    layers,
    *,
    baseline=None,
    output_dir="skrep-output",
    device=None,
    decays=DECAYS,
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
    baseline : torch.nn.Module, default=None
        A reference network (e.g. untrained) compared with ``net_a`` the
        same way, as the chance level.
    output_dir : str or Path, default="skrep-output"
        Where CSV, JSON and PNG files go (created).
    device : str, default=None
        Device for the forward passes.
    decays : sequence of float, default=DECAYS
        L1 decays of the sparse-prediction table.
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
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    pairs = [(p, p) if isinstance(p, str) else tuple(p) for p in layers]
    names = [a if a == b else f"{a}~{b}" for a, b in pairs]
    nets = {"a": net_a, "b": net_b}
    if baseline is not None:
        nets["baseline"] = baseline

    progress("extracting activations (every spatial position a row) ...")
    acts = {}  # acts[(net, layer, reduction)] = (train, test)
    for key, net in nets.items():
        layer_names = [a if key != "b" else b for a, b in pairs]
        train, test = (
            extract_layers(
                net, layer_names, images, reduction="positions", device=device
            )
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

    with warnings.catch_warnings(record=True) as captured:
        warnings.simplefilter("always")
        progress("unit matching (Li et al. 2016) ...")
        matching, matchers = [], {}
        for name in names:
            for other, label in (("b", "a~b"), ("baseline", "a~baseline")):
                if other not in nets:
                    continue
                rows, matcher = _matching_rows(
                    name,
                    acts["a", name, "positions"],
                    acts[other, name, "positions"],
                    label,
                )
                matching += rows
                if other == "b":
                    matchers[name] = matcher  # the one-to-one matching

        progress("sparse prediction of net b from net a over the decay grid ...")
        sparse = {}
        for name in names:
            (xa, xa_test), (xb, xb_test) = (
                acts["a", name, "positions"],
                acts["b", name, "positions"],
            )
            sparse[name] = [
                SparseLayerPredictor(decay=decay)
                .fit(xa, xb)
                .prediction_loss(xa_test, xb_test)
                for decay in decays
            ]

        progress("SVCCA and PWCCA between corresponding layers, held-out ...")
        cca_rows, spectra = [], {}
        for name in names:
            for other, label in (("b", "a~b"), ("baseline", "a~baseline")):
                if other not in nets:
                    continue
                (xa, xa_test), (xo, xo_test) = (
                    acts["a", name, "positions"],
                    acts[other, name, "positions"],
                )
                row = {"layer": name, "pair": label}
                for est in (SVCCA(), PWCCA()):
                    est.fit(xa, xo)
                    key = type(est).__name__.lower()
                    row[f"{key}_in_sample"] = est.score(xa, xo)
                    row[f"{key}_held_out"] = est.score(xa_test, xo_test)
                    if label == "a~b" and key == "svcca":
                        spectra[name] = est.canonical_correlations_
                cca_rows.append(row)

        progress("layer x layer SVCCA grid (mean over positions), held-out ...")
        train_a = {n: acts["a", n, "mean"][0] for n in names}
        train_b = {n: acts["b", n, "mean"][0] for n in names}
        test_a = {n: acts["a", n, "mean"][1] for n in names}
        test_b = {n: acts["b", n, "mean"][1] for n in names}
        grid = compare_layers(
            train_a, train_b, SVCCA(), test=(test_a, test_b), n_jobs=None
        )
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
            "units": acts["a", name, "positions"][0].shape[1],
        }
        for name in names
    ]

    progress("writing tables and figures ...")
    results = {
        "layers": names,
        "matching": matching,
        "sparse_prediction": {
            "decays": list(decays),
            "held_out_loss": {n: [float(v) for v in sparse[n]] for n in names},
        },
        "cca": cca_rows,
        "svcca_layer_grid": grid.to_dict(),
        "dead_units": dead,
        "warnings": notes,
    }
    _write_outputs(output, results, matchers, spectra, grid)
    _report(results, output, log)
    return results


def _summarise_warnings(captured):
    """Group the warnings of an analysis into a few counted kinds."""
    kinds = Counter()
    for w in captured:
        message = str(w.message)
        if "constant" in message or "dead" in message:
            kinds["dead (constant) units were dropped or scored 0 (counts above)"] += 1
        elif "converge" in message:
            kinds["coordinate descent stopped at max_iter for some units"] += 1
        elif "More units than samples" in message:
            kinds["more units than samples: in-sample CCA trivially 1"] += 1
        else:
            kinds[f"{type(w.message).__name__}: {message[:120]}"] += 1
    return dict(kinds)


def _write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_outputs(output, results, matchers, spectra, grid):
    (output / "results.json").write_text(json.dumps(results, indent=2))
    _write_csv(output / "matching.csv", results["matching"])
    _write_csv(output / "cca.csv", results["cca"])
    sparse = results["sparse_prediction"]
    _write_csv(
        output / "sparse_prediction.csv",
        [
            {
                "layer": name,
                **{f"decay={d:g}": v for d, v in zip(sparse["decays"], losses)},
            }
            for name, losses in sparse["held_out_loss"].items()
        ],
    )
    _write_csv(
        output / "svcca_layer_grid.csv",
        [
            {"layer_a": a, **dict(zip(grid.layers_b, row))}
            for a, row in zip(grid.layers_a, grid.scores)
        ],
    )
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - the plot extra is optional
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skrep.plotting import (
        plot_canonical_correlations,
        plot_correlation_matrix,
        plot_layer_similarity,
        plot_loss_vs_decay,
    )

    fig, axes = plt.subplots(
        len(matchers), 2, figsize=(8, 3.6 * len(matchers)), layout="constrained",
        squeeze=False,
    )  # fmt: skip
    for row, (name, matcher) in zip(axes, matchers.items()):
        plot_correlation_matrix(matcher.correlation_, ax=row[0])
        plot_correlation_matrix(matcher.correlation_, matcher.match_, ax=row[1])
        row[0].set_title(f"{name}: natural order")
        row[1].set_title(f"{name}: matched order")
    fig.savefig(output / "correlation_matrices.png", dpi=90)
    plt.close(fig)
    for filename, draw in (
        ("svcca_layer_grid.png", lambda: plot_layer_similarity(grid)),
        (
            "sparse_loss_vs_decay.png",
            lambda: plot_loss_vs_decay(sparse["decays"], sparse["held_out_loss"]),
        ),
        ("canonical_correlations.png", lambda: plot_canonical_correlations(spectra)),
    ):
        ax = draw()
        ax.figure.savefig(output / filename, dpi=90)
        plt.close(ax.figure)


def _table(rows, columns, log):
    widths = [max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in columns]
    log("  ".join(f"{c:>{w}}" for c, w in zip(columns, widths)))
    for r in rows:
        log("  ".join(f"{_fmt(r[c]):>{w}}" for c, w in zip(columns, widths)))


def _fmt(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _report(results, output, log):
    log("\nUnit matching (Li et al. 2016): mean correlation of paired units")
    log("  fit = on the training images, held_out = same pairs on test images")
    _table(
        results["matching"],
        ["layer", "pair", "method", "fit_mean", "held_out_mean", "overlap"],
        log,
    )
    log("\nSparse prediction of net b's units from net a's (held-out loss;")
    log("  0.5 = no better than the mean, as in Li et al. 2016, Table 1)")
    sparse = results["sparse_prediction"]
    rows = [
        {"layer": n, **{f"{d:g}": v for d, v in zip(sparse["decays"], losses)}}
        for n, losses in sparse["held_out_loss"].items()
    ]
    _table(rows, ["layer"] + [f"{d:g}" for d in sparse["decays"]], log)
    log("\nSVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018),")
    log("  corresponding layers, every spatial position a sample")
    _table(
        results["cca"],
        ["layer", "pair", "svcca_in_sample", "svcca_held_out", "pwcca_in_sample",
         "pwcca_held_out"],
        log,
    )  # fmt: skip
    grid = results["svcca_layer_grid"]
    log(f"\nLayer x layer SVCCA ({grid['evaluation']}; rows net a, columns net b)")
    _table(
        [
            {"": a, **dict(zip(grid["layers_b"], row))}
            for a, row in zip(grid["layers_a"], grid["scores"])
        ],
        [""] + grid["layers_b"],
        log,
    )
    log("\nDead (constant) units on the training inputs, per network")
    _table(results["dead_units"], list(results["dead_units"][0]), log)
    if results["warnings"]:
        log("\nWarnings raised during the analysis (count x kind):")
        for message, count in results["warnings"].items():
            log(f"  {count} x {message}")
    log(f"\nTables (CSV, JSON) and figures (PNG) are in {output.resolve()}")


def run_demo(
    *,
    output_dir="skrep-output",
    seeds=(0, 1),
    device=None,
    quick=False,
    epochs=None,
    log=print,
):
    """Train two digits CNNs with different seeds and compare them.

    Parameters
    ----------
    output_dir : str or Path, default="skrep-output"
        Where tables and figures go.
    seeds : (int, int), default=(0, 1)
        Seeds of the two trained networks; the untrained baseline uses
        ``seeds[1] + 1000``.
    device : str, default=None
        Device for training-free forward passes (training runs on the CPU).
    quick : bool, default=False
        Fewer epochs and a narrower network, for a smoke run in seconds.
    epochs : int, default=None
        Training epochs (default 15, or 4 when quick).
    log : callable, default=print
        Receives the report, line by line.

    Returns
    -------
    results : dict
        As :func:`analyse_networks`, plus the networks' test accuracies.
    """
    with _one_thread():
        return _run_demo(output_dir, seeds, device, quick, epochs, log)


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


def _run_demo(output_dir, seeds, device, quick, epochs, log):
    import torch

    from skrep.datasets import load_digits_images
    from skrep.torch import DIGITS_LAYERS, train_digits_cnn

    progress = _Progress(8, stream=log)
    data = load_digits_images()
    epochs = (4 if quick else 15) if epochs is None else epochs
    width = 8 if quick else 16
    log(
        f"skrep demo: two CNNs (width {width}, {epochs} epochs, seeds "
        f"{seeds[0]} and {seeds[1]}) on scikit-learn's digits, "
        f"{len(data.X_train)} training / {len(data.X_test)} held-out images"
    )
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
    baseline = train_digits_cnn(
        data.X_train, data.y_train, seed=seeds[1] + 1000, width=width, epochs=0
    )
    results = analyse_networks(
        nets[0],
        nets[1],
        data.X_train,
        data.X_test,
        list(DIGITS_LAYERS),
        baseline=baseline,
        output_dir=output_dir,
        device=device,
        log=log,
        progress=progress,
    )
    results["accuracy"] = accuracy
    (Path(output_dir) / "results.json").write_text(json.dumps(results, indent=2))
    return results
