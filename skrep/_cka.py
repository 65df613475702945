"""Centred kernel alignment between two layers (Kornblith et al. 2019)."""

from __future__ import annotations

from numbers import Real

from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import StrOptions

from skrep._core.cka import (
    LinearCKAMoments,
    gram_cka,
    linear_cka,
    linear_cka_from_moments,
)
from skrep._core.moments import Moments
from skrep._params import Interval
from skrep.base import SkrepTags, StreamingMixin, both_views
from skrep.exceptions import DeadUnitWarning, warn

__all__ = ["CKA", "cka"]


class CKA(StreamingMixin, BaseEstimator):
    r"""Centred kernel alignment between two layers (Kornblith et al. 2019).

    Compares two representations of the same samples through the
    similarity of their samples: the Gram matrices :math:`K = k(X, X)` and
    :math:`L = l(Y, Y)` are centred and aligned, as a correlation of
    matrices. Linear CKA is the RV coefficient of the two views. CKA is
    invariant to rotations, reflections, isotropic scaling and shifts of
    either view, but not to general invertible maps (nor to rescaling
    single units): unlike CCA, it weighs directions by their variance.

    Parameters
    ----------
    kernel : {"linear", "rbf"}, default="linear"
        The kernel on each view's samples. "linear": :math:`k(x, x') =
        \langle x, x' \rangle`, computed from the units' cross-products, so
        it streams exactly with `partial_fit`. "rbf": :math:`k(x, x') =
        \exp(-\|x - x'\|^2 / (2 \sigma^2))`, with an ``n x n`` matrix (no
        streaming).
    debiased : bool, default=False
        Use the unbiased HSIC estimator (Song et al. 2012) instead of the
        biased one, so that independent views score near 0 even with few
        samples (biased linear CKA of independent views is far above 0 when
        the units are many relative to the samples). Needs at least 4
        samples. Debiased CKA can be slightly negative.
    sigma : float or None, default=None
        RBF bandwidth as a multiple of each view's median Euclidean distance
        between distinct samples (Kornblith et al.'s convention; their
        experiments use 0.2, 0.4 and 0.8); None means 1.0, the median itself.
        Ignored with the linear kernel.
    algorithm : {"auto", "moments", "gram"}, default="auto"
        How linear CKA is computed. "moments": from the centred
        cross-products :math:`X_c^T X_c`, :math:`Y_c^T Y_c`, :math:`X_c^T
        Y_c` in one blocked pass (memory grows with the units squared).
        "gram": from the ``n x n`` Gram matrices, holding one at a time
        (memory grows with the samples squared). "auto" takes "gram" when
        the samples are fewer than half the units of both views together
        (wide layers, where it is faster and smaller), "moments" otherwise.
        The RBF kernel always takes "gram". `partial_fit` always accumulates
        moments.

    Attributes
    ----------
    cka_ : float
        CKA of the fitted views (in-sample), in [0, 1] (biased) or about
        [-1, 1] (debiased); 0 when a view has no variation (every unit
        constant).
    hsic_xy_ : float
        HSIC of the two views on the fitted data: biased, divided by
        :math:`(n-1)^2`, or unbiased (``debiased=True``).
    hsic_xx_ : float
        HSIC of X with itself.
    hsic_yy_ : float
        HSIC of Y with itself.
    x_constant_ : ndarray of bool of shape (n_units_x,)
        X units that are constant (dead) on the fitted data; they are left
        out of the kernels.
    y_constant_ : ndarray of bool of shape (n_units_y,)
        Y units that are constant (dead) on the fitted data.
    x_bandwidth_ : float
        RBF bandwidth :math:`\sigma` of X on the fitted data, in the units
        of X (``kernel="rbf"`` only).
    y_bandwidth_ : float
        RBF bandwidth of Y on the fitted data (``kernel="rbf"`` only).
    algorithm_ : str
        The route that ran, "moments" or "gram".
    n_samples_seen_ : int
        Rows seen by `fit`, or by all `partial_fit` calls since.
    n_features_in_ : int
        Number of units of X.
    n_features_y_ : int
        Number of units of Y.
    feature_names_in_ : ndarray of shape (n_units_x,)
        Unit names of X, when X has string column names.

    See Also
    --------
    cka : The in-sample similarity as one float.
    SVCCA : Canonical correlations after SVD truncation.
    PWCCA : Projection-weighted canonical correlations.

    Notes
    -----
    With :math:`H = I_n - \frac{1}{n} 1 1^T` the centring matrix, the
    Hilbert-Schmidt independence criterion and CKA are

    .. math::

        \mathrm{HSIC}(K, L) = \frac{\operatorname{tr}(K H L H)}{(n-1)^2},
        \qquad
        \mathrm{CKA}(K, L) = \frac{\mathrm{HSIC}(K, L)}
            {\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}}.

    For the linear kernel, with :math:`X_c, Y_c` the column-centred views,
    :math:`\operatorname{tr}(KHLH) = \|X_c^T Y_c\|_F^2`, so

    .. math::

        \mathrm{CKA}_{\text{linear}}(X, Y) =
        \frac{\|X_c^T Y_c\|_F^2}{\|X_c^T X_c\|_F \, \|Y_c^T Y_c\|_F}.

    **Debiased.** The unbiased estimator (Song et al. 2012) replaces HSIC
    by, with :math:`\tilde K, \tilde L` the Gram matrices with a zero
    diagonal,

    .. math::

        \mathrm{HSIC}_u(K, L) = \frac{1}{n(n-3)} \Big[
            \operatorname{tr}(\tilde K \tilde L)
            + \frac{1^T \tilde K 1 \, 1^T \tilde L 1}{(n-1)(n-2)}
            - \frac{2}{n-2} 1^T \tilde K \tilde L 1 \Big].

    For the linear kernel it needs, besides the cross-products, only
    :math:`\sum_i a_i b_i`, :math:`\sum_i a_i^2` and :math:`\sum_i b_i^2`,
    with :math:`a_i = \|x_{c,i}\|^2` and :math:`b_i = \|y_{c,i}\|^2` the
    squared norms of the centred rows:
    :math:`n(n-3)\,\mathrm{HSIC}_u = \|X_c^T Y_c\|_F^2 - \frac{n}{n-2}
    \sum_i a_i b_i + \frac{\sum_i a_i \sum_i b_i}{(n-1)(n-2)}`. These sums
    are accumulated exactly batch by batch (moved with the running mean),
    so debiased linear CKA streams too.

    **RBF.** :math:`\sigma` = ``sigma`` times the median Euclidean distance
    between the view's distinct samples (the paper's words; its public code
    takes the median of the squared distances with the ``n`` zeros of the
    diagonal included, a difference that vanishes as ``n`` grows). The
    bandwidth is not a learned parameter: `score` computes it on the data
    it is given, so `score` is exactly the CKA of that data (``x_bandwidth_``
    and ``y_bandwidth_`` record the fitted data's). With the median
    heuristic, RBF CKA is invariant to isotropic scaling; as ``sigma``
    grows it tends to linear CKA [6]_. Only one ``n x n`` matrix is held at
    a time: :math:`K` is built, turned into the kernel and centred in
    place, and :math:`L` comes in square blocks of its upper triangle.
    Where the median distance is 0 (more than half the pairs of samples
    coincide, as with class labels or a layer silent on most inputs, where
    the paper's rule gives no bandwidth), the median over the pairs of
    samples that differ is used.

    **Constant (dead) units** (standard deviation at most :math:`10^{-12}`
    of the root-mean-square value, skrep's one rule) are left out of the
    kernels, where their centred values are zero anyway, with a
    :class:`~skrep.exceptions.DeadUnitWarning` (once per fit). A view whose
    every unit is constant makes CKA 0/0: it is reported as 0, with the
    warning, in `fit` and `score` alike, so that layer grids stay finite.

    **Held-out data.** CKA learns nothing from the data: `score` computes
    CKA on the views it is given, so on held-out rows it is the held-out
    similarity and is not biased by the fit (the estimator promises no
    in-sample bias). Biased CKA is, however, biased upwards when the units
    are many relative to the samples, whatever the rows; ``debiased=True``
    estimates each HSIC without bias, which removes most of it (a ratio of
    unbiased estimates is not exactly unbiased).

    **Streaming** (linear kernel). `partial_fit` accumulates the means and
    centred cross-products of both views (plus the row terms when
    ``debiased=True``), exactly: memory grows with the units squared, not
    with the rows, and CKA is computed once, when an attribute or `score`
    is first used. Over any split of the rows it equals `fit`, to
    round-off. A `fit` that took the Gram route keeps no moments, so
    `partial_fit` cannot continue it.

    References
    ----------
    .. [1] S. Kornblith, M. Norouzi, H. Lee, G. Hinton. "Similarity of
       Neural Network Representations Revisited". ICML 2019.
    .. [2] L. Song, A. Smola, A. Gretton, J. Bedo, K. Borgwardt. "Feature
       Selection via Dependence Maximization". JMLR 13, 2012.
    .. [3] A. Gretton, O. Bousquet, A. Smola, B. Schölkopf. "Measuring
       Statistical Dependence with Hilbert-Schmidt Norms". ALT 2005.
    .. [4] G. J. Székely, M. L. Rizzo. "Partial distance correlation with
       methods for dissimilarities". Annals of Statistics 42(6), 2014.
    .. [5] T. Nguyen, M. Raghu, S. Kornblith. "Do Wide and Deep Networks
       Learn the Same Things? Uncovering How Neural Network Representations
       Vary with Width and Depth". ICLR 2021.
    .. [6] S. A. Alvarez. "Gaussian RBF Centered Kernel Alignment (CKA) in
       the Large Bandwidth Limit". arXiv:2112.09305, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import CKA
    >>> rng = np.random.RandomState(0)
    >>> layer_a = rng.randn(300, 20)
    >>> rotation = np.linalg.qr(rng.randn(20, 20))[0]
    >>> layer_b = 3.0 * layer_a @ rotation + 1.0  # rotated, scaled, shifted
    >>> est = CKA().fit(layer_a[:200], layer_b[:200])
    >>> round(est.cka_, 6)
    1.0
    >>> round(est.score(layer_a[200:], layer_b[200:]), 6)
    1.0

    Independent views: with 32 samples of 8 units, biased CKA is about 0.2,
    debiased CKA about 0.

    >>> pairs = [(rng.randn(32, 8), rng.randn(32, 8)) for _ in range(20)]
    >>> biased = [CKA().fit(a, b).cka_ for a, b in pairs]
    >>> debiased = [CKA(debiased=True).fit(a, b).cka_ for a, b in pairs]
    >>> round(float(np.mean(biased)), 1), bool(abs(np.mean(debiased)) < 0.05)
    (0.2, True)

    Streaming over batches of rows gives the same similarity:

    >>> streamed = CKA()
    >>> for rows in np.array_split(np.arange(200), 4):
    ...     _ = streamed.partial_fit(layer_a[rows], layer_b[rows])
    >>> round(streamed.cka_, 6)
    1.0
    """

    _parameter_constraints: dict = {
        "kernel": [StrOptions({"linear", "rbf"})],
        "debiased": ["boolean"],
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "algorithm": [StrOptions({"auto", "moments", "gram"})],
    }

    def __init__(
        self, kernel="linear", *, debiased=False, sigma=None, algorithm="auto"
    ):
        self.kernel = kernel
        self.debiased = debiased
        self.sigma = sigma
        self.algorithm = algorithm

    def __skrep_tags__(self):
        # Distances and inner products of centred samples do not see shifts,
        # rotations or permutations of the units; the ratio does not see a
        # common scale (the RBF bandwidth scales with the median distance).
        return SkrepTags(
            maximum=1.0,
            invariances=both_views(
                "shift", "isotropic_scaling", "unit_permutation", "orthogonal"
            ),
            streaming=self.kernel == "linear" and self.algorithm != "gram",
            held_out_below_in_sample=False,
        )

    # -- fitting ------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute CKA of the two views (and, for RBF, their bandwidths).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer: rows are samples, columns units.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples (a 1-D
            array is one unit).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._start_fit()
        X, Y = self._validate_views(X, y)
        self._check_n_samples(X.shape[0])
        if self._route(X.shape[0], X.shape[1], Y.shape[1]) == "moments":
            return self._fit_by_accumulating(X, Y)
        # The Gram route keeps no moments: partial_fit cannot continue it.
        self._accumulator = None
        self.n_samples_seen_ = X.shape[0]
        self._set_result(self._similarity(X, Y, "gram"))
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """Add a batch of rows (linear kernel only); lazy and exact.

        The first call fixes the units of both views; each call adds its
        rows to exact running moments (means, centred cross-products and,
        with ``debiased=True``, the row terms of the unbiased estimator).
        CKA is computed once, when an attribute or `score` is first used,
        and equals `fit` on all the rows seen. After a `fit` that took the
        moments route, `partial_fit` continues from the rows it saw.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            A batch of the first layer's activations (one row or more).
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            The same samples in the second layer.

        Returns
        -------
        self : object
            The estimator, holding the rows seen so far.

        Raises
        ------
        ValueError
            With ``kernel="rbf"``, which needs all the rows at once, or
            after a `fit` that took the Gram route.
        """
        self._check_streamable()
        fitted = "n_samples_seen_" in self.__dict__
        if fitted and self.__dict__.get("_accumulator") is None:
            raise ValueError(
                "This CKA was fitted through the Gram matrices (algorithm_="
                "'gram'), which keep no moments, so partial_fit cannot continue "
                "it. Fit with algorithm='moments', or start afresh with "
                "partial_fit alone."
            )
        return super().partial_fit(X, y)

    def merge(self, other):
        """Fold in the rows another CKA has seen (linear kernel); exact.

        ``a.merge(b)`` after ``a.partial_fit(X1, y1)`` and
        ``b.partial_fit(X2, y2)`` equals `fit` on both batches (to
        round-off), debiased or not, so estimators filled on separate
        workers reduce to one. CKA is computed when a result is used.

        Parameters
        ----------
        other : CKA
            With the same parameters and units, fitted (moments route) or
            partially fitted on other rows. Not modified.

        Returns
        -------
        self : object
            This estimator, now holding the rows of both.

        Raises
        ------
        ValueError
            With ``kernel="rbf"``, or when either estimator was fitted
            through the Gram matrices (it keeps no moments).
        """
        self._check_streamable()
        for est in (self, other):
            fitted = "n_samples_seen_" in getattr(est, "__dict__", {})
            if fitted and est.__dict__.get("_accumulator") is None:
                raise ValueError(
                    "A CKA fitted through the Gram matrices (algorithm_='gram') "
                    "keeps no moments and cannot merge; fit with "
                    "algorithm='moments' or partial_fit."
                )
        return super().merge(other)

    def _check_streamable(self):
        if self.kernel != "linear":
            raise ValueError(
                f"CKA(kernel={self.kernel!r}) cannot be fitted by partial_fit: "
                "the kernel of two samples in different batches, and the median "
                "distance that sets the bandwidth, need all the rows at once. "
                "Use kernel='linear' (exact streaming) or fit on all the rows."
            )

    def _check_n_samples(self, n_samples):
        if self.debiased and n_samples < 4:
            raise ValueError(
                "CKA(debiased=True) needs at least 4 samples: the unbiased HSIC "
                f"estimator divides by n (n - 3). Got {n_samples}."
            )

    def _route(self, n_samples, n_units_x, n_units_y):
        if self.kernel != "linear":
            if self.algorithm == "moments":
                raise ValueError(
                    "algorithm='moments' computes linear CKA only; "
                    f"kernel={self.kernel!r} needs the Gram matrices "
                    "(algorithm='auto' or 'gram')."
                )
            return "gram"
        if self.algorithm != "auto":
            return self.algorithm
        return "gram" if 2 * n_samples < n_units_x + n_units_y else "moments"

    def _new_accumulator(self, n_units_x, n_units_y):
        self._check_streamable()
        return LinearCKAMoments(n_units_x, n_units_y, debiased=self.debiased)

    def _fit_accumulator(self, accumulator):
        self._check_streamable()
        self._check_n_samples(accumulator.n_samples)
        if self.debiased and not accumulator.debiased:
            raise ValueError(
                "These rows were accumulated with debiased=False, without the "
                "row terms the unbiased estimator needs; fit again with "
                "debiased=True."
            )
        result = linear_cka_from_moments(accumulator, debiased=self.debiased)
        self._set_result(result)

    def _similarity(self, X, Y, route):
        if route == "moments":
            return linear_cka(X, Y, debiased=self.debiased)
        return gram_cka(
            X,
            Y,
            kernel=self.kernel,
            debiased=self.debiased,
            sigma=1.0 if self.sigma is None else self.sigma,
        )

    def _set_result(self, result):
        self.cka_ = result.cka
        self.hsic_xy_ = result.hsic_xy
        self.hsic_xx_ = result.hsic_xx
        self.hsic_yy_ = result.hsic_yy
        self.x_constant_ = result.x_constant
        self.y_constant_ = result.y_constant
        self.algorithm_ = result.route
        if self.kernel == "rbf":
            self.x_bandwidth_ = result.x_bandwidth
            self.y_bandwidth_ = result.y_bandwidth
        n_x, n_y = int(result.x_constant.sum()), int(result.y_constant.sum())
        if n_x or n_y:
            warn(
                f"{n_x} unit(s) of X and {n_y} unit(s) of Y are constant (dead): "
                "their standard deviation is at most 1e-12 of their "
                "root-mean-square value; they carry no information and are left "
                "out of the kernels." + _degenerate_note(result),
                DeadUnitWarning,
            )
        elif result.x_degenerate or result.y_degenerate:
            warn(_degenerate_note(result).strip(), DeadUnitWarning)

    # -- scoring ------------------------------------------------------------

    def score(self, X, y):
        """CKA of the two views given (higher is more similar).

        Nothing learned in `fit` enters: this is CKA computed on ``X`` and
        ``y`` (RBF bandwidths included), so on held-out rows it is the
        held-out similarity. On the fitted data it equals ``cka_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples.

        Returns
        -------
        score : float
            CKA, in [0, 1] (about [-1, 1] with ``debiased=True``); 0 when a
            view has no variation, with a
            :class:`~skrep.exceptions.DeadUnitWarning`.
        """
        return super().score(X, y)

    _scores_from_fit = True

    def _in_sample_score(self):
        return float(self.cka_)

    def _score(self, X, Y):
        self._check_n_samples(X.shape[0])
        route = self._route(X.shape[0], X.shape[1], Y.shape[1])
        return _checked_cka(self._similarity(X, Y, route))

    def _held_out_accumulator(self, n_units_x, n_units_y):
        if self.kernel != "linear":
            return None  # the RBF kernel needs every pair of rows
        if self.debiased:
            return LinearCKAMoments(n_units_x, n_units_y, debiased=True)
        return Moments(n_units_x, n_units_y)

    def _score_moments(self, moments):
        """`_score` from the moments of the rows (linear kernel)."""
        self._check_n_samples(moments.n_samples)
        return _checked_cka(linear_cka_from_moments(moments, debiased=self.debiased))


def _checked_cka(result):
    """CKA of a result, warning when a centred kernel is zero."""
    if result.x_degenerate or result.y_degenerate:
        warn(_degenerate_note(result).strip(), DeadUnitWarning)
    return result.cka


def _degenerate_note(result):
    views = [
        name
        for name, flag in (("X", result.x_degenerate), ("Y", result.y_degenerate))
        if flag
    ]
    if not views:
        return ""
    which = " and ".join(views)
    return (
        f" The centred kernel of {which} is zero (every unit constant, or "
        "samples the kernel cannot tell apart): CKA is 0/0 and is reported "
        "as 0."
    )


def cka(X, Y, **params):
    """CKA of two activation matrices, in-sample, as a float.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_units_x)
        Activations of the first layer (rows are samples).
    Y : array-like of shape (n_samples, n_units_y)
        Activations of the second layer on the same samples.
    **params
        Parameters of :class:`CKA` (``kernel``, ``debiased``, ``sigma``,
        ``algorithm``).

    Returns
    -------
    similarity : float
        Centred kernel alignment of the two views.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import cka
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 8)
    >>> rotation = np.linalg.qr(rng.randn(8, 8))[0]
    >>> round(cka(X, 2 * X @ rotation + 1), 6)
    1.0
    >>> round(cka(X, 2 * X @ rotation + 1, kernel="rbf", sigma=0.8), 6)
    1.0
    """
    return float(CKA(**params).fit(X, Y).cka_)
