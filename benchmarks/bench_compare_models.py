"""compare_models: throughput against a bare forward pass, and peak memory.

Two small CNNs for 8x8 digits (:class:`skrep.torch.DigitsCNN`, two seeds,
untrained) on scikit-learn's digits, repeated to the number of inputs asked.

**Throughput.** For each configuration, in the same process and in pairs
that alternate which runs first (best of ``--repeat``):

- *bare*: both models' forward passes over the same batches, under
  ``torch.inference_mode()``, nothing captured: the floor;
- *streamed*: :func:`skrep.torch.compare_models` (in-sample, SVCCA), which
  runs each batch through both models once and feeds every pair of layers'
  estimator with ``partial_fit``;
- *extract+compare*: ``TorchActivationExtractor.extract`` on each model,
  then :func:`skrep.compare_layers` on the activations in memory, the result
  that ``compare_models`` equals.

It prints inputs per second and the ratio streamed / bare (wall time).

**Memory.** One fresh process per row: the growth of RSS during the call
(Linux: the peak, VmHWM, reset through /proc/self/clear_refs after a warm-up
call; elsewhere the lifetime ru_maxrss, an upper bound), with glibc's mmap
threshold fixed so that freed blocks leave RSS. ``reduction="positions"``
(64 rows per image) on conv layers relu1 and relu2, the inputs served by a
Dataset that repeats the digits, so the inputs themselves take no memory
that grows. Rows: compare_models in-sample (SVCCA), held-out on a fixed
1,000-image test set, and extract + compare_layers, at ``--sizes`` inputs.
The target: from 5,000 to 40,000 inputs, compare_models' peak grows by
less than 64 MiB.

Run ``python benchmarks/bench_compare_models.py`` (``--quick`` for a smoke
run).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch.utils.data import Dataset

from skrep import SVCCA, compare_layers
from skrep.torch import (
    DIGITS_LAYERS,
    DigitsCNN,
    TorchActivationExtractor,
    compare_models,
)

CONFIGS = {
    # name: (layers, reduction)
    "positions, relu1-2": (["relu1", "relu2"], "positions"),
    "mean, 5 layers": (list(DIGITS_LAYERS), "mean"),
}


class Repeated(Dataset):
    """The first ``len(images)`` inputs, repeated to ``n``: n inputs, no n memory."""

    def __init__(self, images, n):
        self.images = images
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return self.images[index % len(self.images)]


def digits():
    images = load_digits().images.astype(np.float32)[:, None] / 16.0
    return torch.from_numpy(images)


def make_models(width):
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(DigitsCNN(width=width).eval())
    return models


def repeated_array(n):
    images = digits()
    return images[torch.arange(n) % len(images)].contiguous()


# --------------------------------------------------------------------------
# Throughput
# --------------------------------------------------------------------------


def bare(models, inputs, batch_size):
    with torch.inference_mode():
        for start in range(0, inputs.shape[0], batch_size):
            batch = inputs[start : start + batch_size]
            for model in models:
                model(batch)


def streamed(models, inputs, batch_size, layers, reduction):
    return compare_models(
        *models, inputs, layers, SVCCA(), reduction=reduction, batch_size=batch_size
    )


def extract_and_compare(models, inputs, batch_size, layers, reduction):
    acts = [
        TorchActivationExtractor(
            model, layers, reduction=reduction, batch_size=batch_size
        ).extract(inputs)
        for model in models
    ]
    return compare_layers(*acts, SVCCA())


def throughput(args):
    models = make_models(args.width)
    inputs = repeated_array(args.n_inputs)
    print(
        f"throughput: {args.n_inputs} inputs, batch {args.batch_size}, "
        f"DigitsCNN(width={args.width}) x 2, torch threads "
        f"{torch.get_num_threads()}, best of {args.repeat}"
    )
    header = (
        f"{'configuration':<20} {'bare /s':>9} {'streamed /s':>12} "
        f"{'extract+compare /s':>19} {'streamed/bare':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, (layers, reduction) in CONFIGS.items():
        runs = {
            "bare": lambda: bare(models, inputs, args.batch_size),
            "streamed": lambda: streamed(
                models, inputs, args.batch_size, layers, reduction
            ),
            "extract": lambda: extract_and_compare(
                models, inputs, args.batch_size, layers, reduction
            ),
        }
        runs["streamed"]()  # warm up (and check it runs)
        times = {key: [] for key in runs}
        order = list(runs)
        for repeat in range(args.repeat):
            for key in order if repeat % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                runs[key]()
                times[key].append(time.perf_counter() - start)
        best = {key: min(values) for key, values in times.items()}
        rate = {key: args.n_inputs / value for key, value in best.items()}
        print(
            f"{name:<20} {rate['bare']:>9.0f} {rate['streamed']:>12.0f} "
            f"{rate['extract']:>19.0f} {best['streamed'] / best['bare']:>13.2f}x"
        )


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


def _rss(field):
    """Return a /proc/self/status memory field in bytes (0 if unavailable)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0); return success."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return _rss("VmHWM") > 0
    except OSError:
        return False


MEMORY_RUNS = ("in-sample", "held-out", "extract+compare")


def memory_child(args):
    """Run one configuration once; print the peak RSS growth as JSON."""
    models = make_models(args.width)
    images = digits()
    test = images[:1000]
    layers = ["relu1", "relu2"]

    def run(n):
        inputs = Repeated(images, n)
        if args.memory_child == "extract+compare":
            return extract_and_compare(
                models, inputs, args.batch_size, layers, "positions"
            )
        return compare_models(
            *models, inputs, layers, SVCCA(), reduction="positions",
            batch_size=args.batch_size,
            test=test if args.memory_child == "held-out" else None,
        )  # fmt: skip

    run(2 * args.batch_size)  # warm up torch, the estimators, the allocator
    before = _rss("VmRSS")
    reset = _reset_peak_rss()
    start = time.perf_counter()
    run(args.n_inputs)
    seconds = time.perf_counter() - start
    if reset:
        peak = _rss("VmHWM")
    else:  # lifetime high-water mark: an upper bound only
        scale = 1 if sys.platform == "darwin" else 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    print(json.dumps({"growth": peak - before, "seconds": seconds, "reset": reset}))


def memory(args):
    mib = 2**20
    rows = 64  # positions per image at relu1 and relu2
    width = args.width
    print()
    print(
        f"peak memory, one fresh process per cell: RSS growth during the call, "
        f"MiB (reduction='positions', {rows} rows per image; extracting relu1 "
        f"and relu2 holds {rows * 3 * width * 4} bytes per image per model)"
    )
    header = (
        f"{'run':<16}" + "".join(f"{n:>12,}" for n in args.sizes) + (f"{'growth':>12}")
    )
    print(header)
    print("-" * len(header))
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    for name in MEMORY_RUNS:
        growth = []
        for n in args.sizes:
            command = [
                sys.executable, os.path.abspath(__file__), "--memory-child", name,
                "--n-inputs", str(n), "--batch-size", str(args.batch_size),
                "--width", str(args.width),
            ]  # fmt: skip
            result = subprocess.run(
                command, capture_output=True, text=True, env=env, check=False
            )
            if result.returncode != 0:
                raise RuntimeError(result.stderr[-2000:])
            growth.append(json.loads(result.stdout.splitlines()[-1])["growth"] / mib)
        print(
            f"{name:<16}"
            + "".join(f"{value:>12.1f}" for value in growth)
            + f"{growth[-1] - growth[0]:>+12.1f}"
        )
    print(
        f"target: compare_models grows by < 64 MiB from {args.sizes[0]:,} to "
        f"{args.sizes[-1]:,} inputs ({args.sizes[-1] / args.sizes[0]:.0f}x inputs)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-inputs", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs=2, default=[5000, 40000])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--memory-child", choices=MEMORY_RUNS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Untrained nets have dead units, and the estimators say so each time.
    warnings.simplefilter("ignore")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return
    if args.quick:
        args.n_inputs, args.repeat, args.width = 600, 1, 4
        args.sizes = [500, 2000]
    throughput(args)
    if not args.no_memory:
        memory(args)


if __name__ == "__main__":
    main()
