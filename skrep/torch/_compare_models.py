"""Layer-by-layer grids of two torch models, streamed: :func:`compare_models`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import numpy as np
from sklearn.base import clone
from torch import nn

from skrep._compare import LayerComparison
from skrep._core.moments import Moments
from skrep._core.xp import XpMoments, _block_rows, wide_float
from skrep.base import StreamingMixin, TwoViewMixin, get_skrep_tags
from skrep.torch._extractor import (
    TorchActivationExtractor,
    _Batches,
    _model_lock,
    _select_layers,
    _Stream,
    _unwrap,
)

__all__ = ["compare_models"]

# Parameters of compare_models itself, not to be given in extractor_params.
_OWN_PARAMETERS = ("model", "layers", "reduction", "batch_size", "device", "progress")


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def _check_estimator(estimator):
    name = type(estimator).__name__
    if not callable(getattr(estimator, "partial_fit", None)):
        raise TypeError(
            f"compare_models fits each pair of layers batch by batch with "
            f"partial_fit, which {name} does not have. Use a streaming "
            "measure (SVCCA, PWCCA, CKA(kernel='linear'), Procrustes, "
            "UnitMatcher(metric='correlation'), SparseLayerPredictor, DFTCCA), "
            "or extract the activations (TorchActivationExtractor.extract) and "
            "call skrep.compare_layers."
        )
    if not get_skrep_tags(estimator).streaming:
        raise ValueError(
            f"{estimator!r} does not stream: its partial_fit over batches does "
            "not equal fit on all the rows (or refuses), so compare_models "
            "cannot use it. Use a streaming setting (e.g. kernel='linear', "
            "metric='correlation'), or extract the activations "
            "(TorchActivationExtractor.extract) and call skrep.compare_layers."
        )


def _split_layers(layers):
    """Return (layers of a, layers of b, paired by a dict)."""
    if isinstance(layers, Mapping):
        if not layers:
            raise ValueError("`layers` is empty: name at least one pair of layers.")
        for key, value in layers.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(
                    "A dict `layers` maps a layer name of model_a to a layer "
                    f"name of model_b; got {key!r}: {value!r}."
                )
        return list(layers), list(layers.values()), True
    if isinstance(layers, (tuple, list)) and len(layers) == 2:
        # A pair has a selection (a list or a callable) on each side; a
        # selection of one model lists names. Anything else is left to the
        # extractor, whose error names the offending element.
        selections = [
            isinstance(side, (tuple, list)) or callable(side) for side in layers
        ]
        if all(selections):
            return layers[0], layers[1], False
        if any(selections):
            raise TypeError(
                "`layers` mixes a selection and a layer name: a pair "
                "(layers_a, layers_b) takes a list (or a callable) on each side, "
                "e.g. (['fc1', 'fc2'], ['fc1']); one selection for both models "
                f"is a list of names, e.g. ['fc1', 'fc2']. Got {layers!r}."
            )
    return layers, layers, False


def _resolve(model, spec, which):
    """Layer names of `model` that `spec` selects, as the extractor reads it."""
    root, prefixes = _unwrap(model)
    try:
        return root, [name for name, _ in _select_layers(root, spec, prefixes)]
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{which}: {exc}") from None


def _check_model(model, which):
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{which} must be a torch.nn.Module, got {type(model).__name__}."
        )


def _extract(extractors, names_a, names_b, inputs):
    """Every compared layer's activations of ``inputs``, held: (a, b)."""
    acts_a = extractors[0].extract(inputs)
    acts_b = acts_a if len(extractors) == 1 else extractors[1].extract(inputs)
    return (
        {name: acts_a[name] for name in names_a},
        {name: acts_b[name] for name in names_b},
    )


def _row_groups(acts, n_inputs, groups):
    """Group labels of the rows: an input's rows (positions) stay together."""
    rows = {np.asarray(a).shape[0] for layer in acts for a in layer.values()}
    if len(rows) != 1:
        raise ValueError(
            "With inference, every compared layer must give the same number of "
            f"rows per input; these give {sorted(rows)} rows for {n_inputs} "
            'inputs. Use reduction="mean" (one row per input) or compare '
            "layers of one map size."
        )
    (n_rows,) = rows
    labels = np.arange(n_inputs) if groups is None else np.asarray(groups)
    if labels.ndim != 1 or labels.shape[0] != n_inputs:
        raise ValueError(
            f"groups must give one label per input: shape ({n_inputs},), got "
            f"{labels.shape}."
        )
    if n_rows == n_inputs:
        return None if groups is None else labels
    return np.repeat(labels, n_rows // n_inputs)


def _compare_held(extractors, names_a, names_b, inputs, test, estimator, pairs,
                  groups, options):  # fmt: skip
    """compare_models with inference: the activations held, compare_layers."""
    from skrep._compare import compare_layers

    # the same checks (and messages) as the streaming path, before any work
    models = _Models(extractors)
    n_inputs = models.check_inputs(inputs, "The inputs").n_samples
    if test is not None:
        models.check_inputs(test, "The test inputs")
    acts = _extract(extractors, names_a, names_b, inputs)
    row_groups = _row_groups(acts, n_inputs, groups)
    held_out = None
    if test is not None:
        held_out = _extract(extractors, names_a, names_b, test)
    return compare_layers(
        *acts, estimator, test=held_out, groups=row_groups, pairs=pairs, **options
    )


def _make_extractor(model, layers, reduction, batch_size, device, params):
    extractor = TorchActivationExtractor(
        model,
        layers,
        reduction=reduction,
        batch_size=batch_size,
        device=device,
        **params,
    )
    extractor._validate_params()
    return extractor


# --------------------------------------------------------------------------
# The passes
# --------------------------------------------------------------------------


class _Models:
    """The extractors of one run: one per distinct model, fed the same batches.

    Both models see each batch once, in turn. When ``model_a`` and
    ``model_b`` are the same module (a grid within one network), it runs
    once per batch with the union of the layers.
    """

    def __init__(self, extractors):
        self.extractors = extractors

    def check_inputs(self, inputs, what):
        inputs = self.extractors[0]._check_inputs(inputs, reset=False)
        batches = _Batches(inputs, self.extractors[0].batch_size)
        if batches.n_samples == 0:
            raise ValueError(f"{what} hold no samples.")
        return batches

    def devices(self):
        """Return the torch device each model runs on (as the streams resolve it)."""
        return [_Stream(extractor, 0).device for extractor in self.extractors]

    @contextlib.contextmanager
    def streams(self, n_samples, *, limit_blas=False, on_device=False):
        """Enter one stream per extractor; yield a function batch -> acts.

        With ``on_device`` the activations are torch tensors on the models'
        device, else NumPy arrays on the host.
        """
        streams = [_Stream(extractor, n_samples) for extractor in self.extractors]
        on_cpu = any(s.device is None or s.device.type == "cpu" for s in streams)
        with contextlib.ExitStack() as stack:
            if on_cpu and limit_blas:
                # Between two forward passes torch's OpenMP workers still spin
                # on the cores; numpy's BLAS threads then wait for them, and
                # each small accumulation took 10x longer (2 cores). One BLAS
                # thread does not compete (torch's own BLAS is not limited).
                from threadpoolctl import threadpool_limits

                stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
            # The models' locks in one fixed order (by identity), before any
            # stream takes its own (reentrant) lock: compare_models(a, b) and
            # compare_models(b, a) on two threads would otherwise each hold
            # one lock and wait for the other forever.
            roots = {id(stream.root): stream.root for stream in streams}
            for key in sorted(roots):
                stack.enter_context(_model_lock(roots[key]))
            for stream in streams:
                stack.enter_context(stream)

            def run(batch):
                outputs = [
                    stream.process(batch, on_device=on_device) for stream in streams
                ]
                rows = {n_batch for _, n_batch in outputs}
                if len(rows) > 1:  # pragma: no cover - one batch, one count
                    raise ValueError(
                        f"The models read different numbers of samples from "
                        f"one batch: {sorted(rows)}."
                    )
                acts_a = outputs[0][0]
                acts_b = outputs[-1][0]
                return acts_a, acts_b, outputs[0][1]

            yield run
            for stream in streams:
                stream.finish()


def _progress(progress, total, desc):
    if not progress:
        return contextlib.nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="sample", desc=desc)


class _Rows:
    """Activations of some layers over all the inputs, filled batch by batch."""

    def __init__(self, names, n_samples):
        self.names = names
        self.n_samples = n_samples
        self.arrays = {}
        self.done = 0

    def write(self, activations, n_batch):
        for name in self.names:
            value = activations[name]
            array = self.arrays.get(name)
            per_sample = value.shape[0] // n_batch
            if array is None:
                rows = self.n_samples * per_sample
                array = np.empty((rows,) + value.shape[1:], value.dtype)
                self.arrays[name] = array
            start = self.done * per_sample
            array[start : start + value.shape[0]] = value
        self.done += n_batch


def _check_cell_rows(acts_a, acts_b, name_a, name_b, n_batch):
    rows_a, rows_b = acts_a.shape[0], acts_b.shape[0]
    if rows_a != rows_b:
        raise ValueError(
            f"Layer {name_a!r} of model_a gives {rows_a // n_batch} row(s) per "
            f"input and layer {name_b!r} of model_b {rows_b // n_batch}: with "
            "reduction='positions' every position is a row, so compared layers "
            "must have the same number of positions. Compare layers of equal "
            "size, or use reduction='mean'."
        )


def _fit_cell(est, A, B, name_a, name_b):
    try:
        est.partial_fit(A, B)
    except Exception as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(
                f"(compare_models: partial_fit of {type(est).__name__} on layer "
                f"{name_a!r} of model_a and layer {name_b!r} of model_b.)"
            )
        raise


# --------------------------------------------------------------------------
# Accumulation on the device
# --------------------------------------------------------------------------

#: Accumulate on the device even when the models run on the CPU (tests).
_FORCE_DEVICE_ACCUMULATION = False


def _moments_template(estimator):
    """Return the estimator's empty accumulator if it is two-view Moments, else None.

    Only then can moments accumulated on the device stand for its
    ``partial_fit`` (a :class:`~skrep.base.StreamingMixin`, whose
    ``partial_fit`` validates the views and adds the rows to that
    accumulator). An estimator with another accumulator (linear CKA's) or
    its own view validation (DFTCCA's maps) takes the host path.
    """
    if (
        not isinstance(estimator, StreamingMixin)
        or type(estimator)._validate_views is not TwoViewMixin._validate_views
    ):
        return None
    return _two_view_moments(estimator, "_new_accumulator")


def _two_view_moments(estimator, method):
    """Return a clone's ``method(1, 1)`` if it is an empty two-view Moments.

    Else None, also when it raises: the estimator's ``partial_fit`` or
    ``score`` says why, on the host path.
    """
    try:
        template = getattr(clone(estimator), method)(1, 1)
    except Exception:  # noqa: BLE001
        return None
    if type(template) is not Moments or not template.two_views:
        return None
    return template


def _accumulate_on_device(models, estimator, reduction):
    """Whether the activations stay on the models' device and are summed there.

    When both models run on one device other than the CPU, and the
    estimator streams through :class:`~skrep._core.moments.Moments`.
    """
    return _moments_template(estimator) is not None and _on_one_device(
        models, reduction
    )


def _on_one_device(models, reduction):
    """Whether both models run on one device other than the CPU (or forced)."""
    if isinstance(reduction, str) and reduction == "maps":
        return False
    devices = models.devices()
    if any(device is None for device in devices) or len(set(devices)) > 1:
        return False
    return _FORCE_DEVICE_ACCUMULATION or devices[0].type != "cpu"


class _DeviceGrid:
    """Moments of every compared pair of layers, accumulated on the device.

    Each layer's sums and products with itself are accumulated once (a
    layer read by several cells, or by both sides of a grid within one
    network, is not summed twice), and each cell adds only its cross
    product ``A^T B``. All in float64 (where the device has it), over blocks
    of rows centred on each layer's first batch's mean, as
    :class:`~skrep._core.xp.XpMoments`; :meth:`to_moments` hands one cell's
    totals to a host :class:`~skrep._core.moments.Moments`.

    Parameters
    ----------
    cells : list of (str, str)
        Keys of the layers of each cell, ``(key_a, key_b)``.
    products : {"all", "cross"}
        "all" keeps each layer's Gram matrix; "cross" its sums of squares.
    track_range : bool
        Also keep each unit's minimum and maximum.
    """

    def __init__(self, cells, products, track_range):
        self.cells = list(dict.fromkeys(cells))
        self.layers = list(dict.fromkeys(key for cell in self.cells for key in cell))
        self.products, self.track_range = products, track_range
        self.n_samples = {}  # rows per layer key
        self.xp = self.device = self.dtype = None
        self.shift, self.sums, self.squares = {}, {}, {}
        self.minimum, self.maximum, self.cross = {}, {}, {}

    def _start(self, values):
        import array_api_compat

        first = values[self.layers[0]]
        self.xp = xp = array_api_compat.array_namespace(first)
        self.device = first.device
        self.dtype = wide_float(xp, self.device)
        for key in self.layers:
            value = xp.astype(values[key], self.dtype)
            width = value.shape[1]
            self.shift[key] = xp.mean(value, axis=0)
            self.sums[key] = self._zeros((width,))
            self.squares[key] = self._zeros(
                (width, width) if self.products == "all" else (width,)
            )
        for key_a, key_b in self.cells:
            shape = (values[key_a].shape[1], values[key_b].shape[1])
            self.cross[key_a, key_b] = self._zeros(shape)

    def _zeros(self, shape):
        return self.xp.zeros(shape, dtype=self.dtype, device=self.device)

    def update(self, values):
        """Add one batch: ``values`` maps each layer key to its rows (tensors).

        The two layers of a cell have the same number of rows; layers of
        different cells may not (``reduction="positions"``).
        """
        if not self.layers:
            return
        if self.xp is None:
            self._start(values)
        xp = self.xp
        groups = {}
        for key in self.layers:
            groups.setdefault(int(values[key].shape[0]), []).append(key)
        for n, group in groups.items():
            cells = [cell for cell in self.cells if cell[0] in group]
            width = sum(int(values[key].shape[1]) for key in group)
            step = _block_rows(width)
            for start in range(0, n, step):
                stop = min(n, start + step)
                block = {
                    key: xp.astype(values[key][start:stop, ...], self.dtype)
                    - self.shift[key]
                    for key in group
                }
                for key, Z in block.items():
                    self.sums[key] = self.sums[key] + xp.sum(Z, axis=0)
                    if self.products == "all":
                        gram = xp.matmul(Z.T, Z)
                    else:
                        gram = xp.sum(Z * Z, axis=0)
                    self.squares[key] = self.squares[key] + gram
                for key_a, key_b in cells:
                    self.cross[key_a, key_b] = self.cross[key_a, key_b] + xp.matmul(
                        block[key_a].T, block[key_b]
                    )
            for key in group:
                self.n_samples[key] = self.n_samples.get(key, 0) + n
        if self.track_range:
            for key in self.layers:
                low = xp.astype(xp.min(values[key], axis=0), self.dtype)
                high = xp.astype(xp.max(values[key], axis=0), self.dtype)
                if key in self.minimum:
                    low = xp.minimum(self.minimum[key], low)
                    high = xp.maximum(self.maximum[key], high)
                self.minimum[key], self.maximum[key] = low, high

    def to_moments(self, cell, template):
        """Fold one cell's totals into ``template`` (a host Moments), in place."""
        key_a, key_b = cell
        xp = self.xp
        p, q = self.cross[cell].shape
        part = XpMoments(p, q, xp=xp, device=self.device, products=self.products,
                         track_range=self.track_range)  # fmt: skip
        part.n_samples = self.n_samples.get(key_a, 0)
        part.shift = (self.shift[key_a], self.shift[key_b])
        part.sums = xp.concat([self.sums[key_a], self.sums[key_b]])
        part.xy = self.cross[cell]
        if self.products == "all":
            part.xx, part.yy = self.squares[key_a], self.squares[key_b]
        else:
            part.squares_raw = xp.concat([self.squares[key_a], self.squares[key_b]])
        if self.track_range:
            part.minimum = xp.concat([self.minimum[key_a], self.minimum[key_b]])
            part.maximum = xp.concat([self.maximum[key_a], self.maximum[key_b]])
        return part.to_moments(template)


def _first_rows(values):
    """One row of each layer's activations, on the host (for validation)."""
    return {key: value[:1, ...].cpu().numpy() for key, value in values.items()}


def _host(values, keys):
    return {key: values[key].cpu().numpy() for key in keys}


def _keyed(acts_a, acts_b, side_b):
    """One dict of a batch's activations, keyed by (side, layer name)."""
    values = {("a", name): value for name, value in acts_a.items()}
    if side_b == "b":
        values.update({("b", name): value for name, value in acts_b.items()})
    return values


def _fit_cell_from_grid(est, grid, cell_keys, first_rows, name_a, name_b):
    key_a, key_b = cell_keys
    A, B = first_rows[key_a], first_rows[key_b]
    try:
        moments = grid.to_moments(
            cell_keys, est._new_accumulator(A.shape[1], B.shape[1])
        )
        _finish_from_moments(est, moments, A, B)
    except Exception as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(
                f"(compare_models: the moments of {type(est).__name__} on layer "
                f"{name_a!r} of model_a and layer {name_b!r} of model_b.)"
            )
        raise


def _finish_from_moments(est, moments, A, B):
    """Leave ``est`` as ``partial_fit`` over the rows of ``moments`` leaves it.

    ``A`` and ``B`` are one row of each view: they validate the views (units,
    dtype) as the first ``partial_fit`` does; the rows are in ``moments``.
    """
    est._start_fit()
    est._validate_views(A, B, reset=True, ensure_min_samples=1)
    est._accumulator = moments
    est.n_samples_seen_ = moments.n_samples
    est._mark_pending()


def _held_out_template(models, estimator, reduction):
    """Return the empty Moments the test rows are summed into on the device, or None.

    When the estimator scores held-out rows from their moments
    (``_held_out_accumulator`` gives a two-view
    :class:`~skrep._core.moments.Moments`) and both models run on one
    device other than the CPU: the test rows' moments are then accumulated
    on the device, and each pair scored with ``_score_from_moments``.
    """
    if not isinstance(estimator, TwoViewMixin) or not _on_one_device(models, reduction):
        return None
    return _two_view_moments(estimator, "_held_out_accumulator")


# --------------------------------------------------------------------------
# The function
# --------------------------------------------------------------------------


def compare_models(
    model_a,
    model_b,
    inputs,
    layers,
    estimator=None,
    *,
    test=None,
    pairs=None,
    reduction="mean",
    batch_size=128,
    device=None,
    progress=False,
    extractor_params=None,
    inference=None,
    groups=None,
    n_permutations=999,
    n_resamples=999,
    confidence_level=0.95,
    bootstrap_method="percentile",
    random_state=None,
    n_jobs=None,
):
    """Score pairs of layers of two torch models, streaming the activations.

    Runs each batch of ``inputs`` through both models once and feeds the
    activations of every compared pair of layers into its own clone of
    ``estimator`` with ``partial_fit``, so the activations of all the inputs
    are never held: memory holds one batch and the estimators' accumulators
    (units squared), whatever the number of inputs. The result is the
    :class:`~skrep.LayerComparison` that extracting every activation with
    :class:`TorchActivationExtractor` and calling
    :func:`skrep.compare_layers` gives (to round-off), for exact streaming
    measures.

    Parameters
    ----------
    model_a : torch.nn.Module
        The first network (the rows of the grid).
    model_b : torch.nn.Module
        The second network (the columns). It may be ``model_a`` itself, for
        a grid within one network: it then runs once per batch.
    inputs : array-like, tensor, Dataset or DataLoader of shape (n_samples, ...)
        The inputs both models read, batch by batch (a DataLoader must read
        its data in order, as for the extractor). The estimators are fitted
        on their activations.
    layers : list of str, str, callable, pair of those, or dict
        Which layers to compare, as the extractor's ``layers`` reads them
        (names from ``named_modules()``, glob patterns, or a callable
        ``layers(name, module)``):

        - one selection (e.g. ``["conv1", "conv2", "fc"]``): the same layers
          in both models (two trainings of one architecture);
        - a pair ``(layers_a, layers_b)`` of two selections, each a list or
          a callable: different layers in each model;
        - a dict ``{layer of model_a: layer of model_b}``: corresponding
          layers, compared pair by pair (``pairs`` defaults to
          ``"diagonal"``).
    estimator : estimator, default=None
        A two-view measure with an exact ``partial_fit``: :class:`~skrep.SVCCA`
        (None means ``SVCCA()``), :class:`~skrep.PWCCA`,
        :class:`~skrep.CKA` (linear), :class:`~skrep.Procrustes`,
        :class:`~skrep.UnitMatcher` (correlation),
        :class:`~skrep.SparseLayerPredictor`, :class:`~skrep.DFTCCA`
        (``reduction="maps"``). Each pair of layers gets a fresh clone.
    test : array-like, tensor, Dataset or DataLoader, default=None
        Held-out inputs: each fitted pair is scored with its ``score`` on
        the activations of these inputs (``evaluation="held-out"``). None
        scores on ``inputs`` themselves (``"in-sample"``; see Notes).
    pairs : {"all", "diagonal"} or None, default=None
        "all" scores every layer of ``model_a`` against every layer of
        ``model_b``; "diagonal" only corresponding layers (same position in
        the two lists; the other cells are NaN), as in
        :func:`~skrep.compare_layers`. None: "diagonal" for a dict
        ``layers``, else "all".
    reduction : {"mean", "max", "flatten", "positions", "maps"} or callable, \
            default="mean"
        How each layer output becomes rows x features, as in
        :class:`TorchActivationExtractor`. With ``"positions"`` every
        position is a row, so compared layers must have the same number of
        positions.
    batch_size : int, default=128
        Inputs per forward pass (a DataLoader keeps its own).
    device : str, torch.device or None, default=None
        Where both models run; each is moved there for the call and moved
        back after (with its training flags and hooks restored, also on
        error). None: each model's current device. On a GPU (both models on
        one non-CPU device) and with an estimator that accumulates
        :class:`~skrep._core.moments.Moments` (SVCCA, PWCCA, UnitMatcher,
        SparseLayerPredictor, Procrustes), the activations stay on the
        device and are accumulated there, in float64; otherwise they are
        copied to the host and accumulated there, in float64 (see Notes).
    progress : bool, default=False
        Show a progress bar (tqdm) over the inputs, and one over ``test``.
    extractor_params : dict or None, default=None
        Further parameters of :class:`TorchActivationExtractor` for both
        models, e.g. ``{"forward_fn": ..., "output_index": 0, "dtype":
        np.float64}``; the activations are float32 by default.
    inference : {"permutation", "bootstrap"} or None, default=None
        A permutation p-value or a bootstrap confidence interval for every
        cell, as :func:`skrep.compare_layers` gives them
        (:func:`skrep.inference.permutation_test`,
        :func:`skrep.inference.bootstrap_interval`). Both need all the rows,
        so with ``inference`` the activations of the compared layers are
        extracted and held (memory grows with the inputs; see Notes) and
        the grid is computed by :func:`skrep.compare_layers` on them.
    groups : array-like of shape (n_inputs,), default=None
        With ``inference``: a group label per *input* (e.g. crops of one
        image), so that whole groups are permuted or resampled together.
        With ``reduction="positions"`` every row of one input is always
        kept together: the groups given (or, by default, the inputs
        themselves) are spread over their rows.
    n_permutations, n_resamples, confidence_level, bootstrap_method, \
random_state, n_jobs
        As in :func:`skrep.compare_layers`, with ``inference``.

    Returns
    -------
    result : LayerComparison
        ``scores[i, j]`` is the similarity of ``layers_a[i]`` with
        ``layers_b[j]`` (the resolved layer names); ``scores_std`` is None.

    Raises
    ------
    TypeError
        If ``estimator`` has no ``partial_fit`` (e.g.
        :class:`~skrep.SparseLayerPredictorCV`, :class:`~skrep.RSA`) and
        ``inference`` is None (with ``inference`` the rows are held, so any
        estimator :func:`~skrep.compare_layers` takes will do), or a model
        is not a ``torch.nn.Module``.
    ValueError
        If ``estimator`` has a ``partial_fit`` that does not stream exactly
        (``UnitMatcher(metric="mutual_info")``, ``CKA(kernel="rbf")``), if a
        layer is unknown (the message suggests close names), if a dict
        ``layers`` maps two layers to one, if compared layers give different
        numbers of rows per input (``reduction="positions"``), if the inputs
        hold no samples, or as the extractor raises on its inputs.

    See Also
    --------
    skrep.compare_layers : The same grid from activations in memory (and
        cross-validation, permutation tests, bootstrap intervals).
    TorchActivationExtractor.iter_batches : The batch iterator underneath.

    Notes
    -----
    **Memory.** Fitting holds one batch of activations of both models and,
    per compared pair, the estimator's accumulator: for the CCA family the
    co-moment of the two layers' units, ``(units_a + units_b)^2`` float64,
    whatever the number of inputs. Scoring depends on the evaluation:

    - held-out (``test`` given): the activations of the test inputs are
      held, for the layers compared, and each pair is scored on them with
      its ``score``, as :func:`~skrep.compare_layers` does. Memory grows
      with the test set, not with ``inputs``.
    - in-sample (``test=None``) with SVCCA, PWCCA, UnitMatcher
      (correlation), linear CKA and Procrustes: the score on the training
      rows is a fitted attribute computed from the accumulated moments
      (``canonical_correlations_.mean()``, ``weights_ @
      canonical_correlations_``, ``matching_mean_`` or
      ``semi_matching_mean_``, ``cka_``, ``similarity_``), so nothing more
      is held.
    - in-sample with any other estimator (SparseLayerPredictor, DFTCCA, a
      third-party one): ``score`` needs the training rows, so the
      activations of ``inputs`` are held, for the layers compared, as
      :func:`~skrep.compare_layers` would need them.

    In-sample CCA is biased upwards when inputs are few relative to units;
    held-out scores are how skrep fixes that (see the estimators).

    **On a GPU.** With both models on one non-CPU device and an estimator
    whose streaming state is :class:`~skrep._core.moments.Moments`, each
    compared layer's sums and products with itself are accumulated on the
    device once (however many cells read it), each cell adds its
    cross-product, and at the end each cell's totals (``units x units``)
    become the estimator's host accumulator, so it finishes as after
    ``partial_fit`` (same warnings, same result to round-off). Held-out
    scores of SVCCA, PWCCA, UnitMatcher (correlation), Procrustes and
    linear CKA (``debiased=False``) are computed from the test rows'
    moments, accumulated on the device too (the estimators'
    ``_score_from_moments``, equal to ``score`` on the rows to round-off);
    the other estimators keep the activations that ``score`` needs on the
    host, as described above. Linear CKA fits on the host (its own
    accumulator), and DFTCCA (maps) and third-party measures take the host
    path throughout.

    **Equality.** Every batch is run once through each model (with the same
    ``batch_size``, the activations equal the extractor's), ``partial_fit``
    over the batches equals ``fit`` on all the rows for every skrep
    streaming measure, so the grid equals
    ``compare_layers(extract(model_a), extract(model_b), estimator,
    test=..., pairs=...)`` to round-off (tested to 1e-9). An estimator whose
    ``fit`` takes another numerical route than its moments (``algorithm=
    "svd"``) may differ in the digits the moments lose (the estimators warn
    when that matters). Cross-validation, permutation tests and bootstrap
    intervals need all the rows: with ``inference`` the activations are
    therefore held, and :func:`~skrep.compare_layers` computes the grid.

    **Threads.** While a model runs on the CPU, numpy's BLAS (which the
    accumulators use) is limited to one thread for the fitting pass
    (:mod:`threadpoolctl`; process-wide while it holds): torch's OpenMP
    workers keep spinning on the cores between forward passes, and BLAS
    threads competing with them made each accumulation about 10x slower on
    two cores. With both models on a GPU, BLAS keeps its threads. Like the
    extractor, the call holds each model's lock: other extractions of the
    same models wait.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skrep import SVCCA
    >>> from skrep.torch import compare_models
    >>> def make_net(seed):
    ...     _ = torch.manual_seed(seed)
    ...     return nn.Sequential(
    ...         nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU()
    ...     )
    >>> net_a, net_b = make_net(0), make_net(1)
    >>> images, held_out = torch.randn(2000, 3, 8, 8), torch.randn(500, 3, 8, 8)
    >>> grid = compare_models(
    ...     net_a, net_b, images, ["1", "3"], SVCCA(), test=held_out,
    ...     reduction="mean", batch_size=256,
    ... )
    >>> grid.evaluation, grid.layers_a, grid.layers_b
    ('held-out', ['1', '3'], ['1', '3'])
    >>> grid.scores.shape
    (2, 2)

    Corresponding layers only, named differently in the two models, with
    every position of the conv maps as a row:

    >>> grid = compare_models(
    ...     net_a, net_b, images, {"1": "1", "3": "3"}, reduction="positions"
    ... )
    >>> grid.evaluation, list(grid.diagonal())
    ('in-sample', [('1', '1'), ('3', '3')])
    """
    from skrep._cca import SVCCA

    estimator = SVCCA() if estimator is None else estimator
    if inference is None:
        _check_estimator(estimator)
        if groups is not None:
            raise ValueError(
                "groups is only used with inference (to permute or resample "
                "whole groups of inputs together); give inference= as well."
            )
    elif inference not in ("permutation", "bootstrap"):
        raise ValueError(
            f"inference must be 'permutation', 'bootstrap' or None, got {inference!r}."
        )
    _check_model(model_a, "model_a")
    _check_model(model_b, "model_b")
    spec_a, spec_b, paired = _split_layers(layers)
    if pairs is None:
        pairs = "diagonal" if paired else "all"
    if pairs not in ("all", "diagonal"):
        raise ValueError(f"pairs must be 'all', 'diagonal' or None, got {pairs!r}.")
    params = dict(extractor_params or {})
    given_twice = sorted(set(params) & set(_OWN_PARAMETERS))
    if given_twice:
        raise ValueError(
            f"extractor_params must not hold {given_twice}: give them as "
            "arguments of compare_models itself (model_a, model_b, layers, ...)."
        )
    if paired and len(set(spec_b)) != len(spec_b):
        raise ValueError(
            "A dict `layers` maps two layers of model_a to one layer of "
            f"model_b ({spec_b}): give each pair once, or use a pair of lists "
            "(layers_a, layers_b) for a grid."
        )
    root_a, names_a = _resolve(model_a, spec_a, "model_a")
    root_b, names_b = _resolve(model_b, spec_b, "model_b")
    if paired:
        for side, names, spec in (
            ("model_a", names_a, spec_a),
            ("model_b", names_b, spec_b),
        ):
            if len(names) != len(spec):
                raise ValueError(
                    f"A dict `layers` pairs single layers, but its {side} "
                    f"names {spec} select {names}."
                )
    options = (reduction, batch_size, device, params)
    if root_a is root_b:
        union = list(dict.fromkeys(names_a + names_b))
        extractors = [_make_extractor(model_a, union, *options)]
    else:
        extractors = [
            _make_extractor(model_a, names_a, *options),
            _make_extractor(model_b, names_b, *options),
        ]
    if inference is not None:
        return _compare_held(
            extractors, names_a, names_b, inputs, test, estimator, pairs, groups,
            {
                "inference": inference, "n_permutations": n_permutations,
                "n_resamples": n_resamples, "confidence_level": confidence_level,
                "bootstrap_method": bootstrap_method, "random_state": random_state,
                "n_jobs": n_jobs,
            },
        )  # fmt: skip
    models = _Models(extractors)
    batches = models.check_inputs(inputs, "The inputs")
    test_batches = (
        None if test is None else models.check_inputs(test, "The test inputs")
    )

    cells = [
        (i, j)
        for i in range(len(names_a))
        for j in range(len(names_b))
        if pairs == "all" or i == j
    ]
    compared_a = sorted({i for i, _ in cells})
    compared_b = sorted({j for _, j in cells})
    fitted = {cell: clone(estimator) for cell in cells}
    read_in_sample = test is None and getattr(estimator, "_scores_from_fit", False)
    on_device = _accumulate_on_device(models, estimator, reduction)
    # Layer keys of the device accumulators: a layer of the one network of a
    # grid within it is one key on both sides (its products are summed once).
    side_b = "a" if len(extractors) == 1 else "b"
    keys = {
        cell: (("a", names_a[cell[0]]), (side_b, names_b[cell[1]])) for cell in cells
    }
    keep = None
    if test is None and not read_in_sample:
        keep = (
            _Rows([names_a[i] for i in compared_a], batches.n_samples),
            _Rows([names_b[j] for j in compared_b], batches.n_samples),
        )

    # Fit: one pass over the inputs, every batch through both models once.
    checked = False
    grid = first_rows = None
    if on_device:
        estimator._validate_params()  # as partial_fit would, before the pass
        template = _moments_template(estimator)
        grid = _DeviceGrid(list(keys.values()), template.products, template.track_range)
    with (
        models.streams(batches.n_samples, limit_blas=True, on_device=on_device) as run,
        _progress(progress, batches.n_samples, "compare_models") as bar,
    ):
        for batch in batches:
            acts_a, acts_b, n_batch = run(batch)
            if n_batch == 0:
                continue
            if not checked:
                for i, j in cells:
                    A, B = acts_a[names_a[i]], acts_b[names_b[j]]
                    _check_cell_rows(A, B, names_a[i], names_b[j], n_batch)
            if on_device:
                values = _keyed(acts_a, acts_b, side_b)
                if first_rows is None:
                    first_rows = _first_rows(values)
                grid.update(values)
                if keep is not None:
                    acts_a = _host(acts_a, keep[0].names)
                    acts_b = _host(acts_b, keep[1].names)
            else:
                for (i, j), est in fitted.items():
                    A, B = acts_a[names_a[i]], acts_b[names_b[j]]
                    _fit_cell(est, A, B, names_a[i], names_b[j])
            checked = True
            if keep is not None:
                keep[0].write(acts_a, n_batch)
                keep[1].write(acts_b, n_batch)
            if bar is not None:
                bar.update(n_batch)
    if on_device:
        for cell, est in fitted.items():
            _fit_cell_from_grid(est, grid, keys[cell], first_rows, names_a[cell[0]],
                                names_b[cell[1]])  # fmt: skip

    # Score.
    scores = np.full((len(names_a), len(names_b)), np.nan)
    held_out = None
    if test is not None and test_batches.n_samples >= 2:
        # (One test row: score() on the host path says why it cannot score.)
        held_out = _held_out_template(models, estimator, reduction)
    if read_in_sample:
        for (i, j), est in fitted.items():
            scores[i, j] = est._in_sample_score()
        evaluation = "in-sample"
    elif held_out is not None:
        # The test rows' moments, on the device; each pair scored from them.
        test_grid = _DeviceGrid(
            list(keys.values()), held_out.products, held_out.track_range
        )
        with (
            models.streams(test_batches.n_samples, on_device=True) as run,
            _progress(progress, test_batches.n_samples, "test") as bar,
        ):
            for batch in test_batches:
                acts_a, acts_b, n_batch = run(batch)
                if n_batch == 0:
                    continue
                test_grid.update(_keyed(acts_a, acts_b, side_b))
                if bar is not None:
                    bar.update(n_batch)
        for cell, est in fitted.items():
            empty = est._held_out_accumulator(est.n_features_in_, est.n_features_y_)
            moments = test_grid.to_moments(keys[cell], empty)
            scores[cell] = est._score_from_moments(moments)
        evaluation = "held-out"
    else:
        if keep is None:
            keep = (
                _Rows([names_a[i] for i in compared_a], test_batches.n_samples),
                _Rows([names_b[j] for j in compared_b], test_batches.n_samples),
            )
            with (
                models.streams(test_batches.n_samples, on_device=on_device) as run,
                _progress(progress, test_batches.n_samples, "test") as bar,
            ):
                for batch in test_batches:
                    acts_a, acts_b, n_batch = run(batch)
                    if n_batch == 0:
                        continue
                    if on_device:
                        acts_a = _host(acts_a, keep[0].names)
                        acts_b = _host(acts_b, keep[1].names)
                    keep[0].write(acts_a, n_batch)
                    keep[1].write(acts_b, n_batch)
                    if bar is not None:
                        bar.update(n_batch)
            evaluation = "held-out"
        else:
            evaluation = "in-sample"
        rows_a, rows_b = keep[0].arrays, keep[1].arrays
        for (i, j), est in fitted.items():
            scores[i, j] = float(est.score(rows_a[names_a[i]], rows_b[names_b[j]]))
    return LayerComparison(
        scores, None, list(names_a), list(names_b), repr(estimator), evaluation
    )
