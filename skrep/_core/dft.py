r"""DFT-CCA: canonical correlation of convolutional maps, frequency by frequency.

A convolutional layer's activations on one sample are *maps*: ``c``
channels over an ``h x w`` grid of positions. Treat every (sample,
position) pair as a row and the flattened maps as units, and close the
dataset under circular translation (every sample's maps shifted over all
positions). The covariance of the flattened maps is then block-circulant
in position, so the 2-D discrete Fourier transform over the positions
block-diagonalises it: CCA of the closure splits into one small complex
CCA per spatial frequency, between the ``c``- and ``c'``-vectors of DFT
coefficients, with the samples as rows (Raghu et al. 2017, Theorem 1 of the
section on convolutional layers). This module computes those per-frequency CCAs.

Conventions
-----------
*Rows.* Maps arrive as 2-D rows, the ``c * h * w`` values of each sample
flattened channel-major (``maps.reshape(n, -1)``); their shape
``(c, h, w)`` is given separately.

*Centring.* Every frequency is centred over the samples, which is the DFT
of centring each unit (channel, position) over the samples. The result is
exactly plain CCA of the translation closure of the centred maps: over a
closure, a non-constant frequency has mean 0, so the centring removes only
the per-unit mean map, which is the same for every sample.

*Half the frequencies.* Maps are real, so the coefficient at frequency
``-k`` is the complex conjugate of that at ``k`` and gives the same
canonical correlations. Only one frequency of each pair ``{k, -k}`` is
computed (the columns of :func:`numpy.fft.rfft2`), counted twice; the
frequencies equal to their own negation (the constant one and the Nyquist
ones, at most four) have real coefficients and run in real arithmetic.

*The rank rule.* The closure's spectrum is the union of the singular values
of every frequency (its Gram matrix is block-diagonal), so
:func:`~skrep._core.spectral.null_mask` is applied to that union: a
direction is null when its singular value is below ``rank_tol`` times the
largest over all frequencies. Frequencies where a map carries no signal
(band-limited maps, dead channels) then have no pairs, instead of pairs
made of round-off.

*Pairs.* Frequency ``k`` has ``min(r_x(k), r_y(k))`` canonical pairs, with
``r(k)`` its rank; the closure has ``min(R_x, R_y)`` with
``R = sum_k r(k)`` over the full grid. Where the two differ, the closure's
extra pairs are directions of one view at a frequency where the other has
none, exactly uncorrelated with everything (correlation 0 on any data). The
similarity is the mean over the closure's pairs.

*Different grids.* Maps of different sizes are brought to the smaller size
along each axis by Fourier (band-limited) resampling, as the paper's code
does by keeping the frequencies both grids share; see
:func:`fourier_resample`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skrep._core.backend import block_rows, decomposition_threads
from skrep._core.cca import MOMENTS_MIN_RATIO
from skrep._core.moments import check_finite_products, constant_units
from skrep._core.spectral import null_mask

__all__ = [
    "FrequencyPlan",
    "SpectralCCAResult",
    "SpectralMoments",
    "common_size",
    "fit_spectral_cca",
    "fourier_resample",
    "frequency_plan",
    "map_shape",
    "map_spectra",
    "spectral_cca_from_moments",
    "spectral_correlations",
]


# -- shapes, resampling, frequencies ------------------------------------------


def map_shape(sample_shape):
    """Return the ``(channels, height, width)`` of one sample's activations.

    Parameters
    ----------
    sample_shape : tuple of int
        The shape of one sample: ``(c,)`` (a dense layer: 1 x 1 maps),
        ``(c, length)`` (a 1-D convolution: 1 x length maps) or
        ``(c, h, w)``.

    Returns
    -------
    shape : tuple of int
        ``(c, h, w)``.

    Raises
    ------
    ValueError
        For more than three axes or an empty axis.

    Examples
    --------
    >>> from skrep._core.dft import map_shape
    >>> map_shape((8,)), map_shape((8, 5)), map_shape((8, 4, 4))
    ((8, 1, 1), (8, 1, 5), (8, 4, 4))
    """
    sample_shape = tuple(int(d) for d in sample_shape)
    if len(sample_shape) > 3 or len(sample_shape) == 0:
        raise ValueError(
            "Each sample must be a vector of channels (c,), a 1-D map (c, length) "
            f"or a 2-D map (c, height, width); got per-sample shape {sample_shape}."
        )
    if min(sample_shape) < 1:
        raise ValueError(
            f"The maps have an empty axis: per-sample shape {sample_shape}."
        )
    channels, positions = sample_shape[0], sample_shape[1:]
    return (channels,) + (1,) * (2 - len(positions)) + positions


def common_size(x_shape, y_shape):
    """Return the grid both views are compared on: the smaller size per axis.

    Parameters
    ----------
    x_shape, y_shape : tuple of int
        ``(c, h, w)`` of each view.

    Returns
    -------
    size : tuple of int
        ``(min(h_x, h_y), min(w_x, w_y))``.
    """
    return (min(x_shape[1], y_shape[1]), min(x_shape[2], y_shape[2]))


def fourier_resample(maps, size):
    r"""Resample real maps to a smaller grid, band-limited (Fourier).

    Along each axis in turn, the DFT of length ``N`` is cut to the ``m``
    frequencies of the new grid and inverted, with the amplitude kept
    (:func:`scipy.signal.resample`): the result samples, on the coarser
    grid, the trigonometric interpolant of the frequencies both grids share.
    For an even ``m`` the new Nyquist coefficient takes the two components
    at :math:`\pm m/2` of the old grid (as decimation does), so the result
    is real. When ``N`` is a multiple of ``m`` and the maps hold no
    frequency above ``m/2``, this is plain decimation, ``maps[..., ::N//m]``.

    Parameters
    ----------
    maps : ndarray of shape (..., H, W)
        Real maps (not modified).
    size : tuple of int
        ``(h, w)`` with ``1 <= h <= H`` and ``1 <= w <= W``.

    Returns
    -------
    resampled : ndarray of shape (..., h, w)
        In float64.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.dft import fourier_resample
    >>> t = np.arange(8)
    >>> wave = np.cos(2 * np.pi * t / 8)[None, :] * np.ones((8, 1))
    >>> np.allclose(fourier_resample(wave, (4, 4)), wave[::2, ::2])
    True
    """
    from scipy.signal import resample

    out = np.asarray(maps, dtype=np.float64)
    for axis, m in ((-2, size[0]), (-1, size[1])):
        n = out.shape[axis]
        if not 1 <= m <= n:
            raise ValueError(
                f"Cannot resample an axis of {n} positions to {m}: only to a "
                "smaller or equal size."
            )
        if m != n:
            out = resample(out, m, axis=axis)
    return out


@dataclass(frozen=True)
class FrequencyPlan:
    """The frequencies computed on an ``h x w`` grid, one of each pair ``{k, -k}``.

    Attributes
    ----------
    size : tuple of int
        ``(h, w)``.
    rows, cols : ndarray of int, shape (n_frequencies,)
        Indices into the output of :func:`numpy.fft.rfft2` (``rows`` in
        ``[0, h)``, ``cols`` in ``[0, w // 2]``); ``np.fft.fftfreq(h)[row]``
        is the frequency in cycles per position. The first is the constant
        (DC) frequency.
    weights : ndarray of int, shape (n_frequencies,)
        2 for a frequency standing for itself and its negation, 1 for a
        frequency equal to its own negation; they sum to ``h * w``.
    real : ndarray of bool, shape (n_frequencies,)
        Frequencies equal to their own negation (real coefficients).
    """

    size: tuple
    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    real: np.ndarray

    @property
    def n_frequencies(self):
        """Frequencies computed."""
        return self.rows.size

    def partners(self):
        """Grid indices of each frequency's negation ``(-k) mod (h, w)``."""
        h, w = self.size
        return (-self.rows) % h, (-self.cols) % w

    def to_grid(self, values):
        """Spread per-frequency values over the full ``h x w`` grid.

        Parameters
        ----------
        values : ndarray of shape (n_frequencies, ...)
            Real values (a frequency and its negation share them; every grid
            cell is one of the two).

        Returns
        -------
        grid : ndarray of shape (h, w, ...)
        """
        values = np.asarray(values)
        grid = np.empty(self.size + values.shape[1:], dtype=values.dtype)
        grid[self.rows, self.cols] = values
        grid[self.partners()] = values
        return grid


def frequency_plan(size):
    """One frequency of each conjugate pair on an ``h x w`` grid.

    Parameters
    ----------
    size : tuple of int
        ``(h, w)``.

    Returns
    -------
    plan : FrequencyPlan

    Examples
    --------
    >>> from skrep._core.dft import frequency_plan
    >>> plan = frequency_plan((4, 4))
    >>> plan.n_frequencies, int(plan.weights.sum()), int(plan.real.sum())
    (10, 16, 4)
    """
    h, w = (int(size[0]), int(size[1]))
    rows, cols, weights, real = [], [], [], []
    for col in range(w // 2 + 1):
        self_paired = col == 0 or 2 * col == w
        for row in range(h // 2 + 1 if self_paired else h):
            own = self_paired and (row == 0 or 2 * row == h)
            rows.append(row)
            cols.append(col)
            weights.append(1 if own else 2)
            real.append(own)
    return FrequencyPlan(
        (h, w),
        np.array(rows, dtype=np.intp),
        np.array(cols, dtype=np.intp),
        np.array(weights, dtype=np.int64),
        np.array(real, dtype=bool),
    )


def map_spectra(rows, shape, plan, shift=None):
    """DFT coefficients of flattened maps at the plan's frequencies.

    Parameters
    ----------
    rows : ndarray of shape (n_samples, c * h * w)
        Maps flattened channel-major (not modified).
    shape : tuple of int
        ``(c, h, w)`` of the maps.
    plan : FrequencyPlan
        Frequencies on the common grid; maps of another size are resampled
        to it (:func:`fourier_resample`).
    shift : ndarray of shape (c,), optional
        Subtracted from each channel before the transform (it changes only
        the constant frequency, by ``h * w * shift``): centring large
        activations first keeps their round-off out of the other frequencies.

    Returns
    -------
    spectra : ndarray of shape (n_frequencies, n_samples, c), complex
        Real-valued (imaginary part 0) at the plan's real frequencies.
    """
    n = rows.shape[0]
    c, h, w = shape
    maps = rows.reshape(n, c, h, w)
    if shift is None:
        maps = maps.astype(np.float64, copy=False)
    else:
        maps = np.subtract(maps, shift[:, None, None], dtype=np.float64)
    if (h, w) != plan.size:
        maps = fourier_resample(maps, plan.size)
    with np.errstate(over="ignore", invalid="ignore"):
        coefficients = np.fft.rfft2(maps)[:, :, plan.rows, plan.cols]
    spectra = np.ascontiguousarray(coefficients.transpose(2, 0, 1))
    spectra[plan.real] = spectra[plan.real].real
    return spectra


def _rows_per_block(width):
    return max(1, block_rows(width) // 4)


def _conj_t(a):
    return a.conj().transpose(0, 2, 1)


# -- the accumulator ----------------------------------------------------------


class SpectralMoments:
    """Mergeable per-frequency means and centred cross-products of two sets of maps.

    For every frequency of the plan: the mean DFT coefficient of each
    channel and the centred Gram matrices ``Zx^H Zx``, ``Zy^H Zy``,
    ``Zx^H Zy`` of the coefficients (rows are samples), accumulated in
    float64 blocks with the pairwise update of Chan, Golub and LeVeque (as
    :class:`~skrep._core.moments.Moments`), so batches stream and merge
    exactly.

    Parameters
    ----------
    x_shape, y_shape : tuple of int
        ``(c, h, w)`` of one sample of each view.

    Attributes
    ----------
    n_samples : int
        Samples seen.
    plan : FrequencyPlan
        The frequencies on the common grid (:func:`common_size`).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.dft import SpectralMoments
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(50, 3 * 4 * 4), rng.randn(50, 2 * 4 * 4)
    >>> a = SpectralMoments((3, 4, 4), (2, 4, 4)).update(X[:20], Y[:20])
    >>> b = SpectralMoments((3, 4, 4), (2, 4, 4)).update(X[20:], Y[20:])
    >>> full = SpectralMoments((3, 4, 4), (2, 4, 4)).update(X, Y)
    >>> bool(np.allclose(a.merge(b).covariances()[4], full.covariances()[4]))
    True
    """

    def __init__(self, x_shape, y_shape):
        self.x_shape = map_shape(x_shape)
        self.y_shape = map_shape(y_shape)
        self.plan = frequency_plan(common_size(self.x_shape, self.y_shape))
        n_freq, c, d = self.plan.n_frequencies, self.x_shape[0], self.y_shape[0]
        self.n_samples = 0
        # The maps are centred on a reference per channel fixed by the first
        # block (_ref_x, _ref_y), and the means kept are those of the
        # coefficients of the centred maps: small numbers, whose differences
        # between batches keep their digits however large the activations'
        # mean is. (Means kept absolute lost about 1e-7 of the correlations
        # to a spread of 1e-4 on a mean of 1e6.)
        self._ref_x = np.zeros(c)
        self._ref_y = np.zeros(d)
        self._mean_x = np.zeros((n_freq, c), dtype=complex)
        self._mean_y = np.zeros((n_freq, d), dtype=complex)
        self._cxx = np.zeros((n_freq, c, c), dtype=complex)
        self._cyy = np.zeros((n_freq, d, d), dtype=complex)
        self._cxy = np.zeros((n_freq, c, d), dtype=complex)

    @property
    def n_features_x(self):
        """Flattened width of the first view's maps."""
        return int(np.prod(self.x_shape))

    @property
    def n_features_y(self):
        """Flattened width of the second view's maps."""
        return int(np.prod(self.y_shape))

    def update(self, X, Y):
        """Add samples (maps flattened channel-major, one row each).

        Parameters
        ----------
        X : ndarray of shape (n_samples, c * h * w)
            First view (any float dtype; not modified).
        Y : ndarray of shape (n_samples, c' * h' * w')
            The same samples in the second view.

        Returns
        -------
        self : SpectralMoments
        """
        if X.ndim != 2 or X.shape[1] != self.n_features_x:
            raise ValueError(
                f"X must have {self.n_features_x} columns (maps of shape "
                f"{self.x_shape} flattened), got shape {X.shape}."
            )
        if Y.ndim != 2 or Y.shape != (X.shape[0], self.n_features_y):
            raise ValueError(
                f"Y must have {X.shape[0]} rows and {self.n_features_y} columns "
                f"(maps of shape {self.y_shape} flattened), got shape {Y.shape}."
            )
        step = _rows_per_block(self.n_features_x + self.n_features_y)
        for start in range(0, X.shape[0], step):
            stop = start + step
            self._update_block(X[start:stop], Y[start:stop])
        return self

    def channel_means(self):
        """Per-channel mean over samples and positions of each view.

        Returns
        -------
        mean_x : ndarray of shape (c,)
        mean_y : ndarray of shape (c',)
        """
        self._check_samples()
        area = self.plan.size[0] * self.plan.size[1]
        return (
            self._ref_x + self._mean_x[0].real / area,
            self._ref_y + self._mean_y[0].real / area,
        )

    def _absolute_means(self):
        """Mean coefficients of the maps themselves (the reference added back)."""
        area = self.plan.size[0] * self.plan.size[1]
        mean_x, mean_y = self._mean_x.copy(), self._mean_y.copy()
        mean_x[0] += area * self._ref_x
        mean_y[0] += area * self._ref_y
        return mean_x, mean_y

    def _shifts(self, X, Y):
        if self.n_samples:
            return self._ref_x, self._ref_y
        return tuple(
            V.reshape(V.shape[0], shape[0], -1).mean(axis=(0, 2), dtype=np.float64)
            for V, shape in ((X, self.x_shape), (Y, self.y_shape))
        )

    def _update_block(self, X, Y):
        n_b = X.shape[0]
        if n_b == 0:
            return
        shift_x, shift_y = self._shifts(X, Y)
        check_finite_products(shift_x, shift_y)
        Zx = map_spectra(X, self.x_shape, self.plan, shift_x)
        Zy = map_spectra(Y, self.y_shape, self.plan, shift_y)
        mean_x, mean_y = Zx.mean(axis=1), Zy.mean(axis=1)
        Zx -= mean_x[:, None, :]
        Zy -= mean_y[:, None, :]
        with np.errstate(over="ignore", invalid="ignore"):
            cxx, cyy = _conj_t(Zx) @ Zx, _conj_t(Zy) @ Zy
            cxy = _conj_t(Zx) @ Zy
        check_finite_products(mean_x, mean_y, cxx, cyy, cxy)
        if self.n_samples == 0:
            self._ref_x, self._ref_y = shift_x, shift_y
        self._combine(n_b, mean_x, mean_y, cxx, cyy, cxy)

    def _combine(self, n_b, mean_x, mean_y, cxx, cyy, cxy):
        """Chan et al.'s update; the means are relative to this set's reference."""
        n_a = self.n_samples
        if n_a == 0:
            self.n_samples = n_b
            self._mean_x, self._mean_y = mean_x.copy(), mean_y.copy()
            self._cxx, self._cyy, self._cxy = cxx.copy(), cyy.copy(), cxy.copy()
            return
        n = n_a + n_b
        dx, dy = mean_x - self._mean_x, mean_y - self._mean_y
        factor = n_a * n_b / n
        self._mean_x = self._mean_x + dx * (n_b / n)
        self._mean_y = self._mean_y + dy * (n_b / n)
        self._cxx += cxx + factor * dx.conj()[:, :, None] * dx[:, None, :]
        self._cyy += cyy + factor * dy.conj()[:, :, None] * dy[:, None, :]
        self._cxy += cxy + factor * dx.conj()[:, :, None] * dy[:, None, :]
        self.n_samples = n

    def merge(self, other):
        """Fold in the moments of other samples, exactly (in place).

        Parameters
        ----------
        other : SpectralMoments
            Accumulated on other samples of maps of the same shapes.

        Returns
        -------
        self : SpectralMoments
        """
        if not isinstance(other, SpectralMoments):
            raise TypeError(
                f"Can only merge SpectralMoments, got {type(other).__name__}."
            )
        if (other.x_shape, other.y_shape) != (self.x_shape, self.y_shape):
            raise ValueError(
                "Cannot merge moments of maps of different shapes: "
                f"{(self.x_shape, self.y_shape)} and {(other.x_shape, other.y_shape)}."
            )
        if other.n_samples:
            if self.n_samples == 0:
                self._ref_x, self._ref_y = other._ref_x.copy(), other._ref_y.copy()
            # The other set's means, relative to this set's reference.
            area = self.plan.size[0] * self.plan.size[1]
            mean_x, mean_y = other._mean_x.copy(), other._mean_y.copy()
            mean_x[0] += area * (other._ref_x - self._ref_x)
            mean_y[0] += area * (other._ref_y - self._ref_y)
            self._combine(
                other.n_samples,
                mean_x,
                mean_y,
                other._cxx,
                other._cyy,
                other._cxy,
            )
        return self

    def copy(self):
        """Return an independent copy."""
        new = SpectralMoments.__new__(SpectralMoments)
        new.__dict__ = {
            key: value.copy() if isinstance(value, np.ndarray) else value
            for key, value in self.__dict__.items()
        }
        return new

    def __add__(self, other):
        return self.copy().merge(other)

    def __iadd__(self, other):
        return self.merge(other)

    def _check_samples(self):
        if self.n_samples == 0:
            raise ValueError("No samples were accumulated.")

    def covariances(self):
        """Per-frequency means and centred Gram matrices (copies).

        Returns
        -------
        mean_x : ndarray of shape (n_frequencies, c), complex
        mean_y : ndarray of shape (n_frequencies, c'), complex
        cxx : ndarray of shape (n_frequencies, c, c), complex
            ``Zx^H Zx`` with ``Zx`` the centred coefficients (samples x
            channels) of each frequency; not divided by the samples.
        cyy : ndarray of shape (n_frequencies, c', c'), complex
        cxy : ndarray of shape (n_frequencies, c, c'), complex
        """
        self._check_samples()
        return (
            *self._absolute_means(),
            self._cxx.copy(),
            self._cyy.copy(),
            self._cxy.copy(),
        )

    def constant_channels(self):
        """Constant (dead) channels of each view, by the one constant-unit rule.

        A channel is constant when, summed over its positions (Parseval's
        identity on the accumulated frequencies), its variance over the
        samples is at most ``CONSTANT_TOL**2`` times its mean square: every
        position of it is constant, up to round-off.

        Returns
        -------
        x_constant : ndarray of bool, shape (c,)
        y_constant : ndarray of bool, shape (c',)
        """
        self._check_samples()
        weights = self.plan.weights
        area = self.plan.size[0] * self.plan.size[1]
        out = []
        means = self._absolute_means()
        for mean, gram in zip(means, (self._cxx, self._cyy)):
            variance = weights @ np.einsum("fii->fi", gram).real
            square = weights @ (mean.real**2 + mean.imag**2)
            out.append(
                constant_units(
                    np.sqrt(square / area), variance / (area * self.n_samples)
                )
            )
        return out[0], out[1]


# -- canonical correlation per frequency --------------------------------------


@dataclass
class SpectralCCAResult:
    """What DFT-CCA learns, one entry per frequency of the plan.

    ``(Z - mean) @ x_rotations[f]`` are the canonical variates of X at
    frequency ``f`` (complex, mean square 1 on the fitted samples), paired
    column by column with Y's; ``correlations[f, j]`` is the j-th canonical
    correlation there, 0 for ``j >= n_pairs[f]``.
    """

    plan: FrequencyPlan
    correlations: np.ndarray
    n_pairs: np.ndarray
    x_rotations: np.ndarray
    y_rotations: np.ndarray
    x_ranks: np.ndarray
    y_ranks: np.ndarray
    x_singular_values: np.ndarray
    y_singular_values: np.ndarray
    weak: np.ndarray
    n_samples: int
    route: str

    @property
    def x_rank(self):
        """Rank of the translation closure of X (real dimensions)."""
        return int(self.plan.weights @ self.x_ranks)

    @property
    def y_rank(self):
        """Rank of the translation closure of Y (real dimensions)."""
        return int(self.plan.weights @ self.y_ranks)

    @property
    def n_components(self):
        """Canonical pairs of the closure: ``min(x_rank, y_rank)``."""
        return min(self.x_rank, self.y_rank)

    def similarity(self, correlations=None):
        """Mean over the closure's pairs of per-frequency correlations.

        Parameters
        ----------
        correlations : ndarray of shape (n_frequencies, k), optional
            Per-pair correlations (default: the canonical correlations).

        Returns
        -------
        similarity : float
        """
        correlations = self.correlations if correlations is None else correlations
        return float(self.plan.weights @ correlations.sum(axis=1)) / self.n_components


def _groups(real):
    """Return the real and the complex frequencies, as boolean masks."""
    return ((real, True), (~real, False))


def _spectrum_of_grams(gram, real):
    """Singular values (decreasing) and directions of the data behind Gram matrices."""
    n_freq, c = gram.shape[:2]
    s = np.zeros((n_freq, c))
    v = np.zeros((n_freq, c, c), dtype=complex)
    with decomposition_threads(c):
        for group, is_real in _groups(real):
            if not group.any():
                continue
            g = gram[group].real if is_real else gram[group]
            eigenvalues, eigenvectors = np.linalg.eigh(g)
            s[group] = np.sqrt(np.clip(eigenvalues[:, ::-1], 0.0, None))
            v[group] = eigenvectors[:, :, ::-1]
    return s, v


def _spectrum_of_data(Z, real):
    """Thin SVD of centred coefficients, padded to the number of channels."""
    n_freq, n, c = Z.shape
    k = min(n, c)
    u = np.zeros((n_freq, n, c), dtype=complex)
    s = np.zeros((n_freq, c))
    v = np.zeros((n_freq, c, c), dtype=complex)
    with decomposition_threads(c):
        for group, is_real in _groups(real):
            if not group.any():
                continue
            data = Z[group].real if is_real else Z[group]
            left, values, right = np.linalg.svd(data, full_matrices=False)
            u[group, :, :k] = left
            s[group, :k] = values
            v[group, :, :k] = _conj_t(right)
    return u, s, v


def _global_null(s_x, s_y, rank_tol):
    """Apply the one rank rule to the union of every frequency's singular values."""
    nulls = []
    for s in (s_x, s_y):
        flat = s.ravel()
        order = np.argsort(-flat, kind="stable")
        null = np.empty(flat.shape, dtype=bool)
        null[order] = null_mask(flat[order], rank_tol)
        nulls.append(null.reshape(s.shape))
    return nulls


def _weak(s, null):
    """Frequencies whose smallest kept direction is too weak for the moments route."""
    kept = np.where(null, np.inf, s)
    return kept.min(axis=1) < MOMENTS_MIN_RATIO * s[:, 0]


def _pairs(cross, x_ranks, y_ranks, real):
    """SVD of each frequency's non-null block of the whitened cross-products.

    The null directions are the trailing ones of each view (singular values
    decrease), so frequencies with the same ranks are decomposed together on
    their leading ``r_x x r_y`` block; a pair of correlation 0 then still
    lies in the kept directions.
    """
    n_freq, c, d = cross.shape
    k = min(c, d)
    a = np.zeros((n_freq, c, k), dtype=complex)
    rho = np.zeros((n_freq, k))
    b = np.zeros((n_freq, d, k), dtype=complex)
    keys = np.stack([x_ranks, y_ranks, real.astype(x_ranks.dtype)], axis=1)
    with decomposition_threads(max(c, d)):
        for rx, ry, is_real in np.unique(keys, axis=0):
            p = min(rx, ry)
            if p == 0:
                continue
            group = np.all(keys == (rx, ry, is_real), axis=1)
            m = cross[group, :rx, :ry]
            left, values, right = np.linalg.svd(
                m.real if is_real else m, full_matrices=False
            )
            a[group, :rx, :p] = left
            rho[group, :p] = values
            b[group, :ry, :p] = _conj_t(right)
    return a, rho, b


def _finish(plan, n, spectra, cross, weak, route):
    """Canonical pairs from the whitened cross-products; deterministic phases."""
    (s_x, v_x, null_x), (s_y, v_y, null_y) = spectra
    x_ranks = np.count_nonzero(~null_x, axis=1)
    y_ranks = np.count_nonzero(~null_y, axis=1)
    if not x_ranks.any() or not y_ranks.any():
        name = "X" if not x_ranks.any() else "Y"
        raise ValueError(
            f"Every channel of {name} is constant (dead): there is no direction to "
            "correlate."
        )
    a, rho, b = _pairs(cross, x_ranks, y_ranks, plan.real)
    n_pairs = np.minimum(x_ranks, y_ranks)
    rho = np.clip(rho, 0.0, 1.0)
    inv_x = np.where(null_x, 0.0, 1.0 / np.where(null_x, 1.0, s_x))
    inv_y = np.where(null_y, 0.0, 1.0 / np.where(null_y, 1.0, s_y))
    scale = np.sqrt(n)
    x_rot = (v_x * inv_x[:, None, :]) @ a * scale
    y_rot = (v_y * inv_y[:, None, :]) @ b * scale
    # Phases: the largest inner product of X's unit-norm variate with one of
    # X's channels is real and positive (svd_flip's rule, for complex pairs).
    loadings = _conj_t(a) @ (s_x[:, :, None] * _conj_t(v_x))
    top = np.argmax(np.abs(loadings), axis=2)
    peak = np.take_along_axis(loadings, top[:, :, None], axis=2)[:, :, 0]
    size = np.abs(peak)
    phase = np.where(size > 0, peak / np.where(size > 0, size, 1.0), 1.0)
    x_rot *= phase[:, None, :]
    y_rot *= phase[:, None, :]
    x_rot[plan.real] = x_rot[plan.real].real
    y_rot[plan.real] = y_rot[plan.real].real
    return SpectralCCAResult(
        plan, rho, n_pairs, x_rot, y_rot, x_ranks, y_ranks,
        np.where(null_x, 0.0, s_x), np.where(null_y, 0.0, s_y), weak, n, route,
    )  # fmt: skip


def _whitened_cross(v_x, s_x, null_x, v_y, s_y, null_y, cxy):
    w_x = v_x * np.where(null_x, 0.0, 1.0 / np.where(null_x, 1.0, s_x))[:, None, :]
    w_y = v_y * np.where(null_y, 0.0, 1.0 / np.where(null_y, 1.0, s_y))[:, None, :]
    return _conj_t(w_x) @ cxy @ w_y


def spectral_cca_from_moments(moments, *, rank_tol=1e-6):
    """DFT-CCA from accumulated :class:`SpectralMoments` (the moments route).

    Parameters
    ----------
    moments : SpectralMoments
    rank_tol : float, default=1e-6
        Relative tolerance of the rank rule, over the union of every
        frequency's singular values.

    Returns
    -------
    result : SpectralCCAResult
        ``weak`` flags the frequencies where a kept direction lies below
        ``MOMENTS_MIN_RATIO`` of that frequency's largest, where the
        cross-products may have lost digits.
    """
    plan = moments.plan
    _, _, cxx, cyy, cxy = moments.covariances()
    s_x, v_x = _spectrum_of_grams(cxx, plan.real)
    s_y, v_y = _spectrum_of_grams(cyy, plan.real)
    null_x, null_y = _global_null(s_x, s_y, rank_tol)
    cross = _whitened_cross(v_x, s_x, null_x, v_y, s_y, null_y, cxy)
    weak = _weak(s_x, null_x) | _weak(s_y, null_y)
    return _finish(
        plan, moments.n_samples, ((s_x, v_x, null_x), (s_y, v_y, null_y)), cross,
        weak, "moments",
    )  # fmt: skip


def _centred_spectra(X, Y, moments, frequencies):
    """Centred coefficients of every sample at some frequencies (one pass)."""
    plan = moments.plan
    sub = FrequencyPlan(
        plan.size,
        plan.rows[frequencies],
        plan.cols[frequencies],
        plan.weights[frequencies],
        plan.real[frequencies],
    )
    shift_x, shift_y = moments.channel_means()
    n = X.shape[0]
    Zx = np.empty((sub.n_frequencies, n, moments.x_shape[0]), dtype=complex)
    Zy = np.empty((sub.n_frequencies, n, moments.y_shape[0]), dtype=complex)
    step = _rows_per_block(moments.n_features_x + moments.n_features_y)
    for start in range(0, n, step):
        stop = min(start + step, n)
        Zx[:, start:stop] = map_spectra(X[start:stop], moments.x_shape, sub, shift_x)
        Zy[:, start:stop] = map_spectra(Y[start:stop], moments.y_shape, sub, shift_y)
    Zx -= Zx.mean(axis=1, keepdims=True)
    Zy -= Zy.mean(axis=1, keepdims=True)
    return Zx, Zy


def fit_spectral_cca(X, Y, x_shape, y_shape, *, rank_tol=1e-6, algorithm="auto"):
    """DFT-CCA of two sets of maps given as flattened rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, c * h * w)
        First view, maps flattened channel-major. Not modified.
    Y : ndarray of shape (n_samples, c' * h' * w')
        Second view.
    x_shape, y_shape : tuple of int
        ``(c, h, w)`` of each view's maps.
    rank_tol : float, default=1e-6
        Relative tolerance of the rank rule (over every frequency).
    algorithm : {"auto", "moments", "svd"}, default="auto"
        "moments": per-frequency Gram matrices in one pass and small
        Hermitian eigendecompositions; "svd": the SVD of every frequency's
        centred coefficients (holds the spectra of all samples); "auto":
        moments, with the frequencies where a kept direction is too weak
        for them recomputed by SVD.

    Returns
    -------
    result : SpectralCCAResult
    moments : SpectralMoments
        The moments of the samples (streaming continues from them).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep._core.dft import fit_spectral_cca
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(40, 2 * 4 * 4)
    >>> result, _ = fit_spectral_cca(X, 3 * X, (2, 4, 4), (2, 4, 4))
    >>> result.similarity()
    1.0
    """
    if algorithm not in ("auto", "moments", "svd"):
        raise ValueError(f"Unknown algorithm {algorithm!r}.")
    moments = SpectralMoments(x_shape, y_shape).update(X, Y)
    if algorithm == "svd":
        redo = np.ones(moments.plan.n_frequencies, dtype=bool)
    else:
        result = spectral_cca_from_moments(moments, rank_tol=rank_tol)
        if algorithm == "moments" or not result.weak.any():
            return result, moments
        redo = result.weak
    return _refit_from_data(X, Y, moments, redo, rank_tol), moments


def _refit_from_data(X, Y, moments, redo, rank_tol):
    """Recompute some frequencies (``redo``) from the SVD of the data."""
    plan = moments.plan
    _, _, cxx, cyy, cxy = moments.covariances()
    keep = ~redo
    c, d = moments.x_shape[0], moments.y_shape[0]
    n_freq = plan.n_frequencies
    s_x, s_y = np.zeros((n_freq, c)), np.zeros((n_freq, d))
    v_x = np.zeros((n_freq, c, c), dtype=complex)
    v_y = np.zeros((n_freq, d, d), dtype=complex)
    if keep.any():
        s_x[keep], v_x[keep] = _spectrum_of_grams(cxx[keep], plan.real[keep])
        s_y[keep], v_y[keep] = _spectrum_of_grams(cyy[keep], plan.real[keep])
    Zx, Zy = _centred_spectra(X, Y, moments, redo)
    u_x, s_x[redo], v_x[redo] = _spectrum_of_data(Zx, plan.real[redo])
    u_y, s_y[redo], v_y[redo] = _spectrum_of_data(Zy, plan.real[redo])
    null_x, null_y = _global_null(s_x, s_y, rank_tol)
    cross = np.zeros((n_freq, c, d), dtype=complex)
    if keep.any():
        cross[keep] = _whitened_cross(
            v_x[keep], s_x[keep], null_x[keep], v_y[keep], s_y[keep], null_y[keep],
            cxy[keep],
        )  # fmt: skip
    q_x = u_x * ~null_x[redo][:, None, :]
    q_y = u_y * ~null_y[redo][:, None, :]
    cross[redo] = _conj_t(q_x) @ q_y
    route = "svd" if redo.all() else "mixed"
    weak = np.zeros(n_freq, dtype=bool)
    return _finish(
        plan, moments.n_samples, ((s_x, v_x, null_x), (s_y, v_y, null_y)), cross,
        weak, route,
    )  # fmt: skip


def spectral_correlations(X, Y, x_shape, y_shape, result, shifts=None):
    """Correlations of the fitted canonical variates, frequency by frequency.

    The variates of each frequency are centred on the data given; the
    correlation of a pair is the real part of their complex Pearson
    correlation, which is the correlation of the real variates over the
    translation closure of the data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, c * h * w)
        First view's maps, flattened (not modified).
    Y : ndarray of shape (n_samples, c' * h' * w')
        Second view's maps.
    x_shape, y_shape : tuple of int
        ``(c, h, w)`` of each view.
    result : SpectralCCAResult
        From :func:`fit_spectral_cca` or :func:`spectral_cca_from_moments`.
    shifts : tuple of ndarray, optional
        Per-channel values subtracted before the transform (e.g. the fitted
        channel means), for precision only.

    Returns
    -------
    correlations : ndarray of shape (n_frequencies, k)
        In [-1, 1]; 0 beyond each frequency's pairs and where a variate is
        constant on this data.
    constant : ndarray of bool, shape (n_frequencies, k)
        Pairs (among the fitted ones) in which a variate is constant (dead)
        on this data, by :func:`~skrep._core.moments.constant_units`.
    """
    plan = result.plan
    shift_x, shift_y = (None, None) if shifts is None else shifts
    n_freq, k = result.correlations.shape
    count = 0
    mean_u = np.zeros((n_freq, k), dtype=complex)
    mean_v = np.zeros((n_freq, k), dtype=complex)
    s_uu, s_vv = np.zeros((n_freq, k)), np.zeros((n_freq, k))
    s_uv = np.zeros((n_freq, k), dtype=complex)
    step = _rows_per_block(int(np.prod(x_shape)) + int(np.prod(y_shape)))
    for start in range(0, X.shape[0], step):
        stop = start + step
        U = map_spectra(X[start:stop], x_shape, plan, shift_x) @ result.x_rotations
        V = map_spectra(Y[start:stop], y_shape, plan, shift_y) @ result.y_rotations
        n_b = U.shape[1]
        mu_u, mu_v = U.mean(axis=1), V.mean(axis=1)
        U -= mu_u[:, None, :]
        V -= mu_v[:, None, :]
        with np.errstate(over="ignore", invalid="ignore"):
            block_uu = np.einsum("fnk,fnk->fk", U.conj(), U).real
            block_vv = np.einsum("fnk,fnk->fk", V.conj(), V).real
            block_uv = np.einsum("fnk,fnk->fk", U.conj(), V)
        check_finite_products(block_uu, block_vv, block_uv)
        if count == 0:
            mean_u, mean_v = mu_u, mu_v
            s_uu, s_vv, s_uv = block_uu, block_vv, block_uv
        else:
            total = count + n_b
            du, dv = mu_u - mean_u, mu_v - mean_v
            factor = count * n_b / total
            s_uu = s_uu + block_uu + factor * np.abs(du) ** 2
            s_vv = s_vv + block_vv + factor * np.abs(dv) ** 2
            s_uv = s_uv + block_uv + factor * du.conj() * dv
            mean_u = mean_u + du * (n_b / total)
            mean_v = mean_v + dv * (n_b / total)
        count += n_b
    valid = np.arange(k)[None, :] < result.n_pairs[:, None]
    constant = valid & (
        constant_units(np.abs(mean_u), s_uu / count)
        | constant_units(np.abs(mean_v), s_vv / count)
    )
    live = valid & ~constant
    denominator = np.sqrt(np.where(live, s_uu * s_vv, 1.0))
    correlations = np.where(live, s_uv.real / denominator, 0.0)
    return np.clip(correlations, -1.0, 1.0), constant
