"""Streaming moments carry the rounding of the stored mean.

A small spread on a large mean (activations of 1e6 +- 1e-4, say) makes the
stored running mean's rounding (an ulp of 1e6, about 1e-10) a noticeable
part of the spread; folding later batches in as if the stored mean were
exact lost about 1e-8 of the correlations. The accumulator now carries
that rounding, so any split of the rows equals one pass to round-off.
"""

import warnings

import numpy as np
import pytest

import skrep
from skrep._core.moments import Moments


def _views(seed, n=400, spread=1e-4, offset=1e6):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 3)
    X = (latent @ rng.randn(3, 5) + 0.6 * rng.randn(n, 5)) * spread + offset
    Y = latent @ rng.randn(3, 4) + 0.6 * rng.randn(n, 4)
    return X, Y


SPLITS = {
    "halves": [200, 200],
    "ones then rest": [1] * 10 + [390],
    "uneven": [7, 150, 1, 242],
}


def _accumulate(X, Y, sizes, products):
    moments = Moments(X.shape[1], Y.shape[1], products=products)
    start = 0
    for size in sizes:
        moments.update(X[start : start + size], Y[start : start + size])
        start += size
    return moments


def _exact_covariances(X, Y):
    """Centred products from exactly centred rows (long double two-pass)."""
    Xl, Yl = X.astype(np.longdouble), Y.astype(np.longdouble)
    Xc, Yc = Xl - Xl.mean(axis=0), Yl - Yl.mean(axis=0)
    return [np.asarray(a, dtype=np.float64) for a in (Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("split", sorted(SPLITS))
@pytest.mark.parametrize("products", ["all", "cross"])
def test_any_split_equals_exact_centring(seed, split, products):
    X, Y = _views(seed)
    cxx, cyy, cxy = _exact_covariances(X, Y)
    moments = _accumulate(X, Y, SPLITS[split], products)
    _, _, mxx, myy, mxy = moments.covariances()
    # The data themselves hold X only to an ulp of 1e6 (1e-10 on a spread of
    # 1e-4): relative to the products, round-off of order 1e-6 * 1e-6.
    np.testing.assert_allclose(mxy, cxy, rtol=0, atol=1e-9 * np.abs(cxy).max())
    if products == "all":
        np.testing.assert_allclose(mxx, cxx, rtol=0, atol=1e-9 * np.abs(cxx).max())
        np.testing.assert_allclose(myy, cyy, rtol=0, atol=1e-9 * np.abs(cyy).max())
    else:
        squares = moments.squares
        np.testing.assert_allclose(
            squares, np.r_[np.diag(cxx), np.diag(cyy)], rtol=1e-9
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("products", ["all", "cross"])
def test_merge_equals_one_pass(seed, products):
    X, Y = _views(seed)
    one = _accumulate(X, Y, [400], products)
    parts = [_accumulate(X[a:b], Y[a:b], [b - a], products) for a, b in
             ((0, 13), (13, 200), (200, 400))]  # fmt: skip
    merged = parts[0].copy().merge(parts[1]).merge(parts[2])
    for got, want in zip(merged.covariances()[2:], one.covariances()[2:]):
        if want is not None:
            np.testing.assert_allclose(
                got, want, rtol=0, atol=1e-9 * np.abs(want).max()
            )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("split", sorted(SPLITS))
def test_partial_fit_equals_fit_on_a_small_spread(seed, split):
    X, Y = _views(seed)
    fitted = skrep.SVCCA(svd_components=None).fit(X, Y)
    stream = skrep.SVCCA(svd_components=None)
    start = 0
    for size in SPLITS[split]:
        stream.partial_fit(X[start : start + size], Y[start : start + size])
        start += size
    # Before the rounding was carried the two differed by about 1e-8.
    np.testing.assert_allclose(
        stream.canonical_correlations_, fitted.canonical_correlations_, atol=1e-11
    )


# -- activations too small for their squares ---------------------------------


@pytest.mark.parametrize("scale", [1e-150, 1e-160, 1e-170])
@pytest.mark.parametrize(
    "make",
    [
        lambda: skrep.SVCCA(svd_components=None),
        lambda: skrep.SVCCA(svd_components=None, algorithm="svd"),
        lambda: skrep.PWCCA(),
        lambda: skrep.CKA(),
        lambda: skrep.UnitMatcher(),
    ],
)
def test_underflowing_activations_are_refused_by_name(scale, make):
    # Their squares lose digits, then vanish (every unit would look dead):
    # a clear error, as for squares that overflow.
    X, Y = _views(0, offset=0.0, spread=1.0)
    with pytest.raises(ValueError, match="underflow"):
        make().fit(X * scale, Y)
    with pytest.raises(ValueError, match="underflow"):
        make().fit(X, Y * scale)
    if hasattr(make(), "partial_fit"):
        with pytest.raises(ValueError, match="underflow"):
            make().partial_fit(X * scale, Y)


@pytest.mark.parametrize("scale", [1e-130, 1e-100, 1e100, 1e120])
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_small_and_large_activations_within_range_are_exact(scale):
    # No numpy overflow warning leaks from the norms of large products.
    X, Y = _views(1, offset=0.0, spread=1.0)
    expected = skrep.SVCCA(svd_components=None).fit(X, Y).canonical_correlations_
    got = skrep.SVCCA(svd_components=None).fit(X * scale, Y).canonical_correlations_
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_zero_views_are_left_to_the_dead_unit_rules():
    X, Y = _views(2, offset=0.0, spread=1.0)
    with pytest.raises(ValueError, match="constant"):
        skrep.SVCCA().fit(np.zeros_like(X), Y)


# -- the spectral moments of DFT-CCA ------------------------------------------


def _maps(seed, n=300):
    rng = np.random.RandomState(seed)
    latent = rng.randn(n, 2, 4, 4)
    X = (latent + 0.3 * rng.randn(n, 2, 4, 4)) * 1e-4 + 1e6
    Y = latent[:, :, ::-1] + 0.3 * rng.randn(n, 2, 4, 4)
    return X, Y


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sizes", [[100, 100, 100], [1, 7, 142, 150]])
def test_dftcca_partial_fit_equals_fit_on_a_small_spread(seed, sizes):
    X, Y = _maps(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skrep.exceptions.SkrepWarning)
        fitted = skrep.DFTCCA().fit(X, Y)
        stream = skrep.DFTCCA()
        start = 0
        for size in sizes:
            stream.partial_fit(X[start : start + size], Y[start : start + size])
            start += size
        stream.canonical_correlations_
    # Means kept absolute cost about 7e-8 here.
    np.testing.assert_allclose(
        stream.canonical_correlations_, fitted.canonical_correlations_, atol=1e-11
    )


def test_spectral_moments_merge_across_references():
    from skrep._core.dft import SpectralMoments

    X, Y = _maps(3)
    X, Y = X.reshape(300, -1), Y.reshape(300, -1)
    one = SpectralMoments((2, 4, 4), (2, 4, 4)).update(X, Y)
    # Two sets with different references (their first blocks' means).
    a = SpectralMoments((2, 4, 4), (2, 4, 4)).update(X[:120], Y[:120])
    b = SpectralMoments((2, 4, 4), (2, 4, 4)).update(X[120:], Y[120:])
    merged = SpectralMoments((2, 4, 4), (2, 4, 4)).merge(a).merge(b)
    for got, want in zip(merged.covariances(), one.covariances()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * np.abs(want).max())
    # The channel means, to far below the spread of X (1e-4 on a mean of 1e6).
    for got, want in zip(merged.channel_means(), one.channel_means()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_dead_units_refuses_underflowing_activations():
    X, _ = _views(4, offset=0.0, spread=1.0)
    with pytest.raises(ValueError, match="underflow"):
        skrep.dead_units(X * 1e-200)
    np.testing.assert_array_equal(skrep.dead_units(X * 1e-100), np.zeros(5, bool))
