"""DFT-CCA: canonical correlation of convolutional layers, frequency by frequency."""

from __future__ import annotations

from numbers import Real

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skrep._core.dft import (
    SpectralMoments,
    fit_spectral_cca,
    map_shape,
    spectral_cca_from_moments,
    spectral_correlations,
)
from skrep._params import Interval
from skrep.base import SkrepTags, StreamingMixin, both_views
from skrep.exceptions import (
    DeadUnitWarning,
    InSampleBiasWarning,
    PrecisionWarning,
    warn,
)

__all__ = ["DFTCCA"]


def _as_rows(A, name):
    """Return maps of shape (n, c, [h,] w) as 2-D rows; anything else untouched.

    Returns the rows (a view where the layout allows; the caller's array is
    never written) and the per-sample ``(c, h, w)``, or the input itself and
    None when it is not a 3-D or 4-D array (2-D views, 1-D ``y``, sparse
    matrices and data frames are left to the usual validation).
    """
    if A is None or scipy.sparse.issparse(A) or hasattr(A, "columns"):
        return A, None
    ndim = getattr(A, "ndim", None)
    if ndim is None:
        try:
            array = np.asarray(A)
        except (TypeError, ValueError):
            return A, None
        ndim = array.ndim
        if ndim <= 2:
            return A, None
        A = array
    if ndim <= 2:
        return A, None
    if ndim > 4:
        raise ValueError(
            f"{name} has {ndim} dimensions; DFTCCA takes maps of shape "
            "(n_samples, channels, height, width), (n_samples, channels, length) "
            "or activation matrices (n_samples, units)."
        )
    array = np.asarray(A)
    shape = map_shape(array.shape[1:])
    return array.reshape(array.shape[0], int(np.prod(shape))), shape


class DFTCCA(StreamingMixin, BaseEstimator):
    r"""CCA of convolutional layers through the 2-D DFT (Raghu et al. 2017).

    Compares two layers' maps, of shape ``(n_samples, channels, height,
    width)``: the 2-D discrete Fourier transform over the positions, then a
    complex canonical correlation analysis at each spatial frequency between
    the two layers' channel vectors, with the samples as rows. On a dataset
    closed under circular translation this is exactly CCA with every
    (sample, position) pair as a row and the flattened maps as units, at a
    fraction of the cost; the similarity is the mean canonical correlation
    over every frequency.

    Parameters
    ----------
    rank_tol : float, default=1e-6
        Directions whose singular value is below ``rank_tol`` times the
        largest over all frequencies are null: constant (dead), duplicate or
        collinear channels, or frequencies where the maps carry no signal.
        They take no canonical pair, with a warning. The tolerance is never
        below 1e-10, whatever is asked (0 included).
    algorithm : {"auto", "moments", "svd"}, default="auto"
        "moments" forms each frequency's cross-products of channel
        coefficients in one blocked pass (float64) and decomposes small
        Hermitian matrices; "svd" decomposes every frequency's centred
        coefficients (as accurate as the data allow; holds the spectra of
        all samples in memory); "auto" runs "moments" and recomputes by SVD
        the frequencies where a kept direction is too weak for it
        (``algorithm_`` records which ran). `partial_fit` always takes the
        moments route.

    Attributes
    ----------
    canonical_correlations_ : ndarray of shape (h, w, k)
        Canonical correlations at each frequency of the common grid (in the
        order of :func:`numpy.fft.fft2`: ``np.fft.fftfreq(h)[i]`` cycles per
        position down, ``np.fft.fftfreq(w)[j]`` across), decreasing, in
        [0, 1]; ``k = min(c_x, c_y)``, and entries beyond ``n_pairs_[i, j]``
        are 0. A frequency and its negation hold the same values.
    n_pairs_ : ndarray of shape (h, w)
        Canonical pairs at each frequency, ``min`` of the two views' ranks
        there.
    n_components_ : int
        Canonical pairs of the translation closure, ``min(x_rank_,
        y_rank_)``: the denominator of the similarity.
    x_rank_ : int
        Non-null directions of X's closure (real dimensions, summed over
        the frequencies).
    y_rank_ : int
        Non-null directions of Y's closure.
    n_dropped_units_ : ndarray of shape (2,)
        Dimensions of X's and Y's (resampled) flattened maps without
        independent signal over the closure: dead, duplicate or collinear
        channels, band-limited maps, or beyond what the samples span.
    x_rotations_ : ndarray of shape (n_frequencies, c_x, k), complex
        At each computed frequency (``frequencies_``), maps X's centred DFT
        coefficients (:func:`numpy.fft.rfft2` of the maps on the common grid;
        samples x channels) to its canonical variates (mean
        square 1 on the fitted samples); zero columns beyond that
        frequency's pairs. A frequency's negation uses the conjugate.
    y_rotations_ : ndarray of shape (n_frequencies, c_y, k), complex
        The same for Y.
    frequencies_ : ndarray of shape (n_frequencies, 2)
        Grid indices ``(i, j)`` of the frequencies computed: one of each
        pair ``{f, -f}`` (the columns of :func:`numpy.fft.rfft2`).
    frequency_weights_ : ndarray of shape (n_frequencies,)
        2 for a frequency standing for its negation too, 1 for one equal to
        its negation (real coefficients); they sum to ``h * w``.
    map_size_ : tuple of int
        ``(h, w)``: the grid both views are compared on, the smaller size
        along each axis.
    x_map_shape_ : tuple of int
        ``(c, h, w)`` of X's maps as given (``(c, 1, 1)`` for a 2-D X).
    y_map_shape_ : tuple of int
        ``(c, h, w)`` of Y's maps as given.
    algorithm_ : str
        The route that ran: "moments", "svd", or "mixed" (moments, some
        frequencies recomputed by SVD).
    n_samples_seen_ : int
        Samples seen by `fit`, or by all `partial_fit` calls since.
    n_features_in_ : int
        Values per sample of X (``c * h * w``).
    n_features_y_ : int
        Values per sample of Y.
    feature_names_in_ : ndarray of shape (n_units_x,)
        Unit names of a 2-D X with string column names.

    See Also
    --------
    SVCCA : CCA (after SVD truncation) of activation matrices.
    skrep.torch.TorchActivationExtractor : ``reduction="maps"`` gives the
        maps this estimator takes.

    Notes
    -----
    **Input.** ``X`` and ``y`` are maps of shape ``(n, c, h, w)`` (rows are
    samples), or ``(n, c, length)`` for 1-D convolutions (``1 x length``
    maps), or activation matrices ``(n, c)``, which are ``1 x 1`` maps: then
    there is one frequency and DFT-CCA is plain CCA (:class:`SVCCA` with
    ``svd_components=None``). Units are channels: the invariances below are
    maps of the channel vector applied alike at every position.

    **Math.** With :math:`\hat x_i(f) \in \mathbb{C}^{c}` the 2-D DFT of
    sample :math:`i`'s maps at spatial frequency :math:`f`, centred over
    the samples, each frequency's Gram matrices

    .. math::

        \Sigma_{xx}(f) = \sum_i \hat x_i(f) \hat x_i(f)^H, \quad
        \Sigma_{yy}(f), \quad
        \Sigma_{xy}(f) = \sum_i \hat x_i(f) \hat y_i(f)^H

    give the canonical correlations at :math:`f`: the singular values
    :math:`\rho_1(f) \geq \rho_2(f) \geq \dots` of
    :math:`\Sigma_{xx}^{-1/2} \Sigma_{xy} \Sigma_{yy}^{-1/2}`, one per pair
    of non-null directions. Let the data be closed under circular
    translation: every sample's maps shifted by every offset :math:`s`, with
    the (sample, offset) pairs as rows and the :math:`c\,h\,w` flattened
    values as units. The shift theorem, :math:`\widehat{x^{(s)}}(f) =
    e^{-2\pi i \langle f, s \rangle} \hat x(f)`, makes the covariance of the
    flattened maps block-circulant in position; the unitary DFT over the
    positions makes it block-diagonal, with block :math:`h w\,\Sigma(f)` at
    frequency :math:`f` (the phases cancel within a frequency and the sum
    over offsets of :math:`e^{-2\pi i \langle f - f', s \rangle}` vanishes
    between two). CCA is invariant to that unitary change of basis, so the
    canonical correlations of the closure are, as a multiset, the union over
    all :math:`h w` frequencies of the :math:`\rho_j(f)`
    ([1]_, Theorem 1). This estimator's correlations are exactly those of
    the closure of the maps centred over the samples (centring every
    frequency is centring every unit, and over a closure a non-constant
    frequency has mean 0), and the similarity is their mean over the
    closure's pairs,

    .. math::

        \bar\rho = \frac{1}{m} \sum_{f} \sum_{j \leq p(f)} \rho_j(f), \qquad
        m = \min\Big(\sum_f r_x(f), \sum_f r_y(f)\Big),

    with :math:`r(f)` the rank at :math:`f` and :math:`p(f) = \min(r_x(f),
    r_y(f))`. When the ranks cross between frequencies, the closure's extra
    pairs are directions of one view at a frequency where the other has
    none: correlation 0, counted in :math:`m`. Maps are real, so
    :math:`\hat x(-f) = \overline{\hat x(f)}` gives the same correlations
    as :math:`f`: only one frequency of each pair is computed (counted
    twice, ``frequency_weights_``); those equal to their negation are real
    and run in real arithmetic. The rank rule applies to the union of every
    frequency's singular values (the closure's spectrum), so frequencies
    where a map holds only round-off take no pair.

    The reference code [2]_ centres every frequency as here and reports
    each frequency's pairs separately; skrep averages over the closure's
    pairs, so that the similarity is that of plain CCA on the closure,
    whatever the ranks.

    **Different spatial sizes.** As in the reference code [2]_, the views are
    compared on the frequencies their grids share: each axis of the larger
    maps is resampled to the smaller size by Fourier (band-limited)
    resampling (:func:`scipy.signal.resample`: the DFT cut to the smaller
    grid's frequencies, amplitude kept, the two components at the new
    Nyquist frequency folded into one so that the maps stay real; the
    reference code keeps one of them as a complex coefficient). When one
    size divides the other and the larger maps hold no higher frequency,
    this is decimation. A 2-D view (``1 x 1`` maps) against maps compares it
    with their constant (DC) frequency: the spatial means.

    **Held-out data.** `fit` learns each frequency's canonical directions;
    `score` projects the DFT coefficients of the data it is given on them,
    centres the variates on that data, and averages, with the weights and
    denominator above, the real part of each pair's complex correlation,
    which is the correlation of the real variates over the closure. A
    variate that is constant on that data counts 0, with a warning.

    **Invariances.** Any invertible linear map of the channels applied at
    every position, any constant added to a unit (channel, position), and a
    circular translation of one view's maps (the same for every sample, on
    maps of the common size) leave the in-sample similarity unchanged.

    **Phases and streaming.** Each complex pair has a deterministic phase:
    X's unit-norm variate has a real positive inner product with the
    channel it loads on most (``svd_flip``'s rule). `partial_fit`
    accumulates each frequency's means and Gram matrices exactly (memory
    grows with the frequencies times the channels squared, not with the
    samples) and decomposes once, when a fitted attribute or `score` is
    first used.

    References
    ----------
    .. [1] M. Raghu, J. Gilmer, J. Yosinski, J. Sohl-Dickstein. "SVCCA:
       Singular Vector Canonical Correlation Analysis for Deep Learning
       Dynamics and Interpretability". NeurIPS 2017; the section on
       convolutional layers (Theorem 1, proved in the appendix).
    .. [2] google/svcca, ``dft_ccas.py`` (``fourier_ccas``,
       ``fft_resize``): the authors' reference implementation.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import DFTCCA
    >>> rng = np.random.RandomState(0)
    >>> maps = rng.randn(300, 4, 8, 8)
    >>> mixed = np.einsum("nchw,cd->ndhw", maps, rng.randn(4, 6))
    >>> layer_b = mixed + 0.5 * rng.randn(300, 6, 8, 8)
    >>> est = DFTCCA().fit(maps[:200], layer_b[:200])
    >>> est.canonical_correlations_.shape, est.n_components_
    ((8, 8, 4), 256)
    >>> round(est.score(maps[200:], layer_b[200:]), 2)
    0.91

    A layer with half the resolution is compared on the shared frequencies:

    >>> pooled = layer_b.reshape(300, 6, 4, 2, 4, 2).mean(axis=(3, 5))
    >>> DFTCCA().fit(maps, pooled).map_size_
    (4, 4)
    """

    _parameter_constraints: dict = {
        "rank_tol": [Interval(Real, 0, 1, closed="left")],
        "algorithm": [StrOptions({"auto", "moments", "svd"})],
    }

    def __init__(self, *, rank_tol=1e-6, algorithm="auto"):
        self.rank_tol = rank_tol
        self.algorithm = algorithm

    def __skrep_tags__(self):
        maps = (
            "shift",
            "isotropic_scaling",
            "unit_scaling",
            "unit_permutation",
            "orthogonal",
            "invertible_linear",
        )
        return SkrepTags(maximum=1.0, invariances=both_views(*maps))

    # -- validation ----------------------------------------------------------

    def _validate_views(self, X, y, *, reset=True, ensure_min_samples=2):
        X, x_shape = _as_rows(X, "X")
        y, y_shape = _as_rows(y, "y")
        X, Y = super()._validate_views(
            X, y, reset=reset, ensure_min_samples=ensure_min_samples
        )
        shapes = (x_shape or (X.shape[1], 1, 1), y_shape or (Y.shape[1], 1, 1))
        if reset:
            self._map_shapes = shapes
        else:
            self._check_shapes(shapes)
        return X, Y

    def _validate_heldout(self, X, y, *, ensure_min_samples=2):
        check_is_fitted(self)
        X, x_shape = _as_rows(X, "X")
        dtype = self._view_dtype
        X = validate_data(
            self,
            X,
            reset=False,
            dtype=list(dtype),
            ensure_min_samples=ensure_min_samples,
        )
        y, y_shape = _as_rows(y, "y")
        Y = self._validate_second_view(y, X.shape[0])
        self._check_shapes(
            (x_shape or (X.shape[1], 1, 1), y_shape or (Y.shape[1], 1, 1))
        )
        return X, Y

    def _check_shapes(self, shapes):
        for name, given, fitted in zip(("X", "y"), shapes, self._map_shapes):
            if tuple(given) != tuple(fitted):
                raise ValueError(
                    f"{name} holds maps of shape {tuple(given)} per sample "
                    f"(channels, height, width), but {type(self).__name__} was "
                    f"fitted on maps of shape {tuple(fitted)}."
                )

    # -- fitting -------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the canonical directions of both layers at every frequency.

        Parameters
        ----------
        X : array-like of shape (n_samples, c, h, w), (n_samples, c, length) \
                or (n_samples, c)
            Maps of the first layer (rows are samples, then channels, then
            positions); a 2-D X is ``1 x 1`` maps.
        y : array-like of shape (n_samples, c', h', w'), (n_samples, c', \
                length), (n_samples, c') or (n_samples,)
            Maps of the second layer on the same samples (a 1-D array is one
            channel). Spatial sizes may differ from X's (resampled, see Notes).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._start_fit()
        X, Y = self._validate_views(X, y)
        result, moments = fit_spectral_cca(
            X,
            Y,
            *self._map_shapes,
            rank_tol=self.rank_tol,
            algorithm=self.algorithm,
        )
        self._accumulator = moments
        self.n_samples_seen_ = X.shape[0]
        self._set_result(result, moments)
        return self

    def _new_accumulator(self, n_units_x, n_units_y):
        return SpectralMoments(*self._map_shapes)

    def _fit_accumulator(self, accumulator):
        result = spectral_cca_from_moments(accumulator, rank_tol=self.rank_tol)
        self._set_result(result, accumulator)
        if result.weak.any():
            warn(
                f"At {int(result.weak.sum())} frequenc(ies) some kept directions "
                "are so weak (singular value below 1e-4 of that frequency's "
                "largest) that the streamed moments may have lost digits for "
                "them; fit on all samples at once (algorithm='auto' or 'svd').",
                PrecisionWarning,
            )

    def _set_result(self, result, moments):
        plan = result.plan
        self._result = result
        self._shifts = moments.channel_means()
        self.canonical_correlations_ = plan.to_grid(result.correlations)
        self.n_pairs_ = plan.to_grid(result.n_pairs)
        self.n_components_ = result.n_components
        self.x_rank_, self.y_rank_ = result.x_rank, result.y_rank
        area = plan.size[0] * plan.size[1]
        x_shape, y_shape = moments.x_shape, moments.y_shape
        self.n_dropped_units_ = np.array(
            [x_shape[0] * area - result.x_rank, y_shape[0] * area - result.y_rank]
        )
        self.x_rotations_ = result.x_rotations
        self.y_rotations_ = result.y_rotations
        self.frequencies_ = np.stack([plan.rows, plan.cols], axis=1)
        self.frequency_weights_ = plan.weights.copy()
        self.map_size_ = tuple(plan.size)
        self.x_map_shape_, self.y_map_shape_ = x_shape, y_shape
        self.algorithm_ = result.route
        self._warn_degenerate(result, moments)

    def _warn_degenerate(self, result, moments):
        """Warn once per fit about null directions and in-sample bias."""
        n = self.n_samples_seen_
        h, w = result.plan.size
        weights = result.plan.weights
        dead = None
        for name, shape, rank in (
            ("X", moments.x_shape, result.x_rank),
            ("Y", moments.y_shape, result.y_rank),
        ):
            spanned = h * w * min(shape[0], n - 1)
            if rank >= spanned:
                continue
            if dead is None:
                dead = moments.constant_channels()
            n_dead = int(np.count_nonzero(dead[0 if name == "X" else 1]))
            warn(
                f"{name} has {spanned - rank} null direction(s) over its {h} x {w} "
                f"frequencies: {n_dead} constant (dead) channel(s) of "
                f"{shape[0]}, and duplicate or collinear channels or frequencies "
                "where the maps carry no signal. They were dropped (relative "
                f"tolerance rank_tol={self.rank_tol}); {name} keeps {rank} "
                f"direction(s) and {self.n_components_} canonical pair(s) are "
                "formed.",
                DeadUnitWarning,
            )
        excess = np.maximum(result.x_ranks + result.y_ranks - (n - 1), 0)
        n_trivial = int(weights @ np.minimum(excess, result.n_pairs))
        if n_trivial:
            warn(
                f"More channels than samples: at some frequencies the kept "
                f"directions of X and Y exceed the {n - 1} dimensions that {n} "
                f"centred samples span, so {n_trivial} in-sample canonical "
                "correlation(s) are trivially 1. Score held-out data (score on a "
                "test split, or cross_val_score) for a meaningful similarity.",
                InSampleBiasWarning,
            )

    # -- scoring -------------------------------------------------------------

    def _score(self, X, Y):
        """Mean correlation of the fitted pairs of variates on this data."""
        correlations, constant = spectral_correlations(
            X, Y, *self._map_shapes, self._result, shifts=self._shifts
        )
        n_constant = int(self._result.plan.weights @ constant.sum(axis=1))
        if n_constant:
            warn(
                f"{n_constant} canonical variate pair(s) are constant (dead) on "
                "this data; their correlation counts as 0.",
                DeadUnitWarning,
            )
        return self._result.similarity(correlations)
