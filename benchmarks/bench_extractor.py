"""Speed and memory of TorchActivationExtractor against a bare inference loop.

A small CNN on CPU. For each configuration the script times
``TorchActivationExtractor.transform`` and a bare loop
``with torch.inference_mode(): model(batch)`` over the same array, in the
same process, in pairs that alternate which runs first, and reports images
per second and the overhead ratio (extractor time / bare time; the target is
below 1.10), in wall and in process CPU time.

Peak memory is measured in a fresh subprocess per configuration: the growth
of RSS during the call (Linux: VmHWM reset through /proc/self/clear_refs;
elsewhere the lifetime ru_maxrss, an upper bound), with glibc's mmap
threshold fixed so that freed blocks leave RSS, and the tracemalloc peak
(Python and numpy allocations only; torch's own CPU allocator is invisible
to tracemalloc). The output size is printed beside them, so "output plus one
batch" can be checked.

Run: ``python benchmarks/bench_extractor.py [--n-images 2048] [--threads 1]``
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch
from torch import nn

from skrep.torch import TorchActivationExtractor

CONFIGS = {
    # name: (layers, extractor parameters)
    "mean, 3 layers": (["1", "4", "10"], {"reduction": "mean"}),
    "max, 3 layers": (["1", "4", "10"], {"reduction": "max"}),
    "flatten conv2": (["4"], {"reduction": "flatten"}),
    "positions conv3": (["7"], {"reduction": "positions"}),
    "mean, memmap": (["1", "4", "10"], {"reduction": "mean", "max_memory": 0}),
}


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),  # 0
        nn.ReLU(inplace=True),  # 1
        nn.MaxPool2d(2),  # 2
        nn.Conv2d(32, 64, 3, padding=1),  # 3
        nn.ReLU(inplace=True),  # 4
        nn.MaxPool2d(2),  # 5
        nn.Conv2d(64, 128, 3, padding=1),  # 6
        nn.ReLU(inplace=True),  # 7
        nn.AdaptiveAvgPool2d(1),  # 8
        nn.Flatten(),  # 9
        nn.Linear(128, 10),  # 10
    ).eval()


def make_images(n_images):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n_images, 3, 32, 32), dtype=np.float32)


def bare_loop(model, images, batch_size):
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            model(torch.from_numpy(images[start : start + batch_size]))


def make_extractor(model, name, batch_size, memmap_dir):
    layers, params = CONFIGS[name]
    return TorchActivationExtractor(
        model, layers, batch_size=batch_size, memmap_dir=memmap_dir, **params
    )


def time_once(function):
    """Return (wall seconds, process CPU seconds, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def speed(args):
    model = make_model()
    images = make_images(args.n_images)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{os.cpu_count()} CPUs, load average {load:.1f} at start (other "
        "processes make these numbers noisy)"
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.n_images} images 3x32x32, batch_size={args.batch_size}; "
        f"{args.repeats} pairs (bare loop and transform, alternating which "
        "goes first) per row: img/s from the fastest run, ratio = median over "
        "pairs of transform / bare wall time"
    )
    print(
        "cpu ratio: the same with process CPU time, less sensitive to other processes"
    )
    header = (
        f"{'configuration':<18} {'bare img/s':>11} {'extractor img/s':>16} "
        f"{'ratio':>6} {'cpu ratio':>9} {'output':>14}"
    )
    print(header)
    print("-" * len(header))
    bare_loop(model, images[: args.batch_size], args.batch_size)  # warm up
    with tempfile.TemporaryDirectory() as folder:
        for name in CONFIGS:
            extractor = make_extractor(model, name, args.batch_size, folder)
            extractor.transform(images[: args.batch_size])  # warm up
            bare, extracted = [], []
            shape = None
            for repeat in range(args.repeats):
                # Alternate which runs first: the allocator's state after one
                # run favours the next one by a few percent.
                order = ("bare", "extractor") if repeat % 2 else ("extractor", "bare")
                for which in order:
                    if which == "bare":
                        *times, _ = time_once(
                            lambda: bare_loop(model, images, args.batch_size)
                        )
                        bare.append(times)
                    else:
                        *times, output = time_once(lambda: extractor.transform(images))
                        extracted.append(times)
                        shape = output.shape
                        del output
            ratio, cpu_ratio = (
                statistics.median(e[i] / b[i] for e, b in zip(extracted, bare))
                for i in (0, 1)
            )
            print(
                f"{name:<18} {args.n_images / min(b[0] for b in bare):>11.0f} "
                f"{args.n_images / min(e[0] for e in extracted):>16.0f} "
                f"{ratio:>6.3f} {cpu_ratio:>9.3f} {str(shape):>14}"
            )


def memory_child(args):
    """Run one configuration once; print peak memory as JSON."""
    model = make_model()
    images = make_images(args.n_images)
    for _ in range(2):  # warm up torch's allocator and the extractor's path
        bare_loop(model, images[: 2 * args.batch_size], args.batch_size)
        if args.memory_child != "bare":
            make_extractor(model, args.memory_child, args.batch_size, None).transform(
                images[: 2 * args.batch_size]
            )
    rss_before = _rss("VmRSS")
    hwm_reset = _reset_peak_rss()
    with tempfile.TemporaryDirectory() as folder:
        tracemalloc.start()
        if args.memory_child == "bare":
            bare_loop(model, images, args.batch_size)
            output_bytes = 0
        else:
            extractor = make_extractor(
                model, args.memory_child, args.batch_size, folder
            )
            output = extractor.transform(images)
            output_bytes = output.nbytes
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if hwm_reset:
        rss_peak = _rss("VmHWM")
    else:  # lifetime high-water mark: an upper bound only
        scale = 1 if sys.platform == "darwin" else 1024  # KiB on Linux
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    print(
        json.dumps(
            {
                "rss_before": rss_before,
                "rss_peak": rss_peak,
                "call_only": hwm_reset,
                "traced_peak": traced_peak,
                "output": output_bytes,
            }
        )
    )


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


def memory(args):
    mib = 2**20
    batch_input = args.batch_size * 3 * 32 * 32 * 4
    print()
    print(
        f"peak memory, one fresh process per row (input array "
        f"{args.n_images * 3 * 32 * 32 * 4 / mib:.1f} MiB, one input batch "
        f"{batch_input / mib:.2f} MiB)"
    )
    header = (
        f"{'configuration':<18} {'output MiB':>10} {'tracemalloc MiB':>16} "
        f"{'RSS growth MiB':>15} {'minus bare':>11}"
    )
    print(header)
    print("-" * len(header))
    bare_growth = None
    call_only = True
    # glibc keeps freed large blocks in its heap after raising its dynamic
    # mmap threshold, which makes RSS wander by tens of MiB from run to run;
    # a fixed threshold returns them to the OS at once, so RSS follows the
    # live memory.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    for name in ["bare", *CONFIGS]:
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--memory-child",
            name,
            "--n-images",
            str(args.n_images),
            "--batch-size",
            str(args.batch_size),
            "--threads",
            str(torch.get_num_threads()),
        ]
        result = json.loads(
            subprocess.run(
                command, check=True, capture_output=True, text=True, env=env
            ).stdout
        )
        growth = result["rss_peak"] - result["rss_before"]
        call_only &= result["call_only"]
        if bare_growth is None:
            bare_growth = growth
        print(
            f"{name:<18} {result['output'] / mib:>10.2f} "
            f"{result['traced_peak'] / mib:>16.2f} "
            f"{growth / mib:>15.1f} {(growth - bare_growth) / mib:>+11.1f}"
        )
    print(
        "RSS growth: peak RSS during the call minus RSS before it"
        + (
            " (VmHWM reset through /proc/self/clear_refs)."
            if call_only
            else " (lifetime ru_maxrss: an upper bound; /proc reset unavailable)."
        )
        + " Children run with MALLOC_MMAP_THRESHOLD_=65536 (glibc) so that "
        "freed blocks leave RSS."
        + "\nminus bare: the same for the bare loop subtracted (the forward's "
        "own transient memory).\nmemmap rows: the output is a file mapping; "
        "its written pages count in RSS but the kernel may drop them."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args)
        return
    if not args.no_speed:
        speed(args)
    if not args.no_memory:
        memory(args)


if __name__ == "__main__":
    main()
