"""Array-API fit of SVCCA on torch tensors against its GEMM floor, same run.

For each dtype, times ``SVCCA(svd_components=None).fit`` under
``sklearn.config_context(array_api_dispatch=True)`` on tensors of
``n x units`` per view, and, as the floor, the three products the fit cannot
avoid (``X^T X``, ``Y^T Y``, ``X^T Y`` in float64, over the same blocks), on
the same device. Prints the ratio fit / floor.

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

from skrep import SVCCA  # noqa: E402
from skrep._core.xp import _block_rows  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
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


if __name__ == "__main__":
    main()
