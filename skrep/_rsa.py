"""Representational similarity analysis (Kriegeskorte, Mur & Bandettini 2008).

:class:`RSA` compares two layers through their representational
dissimilarity matrices (RDMs): for each layer, the dissimilarity of every
pair of samples' activation patterns; then the rank (or linear) correlation
of the two RDMs. :func:`rsa` is the same as a function, :func:`rdm` returns
one layer's RDM. The numerics live in :mod:`skrep._core.rdm`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import squareform
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions, validate_params

from skrep._core.correlation import into_safe_range, unit_stats
from skrep._core.rdm import COMPARISONS, METRICS, condensed_rdm, rdm_similarity
from skrep.base import SkrepTags, TwoViewMixin, both_views, host_arrays
from skrep.exceptions import DeadUnitWarning, warn

__all__ = ["RSA", "rdm", "rsa"]

#: Fewest samples an RDM comparison accepts: 3 samples give 3 dissimilarities.
_MIN_SAMPLES = 3


class RSA(TwoViewMixin, BaseEstimator):
    r"""Representational similarity analysis: correlate the two layers' RDMs.

    For each layer, the representational dissimilarity matrix (RDM) holds the
    dissimilarity of the activation patterns of every pair of samples
    (stimuli); the similarity of the layers is the correlation of their
    RDMs' upper triangles. Layers of different widths, and networks and
    brain recordings, compare directly: only the geometry of the samples
    matters.

    Parameters
    ----------
    rdm_metric : {"correlation", "euclidean", "sqeuclidean"}, default="correlation"
        Dissimilarity of two samples' patterns: "correlation" is one minus
        their Pearson correlation across the units (the paper's choice);
        "euclidean" the euclidean distance; "sqeuclidean" its square
        (rsatoolbox's "euclidean", up to the factor 1 / n_units). Equal to
        :func:`scipy.spatial.distance.pdist` with the same metric.
    compare : {"spearman", "pearson", "kendall"}, default="spearman"
        Correlation of the two RDMs: Spearman's rank correlation (the
        paper's choice: no linear relation between the RDMs is assumed),
        Pearson's linear correlation, or Kendall's :math:`\tau_b`. Equal to
        :func:`scipy.stats.spearmanr`, :func:`~scipy.stats.pearsonr` and
        :func:`~scipy.stats.kendalltau` on the condensed RDMs.

    Attributes
    ----------
    n_features_in_ : int
        Number of units of X.
    n_features_y_ : int
        Number of units of Y.
    feature_names_in_ : ndarray of shape (n_units_x,)
        Unit names of X, when X has string column names.

    See Also
    --------
    rsa : The same, as a function.
    rdm : The RDM of one layer.
    SVCCA : Similarity of the subspaces the layers span.

    Notes
    -----
    With :math:`x_i \in \mathbb{R}^{p}` the pattern of sample :math:`i`
    (a row of X) and :math:`\bar x_i` its mean over the units, the RDM
    entries are

    .. math::

        D_{ij} = 1 - \frac{(x_i - \bar x_i)^\top (x_j - \bar x_j)}
                          {\lVert x_i - \bar x_i \rVert \,
                           \lVert x_j - \bar x_j \rVert}
        \quad\text{(correlation)}, \qquad
        D_{ij} = \lVert x_i - x_j \rVert_2 \quad\text{(euclidean)},

    and the similarity of the layers is

    .. math::

        \operatorname{RSA}(X, Y) = \operatorname{corr}\big(
            (D^X_{ij})_{i<j},\, (D^Y_{ij})_{i<j} \big),

    over the :math:`n(n-1)/2` pairs, with ``corr`` Pearson's correlation,
    Spearman's :math:`\rho` (Pearson's correlation of the average ranks, ties
    sharing the mean of their ranks) or Kendall's

    .. math::

        \tau_b = \frac{n_c - n_d}{\sqrt{(n_0 - t_X)(n_0 - t_Y)}},

    with :math:`n_c, n_d` the concordant and discordant pairs of pairs,
    :math:`n_0` all pairs of pairs and :math:`t_X, t_Y` those tied in one
    RDM. The score is in [-1, 1] and 1 for identical layers.

    **Nothing is learned.** `fit` only checks the views and records their
    widths; `score` computes both RDMs on the data it is given, so an
    in-sample score has no upward bias and a held-out score is the RSA of
    the held-out samples.

    **Invariances.** Euclidean RDMs do not change under shifts, rotations
    and reflections (orthogonal maps) or permutations of the units, and
    scale with them; correlation RDMs do not change under permutations or a
    common positive scaling of the units, but do change under per-unit
    shifts and rotations, which change each pattern's mean across the units.
    Neither is invariant to scaling units separately. Spearman and Kendall
    are also invariant to any increasing map of the dissimilarities
    ("euclidean" and "sqeuclidean" give the same score with them).

    **Constant patterns and units.** A sample whose pattern is constant
    across the units (e.g. all zero after a ReLU) has no correlation with
    anything; its correlation with every sample is taken as 0 (distance 1,
    where scipy returns NaN), by skrep's constant rule applied across the
    row (standard deviation at most 1e-12 of the root-mean-square value),
    with a :class:`~skrep.exceptions.DeadUnitWarning`. Constant (dead) units
    are kept, as in scipy: they add nothing to euclidean distances, but
    enter each pattern's mean and norm in correlation distances (`fit`
    warns). An RDM whose entries all agree (within 1e-10 of the largest, or
    of 1 for correlation distances), as when every unit or every pattern is
    constant, carries no information: the similarity is 0, with a
    :class:`~skrep.exceptions.DeadUnitWarning`. Never NaN.

    **Computation.** The RDMs come from blocks of Gram matrices (BLAS) in
    float64; distances much smaller than the norms they are computed from
    are recomputed from the rows' difference, so identical samples are at
    distance exactly 0. Integer-valued views (one-hot category models,
    binary codes, counts) take an exact route, so their tied distances stay
    tied (round-off would break ties at random and move the ranks). Pearson
    streams over the blocks (memory independent of the number of pairs);
    Spearman keeps one condensed RDM and its sort order at a time plus both
    RDMs' ranks as 32-bit integers, about 2.6 times the memory of one
    float64 condensed RDM (10,000 samples: 50 million pairs, 400 MB each);
    Kendall calls :func:`scipy.stats.kendalltau` on both condensed RDMs
    (slower, and about 7 times the memory of one). See
    :mod:`skrep._core.rdm`.

    **rsatoolbox.** rsatoolbox's "correlation" RDM is the same; its
    "euclidean" RDM is the squared distance divided by the number of units
    (``rdm_metric="sqeuclidean"`` up to that factor, which no correlation
    sees); with ``compare="spearman"`` or ``"kendall"`` the euclidean and
    squared euclidean RDMs give the same score. Its "kendall" is
    :math:`\tau_b` too (its "tau-a" is not offered here).

    References
    ----------
    .. [1] N. Kriegeskorte, M. Mur, P. Bandettini. "Representational
       similarity analysis -- connecting the branches of systems
       neuroscience". Frontiers in Systems Neuroscience 2:4, 2008.
    .. [2] H. Nili, C. Wingfield, A. Walther, L. Su, W. Marslen-Wilson,
       N. Kriegeskorte. "A toolbox for representational similarity
       analysis". PLoS Computational Biology 10(4), 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import RSA
    >>> rng = np.random.RandomState(0)
    >>> latent = rng.randn(200, 3)
    >>> layer1 = np.tanh(latent @ rng.randn(3, 20))
    >>> layer2 = np.tanh(latent @ rng.randn(3, 50)) + 0.1 * rng.randn(200, 50)
    >>> rsa = RSA().fit(layer1, layer2)
    >>> round(rsa.score(layer1, layer2), 2)
    0.91
    >>> round(rsa.score(layer1, rng.randn(200, 50)), 2)  # unrelated layer
    0.0
    >>> round(RSA().fit(layer1, layer1).score(layer1, layer1), 6)
    1.0

    Euclidean RDMs ignore rotations of the units:

    >>> rotated = layer1 @ np.linalg.qr(rng.randn(20, 20))[0]
    >>> euclidean = RSA(rdm_metric="euclidean", compare="pearson")
    >>> round(euclidean.fit(layer1, rotated).score(layer1, rotated), 6)
    1.0
    """

    _parameter_constraints: dict = {
        "rdm_metric": [StrOptions(set(METRICS))],
        "compare": [StrOptions(set(COMPARISONS))],
    }

    def __init__(self, rdm_metric="correlation", compare="spearman"):
        self.rdm_metric = rdm_metric
        self.compare = compare

    def __skrep_tags__(self):
        maps = ["isotropic_scaling", "unit_permutation"]
        if self.rdm_metric != "correlation":
            maps += ["shift", "orthogonal"]
        return SkrepTags(
            maximum=1.0,
            invariances=both_views(*maps),
            streaming=False,
            held_out_below_in_sample=False,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Check the views and record their widths (RSA learns nothing).

        Warns (:class:`~skrep.exceptions.DeadUnitWarning`) when a view has
        constant (dead) units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer: rows are samples (at least 3),
            columns units.
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples (a 1-D
            array is one unit).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, Y = self._validate_views(X, y, ensure_min_samples=_MIN_SAMPLES)
        n_x, n_y = _count_constant_units(X), _count_constant_units(Y)
        if n_x or n_y:
            warn(
                f"{n_x} unit(s) of X and {n_y} unit(s) of Y are constant (dead): "
                "their standard deviation is at most 1e-12 of their "
                "root-mean-square value. They add nothing to euclidean "
                "distances; correlation distances keep them in each pattern's "
                "mean and norm (a large constant unit makes every pattern alike).",
                DeadUnitWarning,
            )
        return self

    def score(self, X, y):
        """RSA of the two views on the data given: correlation of their RDMs.

        Both RDMs are computed from ``X`` and ``y`` (nothing comes from
        `fit`), so this is the held-out RSA when they are held-out data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_units_x)
            Activations of the first layer (at least 3 samples).
        y : array-like of shape (n_samples, n_units_y) or (n_samples,)
            Activations of the second layer on the same samples.

        Returns
        -------
        score : float
            The correlation of the condensed RDMs, in [-1, 1]; 0 when either
            RDM is constant (with a warning).
        """
        X, Y = self._validate_heldout(X, y, ensure_min_samples=_MIN_SAMPLES)
        return float(self._score(X, Y))

    def _score(self, X, Y):
        result = rdm_similarity(X, Y, self.rdm_metric, self.compare)
        for view, count in (
            ("X", result.x_constant_patterns),
            ("y", result.y_constant_patterns),
        ):
            if count:
                warn(
                    f"{count} of the {X.shape[0]} samples of {view} have a constant "
                    "activation pattern (every unit equal, e.g. all zero): their "
                    "correlation with any sample is undefined and taken as 0 "
                    "(correlation distance 1).",
                    DeadUnitWarning,
                )
        constant = [
            view
            for view, flag in (
                ("X", result.x_constant_rdm),
                ("y", result.y_constant_rdm),
            )
            if flag
        ]
        if constant:
            warn(
                f"The RDM of {' and '.join(constant)} is constant (every pair of "
                "samples equally dissimilar, e.g. every unit or every pattern "
                "constant): it carries no information, and the similarity is 0.",
                DeadUnitWarning,
            )
        return result.similarity


def _count_constant_units(V):
    """Count the constant (dead) units by skrep's rule, at any scale.

    Columns whose largest magnitude is far from 1 are first scaled by a power
    of two (exact): their squares would overflow or underflow float64, and
    an underflowed variance would make a varying unit look constant.
    """
    return int(np.count_nonzero(unit_stats(into_safe_range(V))[2]))


@validate_params(
    {
        "X": ["array-like"],
        "metric": [StrOptions(set(METRICS))],
        "square": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def rdm(X, metric="correlation", *, square=False):
    r"""Representational dissimilarity matrix of one layer.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_units)
        Activations: rows are samples (at least 2), columns units.
    metric : {"correlation", "euclidean", "sqeuclidean"}, default="correlation"
        Dissimilarity of two samples' patterns, as in :class:`RSA`.
    square : bool, default=False
        Return the square matrix (``n_samples**2`` entries) instead of the
        condensed upper triangle.

    Returns
    -------
    rdm : ndarray of shape (n_pairs,) or (n_samples, n_samples)
        The condensed RDM (``n_pairs = n_samples * (n_samples - 1) // 2``),
        in the order of
        :func:`scipy.spatial.distance.pdist` (pairs ``(0, 1), (0, 2), ...,
        (1, 2), ...``), or the square one (zero diagonal). float64. A sample
        whose pattern is constant (every unit equal) has correlation
        distance 1 to every sample, with a
        :class:`~skrep.exceptions.DeadUnitWarning`.

    Raises
    ------
    ValueError
        If the squared euclidean distances exceed float64's range
        (activations above about 1e154).

    See Also
    --------
    RSA : Compare two layers through their RDMs.

    Notes
    -----
    :math:`D_{ij} = 1 - r(x_i, x_j)` (correlation across the units),
    :math:`\lVert x_i - x_j \rVert_2` or :math:`\lVert x_i - x_j \rVert_2^2`,
    equal to ``scipy.spatial.distance.pdist(X, metric)`` except for constant
    patterns, computed from blocks of a Gram matrix (see :class:`RSA`).

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import rdm
    >>> X = np.array([[0.0, 3.0], [4.0, 0.0], [0.0, 0.0]])
    >>> rdm(X, "euclidean")
    array([5., 3., 4.])
    >>> rdm(X[:2], "euclidean", square=True)
    array([[0., 5.],
           [5., 0.]])
    >>> rdm(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 4.0, 6.0]]))
    array([2., 0., 2.])
    """
    (X,) = host_arrays(X)
    X = check_array(
        X, dtype=[np.float64, np.float32], ensure_min_samples=2, input_name="X"
    )
    distances, constant = condensed_rdm(X, metric)
    if not np.all(np.isfinite(distances)):
        raise ValueError(
            f"The {metric} distances exceed float64's range (activations above "
            "about 1e154). Divide the activations by a constant."
        )
    n_constant = int(constant.sum())
    if n_constant:
        warn(
            f"{n_constant} of the {X.shape[0]} samples have a constant activation "
            "pattern (every unit equal, e.g. all zero): their correlation with any "
            "sample is undefined and taken as 0 (correlation distance 1).",
            DeadUnitWarning,
        )
    return squareform(distances, checks=False) if square else distances


def rsa(X, Y, **params):
    """RSA of two activation matrices, as a float.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_units_x)
        Activations of the first layer (rows are samples, at least 3).
    Y : array-like of shape (n_samples, n_units_y)
        Activations of the second layer on the same samples.
    **params
        Parameters of :class:`RSA` (``rdm_metric``, ``compare``).

    Returns
    -------
    similarity : float
        The correlation of the two layers' RDMs, in [-1, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skrep import rsa
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 8)
    >>> round(rsa(X, 3 * X + 1), 6)
    1.0
    >>> round(rsa(X, X @ rng.randn(8, 8), rdm_metric="euclidean"), 2)
    0.64
    """
    return RSA(**params).fit(X, Y).score(X, Y)
