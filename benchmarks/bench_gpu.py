"""SVCCA on torch tensors and compare_models, each against its floor, same run.

1. For each dtype, times ``SVCCA(svd_components=None).fit`` under
   ``sklearn.config_context(array_api_dispatch=True)`` on tensors of
   ``n x units`` per view, and, as the floor, the three products the fit
   cannot avoid (``X^T X``, ``Y^T Y``, ``X^T Y`` in float64, over the same
   blocks), on the same device. Prints the ratio fit / floor.
2. Times :func:`skrep.torch.compare_models` of two small conv nets (``units``
   channels, SVCCA on three layers, ``reduction="mean"`` over a 3 x 3 grid
   and ``"positions"`` on the diagonal, in-sample and held-out) against a
   bare forward pass of both models over the same inputs in the same
   batches, on the same device. Prints images per second and the ratio
   compare_models / forward passes.

Run on a CUDA machine::

    SCIPY_ARRAY_API=1 python benchmarks/bench_gpu.py --device cuda --n 1000000 \
        --units 2048

and on CPU with small sizes (a smoke test)::

    SCIPY_ARRAY_API=1 python benchmarks/bench_gpu.py --device cpu --n 20000 \
        --units 128
"""

import argparse
import os
import time

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import sklearn  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from skrep import SVCCA  # noqa: E402
from skrep._core.xp import _block_rows  # noqa: E402
from skrep.torch import compare_models  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best(fn, device, repeats):
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def _products(X, Y):
    """The floor: the three float64 products over the same row blocks."""
    n, p = X.shape
    step = _block_rows(p + Y.shape[1])
    xx = yy = xy = 0.0
    for start in range(0, n, step):
        Xb = X[start : start + step].to(torch.float64)
        Yb = Y[start : start + step].to(torch.float64)
        xx = xx + Xb.T @ Xb
        yy = yy + Yb.T @ Yb
        xy = xy + Xb.T @ Yb
    return xx, yy, xy


def _conv_net(seed, width, device):
    """16 x 16 RGB images; "1" and "3" are 16 x 16 maps, "6" 8 x 8."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),  # 0
        nn.ReLU(),  # 1
        nn.Conv2d(width, width, 3, padding=1),  # 2
        nn.ReLU(),  # 3
        nn.MaxPool2d(2),  # 4
        nn.Conv2d(width, width, 3, padding=1),  # 5
        nn.ReLU(),  # 6
        nn.AdaptiveAvgPool2d(1),  # 7
        nn.Flatten(),  # 8
        nn.Linear(width, 10),  # 9
    ).to(device)


def _forward_passes(models, batches, device):
    """The floor: each batch through both models, nothing else."""
    with torch.no_grad():
        for batch in batches:
            batch = batch.to(device)
            for model in models:
                model(batch)


def _bench_compare_models(args, device):
    n_images = args.images
    if n_images is None:
        n_images = max(min(args.n // 8, 100_000), 2)
    batch_size = 256
    gen = torch.Generator().manual_seed(1)
    inputs = torch.randn(n_images, 3, 16, 16, generator=gen)
    test = torch.randn(max(n_images // 4, 2), 3, 16, 16, generator=gen)
    net_a = _conv_net(0, args.units, device).eval()
    net_b = _conv_net(1, args.units, device).eval()
    print(
        f"compare_models, SVCCA, two conv nets of {args.units} channels, "
        f"{n_images} inputs (+{len(test)} held out) of 3 x 16 x 16, batches of "
        f"{batch_size}, against bare forward passes of both nets, same run"
    )
    cases = [
        ("mean, 3 x 3 grid", ["1", "3", "6"], "mean"),
        ("positions, diagonal", {"1": "1", "3": "3", "6": "6"}, "positions"),
    ]
    for label, layers, reduction in cases:
        for held_out in (None, test):
            seen = inputs if held_out is None else torch.cat([inputs, held_out])
            batches = [
                part
                for rows in (inputs, held_out)
                if rows is not None
                for part in rows.split(batch_size)
            ]

            def run(layers=layers, reduction=reduction, held_out=held_out):
                return compare_models(
                    net_a, net_b, inputs, layers, SVCCA(), test=held_out,
                    reduction=reduction, batch_size=batch_size, device=device,
                )  # fmt: skip

            run()  # warm-up
            floor = _best(
                lambda batches=batches: _forward_passes(
                    (net_a, net_b), batches, device
                ),
                device,
                args.repeats,
            )
            timed = _best(run, device, args.repeats)
            evaluation = "in-sample" if held_out is None else "held-out"
            print(
                f"{label:>20} {evaluation:>9}: compare_models {timed:7.3f} s "
                f"({len(seen) / timed:9.0f} images/s)   forward passes {floor:7.3f} s"
                f"   ratio {timed / floor:5.2f}x"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help="inputs of the compare_models part (default: min(n / 8, 100000))",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator(device=device).manual_seed(0)
    print(f"device={device} n={args.n} units={args.units} per view")
    print("SVCCA(svd_components=None) fit against its float64 products, same run")
    for dtype in (torch.float32, torch.float64):
        shape = (args.n, args.units)
        latent = torch.randn(args.n, 16, generator=gen, device=device, dtype=dtype)
        X = torch.randn(shape, generator=gen, device=device, dtype=dtype)
        Y = torch.randn(shape, generator=gen, device=device, dtype=dtype)
        X[:, :16] += latent
        Y[:, :16] += latent
        est = SVCCA(svd_components=None, algorithm="moments")

        def fit(est=est, X=X, Y=Y):
            with sklearn.config_context(array_api_dispatch=True):
                est.fit(X, Y)

        fit()  # warm-up (kernels, allocator)
        floor = _best(lambda X=X, Y=Y: _products(X, Y), device, args.repeats)
        fitted = _best(fit, device, args.repeats)
        top = float(est.canonical_correlations_[0])
        print(
            f"{str(dtype):>14}: fit {fitted:8.3f} s   products (floor) {floor:8.3f} s"
            f"   ratio {fitted / floor:5.2f}x   top correlation {top:.4f}"
        )
        del X, Y, latent
    _bench_compare_models(args, device)


if __name__ == "__main__":
    main()
