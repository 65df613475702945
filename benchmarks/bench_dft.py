"""DFT-CCA against plain CCA of the flattened maps, measured in the same run.

Maps of ``--images`` samples, ``--channels`` channels per layer and a
``size x size`` grid (float64). Three fits are timed, best of ``--repeat``:

- baseline: plain CCA (``SVCCA(svd_components=None)``, its fastest exact
  route) of the translation closure: every sample's centred maps shifted
  over all ``size**2`` positions, one row per (sample, shift), the
  ``channels * size**2`` flattened values as units. It is what DFT-CCA
  computes, so the two multisets of canonical correlations are compared
  (largest difference printed);
- ``DFTCCA`` on the same closure (the paper's setting: a translation
  invariant dataset);
- ``DFTCCA`` on the samples alone, which gives the closure's answer without
  forming it.

A last line times plain CCA of the flattened maps with the samples as rows
(a different quantity, for scale: it needs more samples than units), with
as many samples as the closure has rows.

Run ``python benchmarks/bench_dft.py`` (``--quick`` for a smoke run).
"""

import argparse
import time
import warnings

import numpy as np

from skrep import SVCCA
from skrep._dft import DFTCCA


def make_maps(n, channels, size, seed=0):
    """Two conv-like layers: Y mixes X's channels at every position, plus noise."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, channels, size, size)
    Y = np.einsum("nchw,cd->ndhw", X, rng.randn(channels, channels))
    return X, Y + 2.0 * rng.randn(*Y.shape)


def closure(maps):
    """Every sample's maps circularly shifted over all positions, flattened."""
    h, w = maps.shape[2:]
    shifted = [np.roll(maps, (a, b), axis=(2, 3)) for a in range(h) for b in range(w)]
    return np.concatenate(shifted).reshape(len(maps) * h * w, -1)


def multiset(est):
    grid, pairs = est.canonical_correlations_, est.n_pairs_
    values = [grid[i, j, : pairs[i, j]] for i, j in np.ndindex(pairs.shape)]
    return np.sort(np.concatenate(values))


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    configs = (
        [(40, 4, 4), (24, 6, 6)]
        if args.quick
        else [(64, 8, 8), (64, 16, 8), (32, 8, 12)]
    )
    repeat = 1 if args.quick else args.repeat
    header = (
        f"{'images':>6} {'ch':>3} {'size':>5} {'rows':>6} {'units':>5} | "
        f"{'plain s':>8} | {'DFT closure s':>13} {'x faster':>8} | "
        f"{'DFT images s':>12} {'x faster':>8} | {'max diff':>8}"
    )
    print(header)
    print("-" * len(header))
    for n, channels, size in configs:
        X, Y = make_maps(n, channels, size)
        Xc, Yc = closure(X - X.mean(axis=0)), closure(Y - Y.mean(axis=0))
        Xc_maps = Xc.reshape(-1, channels, size, size)
        Yc_maps = Yc.reshape(-1, channels, size, size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            plain = SVCCA(svd_components=None)
            t_plain = best_time(lambda: plain.fit(Xc, Yc), repeat)
            dft = DFTCCA()
            t_closure = best_time(lambda: dft.fit(Xc_maps, Yc_maps), repeat)
            t_images = best_time(lambda: dft.fit(X, Y), repeat)
        diff = np.abs(multiset(dft) - np.sort(plain.canonical_correlations_)).max()
        print(
            f"{n:>6} {channels:>3} {size:>2}x{size:<2} {Xc.shape[0]:>6} "
            f"{Xc.shape[1]:>5} | {t_plain:8.3f} | {t_closure:13.4f} "
            f"{t_plain / t_closure:8.1f} | {t_images:12.4f} "
            f"{t_plain / t_images:8.1f} | {diff:8.1e}"
        )
    n, channels, size = configs[-1]
    rows = n * size * size
    X, Y = make_maps(rows, channels, size, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t_rows = best_time(
            lambda: SVCCA(svd_components=None).fit(
                X.reshape(rows, -1), Y.reshape(rows, -1)
            ),
            repeat,
        )
        t_dft = best_time(lambda: DFTCCA().fit(X, Y), repeat)
    print(
        f"plain CCA, rows = {rows} images x {channels * size * size} units: "
        f"{t_rows:.3f} s; DFTCCA on them: {t_dft:.4f} s ({t_rows / t_dft:.1f}x faster)"
    )


if __name__ == "__main__":
    main()
