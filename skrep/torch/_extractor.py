"""Activation matrices from a PyTorch model: :class:`TorchActivationExtractor`."""

import copy
import difflib
import fnmatch
import io
import math
import os
import tempfile
import threading
import warnings
import weakref
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import torch
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    default_collate,
)

from skrep._params import Interval

__all__ = ["TorchActivationExtractor"]

_REDUCTIONS = ("mean", "max", "flatten", "positions", "maps")
_REPEATED = ("error", "first", "last", "mean")
_PROBE_SAMPLES = 2


# --------------------------------------------------------------------------
# Which axis holds the channels
# --------------------------------------------------------------------------


def _torch_classes(*paths):
    """Return the torch classes named by dotted paths that this torch has."""
    found = []
    for path in paths:
        obj = torch
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, type):
            found.append(obj)
    return tuple(found)


# Modules whose output is laid out (N, C, *positions): convolutions and the
# modules that usually sit between them.
_CHANNELS_FIRST = _torch_classes(
    "nn.modules.conv._ConvNd",
    "nn.modules.pooling._MaxPoolNd",
    "nn.modules.pooling._AvgPoolNd",
    "nn.modules.pooling._AdaptiveAvgPoolNd",
    "nn.modules.pooling._AdaptiveMaxPoolNd",
    "nn.modules.pooling._LPPoolNd",
    "nn.modules.pooling._MaxUnpoolNd",
    "nn.modules.batchnorm._NormBase",  # BatchNorm*d, InstanceNorm*d
    "nn.GroupNorm",
    "nn.LocalResponseNorm",
    "nn.Dropout1d",
    "nn.Dropout2d",
    "nn.Dropout3d",
    "nn.FeatureAlphaDropout",
    "nn.Upsample",
    "nn.PixelShuffle",
    "nn.PixelUnshuffle",
    "nn.ChannelShuffle",
    "nn.modules.padding._ConstantPadNd",
    "nn.modules.padding._ReflectionPadNd",
    "nn.modules.padding._ReplicationPadNd",
    "nn.modules.padding._CircularPadNd",
)

# Modules whose output is laid out (N, *positions, D): tokens and features.
_CHANNELS_LAST = _torch_classes(
    "nn.Linear",
    "nn.Bilinear",
    "nn.LayerNorm",
    "nn.RMSNorm",
    "nn.Embedding",
    "nn.EmbeddingBag",
    "nn.MultiheadAttention",
    "nn.TransformerEncoderLayer",
    "nn.TransformerDecoderLayer",
    "nn.TransformerEncoder",
    "nn.TransformerDecoder",
    "nn.Transformer",
    "nn.modules.rnn.RNNBase",
    "nn.modules.rnn.RNNCellBase",
)


def _layout_of(module):
    """Return "first", "last" or None (the module type does not say)."""
    if isinstance(module, _CHANNELS_FIRST):
        return "first"
    if isinstance(module, _CHANNELS_LAST):
        return "last"
    return None


def _first_tensor(output):
    """Return the first tensor in a module output, or None."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


# --------------------------------------------------------------------------
# The model: wrappers, layer names, temporary state
# --------------------------------------------------------------------------


def _unwrap(model):
    """Return the module inside DataParallel/DDP/torch.compile wrappers.

    Also returns the attribute prefixes that the wrappers put in front of the
    inner module's names (``"module."``, ``"_orig_mod."``).
    """
    prefixes = []
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    while True:
        if isinstance(model, wrappers):
            prefixes.append("module.")
            model = model.module
        elif type(model).__name__ == "OptimizedModule" and isinstance(
            getattr(model, "_orig_mod", None), nn.Module
        ):
            prefixes.append("_orig_mod.")
            model = model._orig_mod
        else:
            return model, tuple(prefixes)


def _strip_prefixes(name, prefixes):
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                changed = True
    return name


def _select_layers(root, layers, prefixes):
    """Resolve `layers` to an ordered list of (name, module), without repeats."""
    named = [
        (name, module)
        for name, module in root.named_modules(remove_duplicate=False)
        if name
    ]
    by_name = dict(named)
    if callable(layers):
        selected = [(n, m) for n, m in named if layers(n, m)]
        if not selected:
            raise ValueError(
                "The `layers` filter selected no module of the model; it is "
                "called as layers(name, module) for each name in "
                f"model.named_modules(), e.g. {_some_names(named)}."
            )
        return selected
    patterns = [layers] if isinstance(layers, str) else list(layers)
    if not patterns:
        raise ValueError("`layers` is empty: name at least one layer.")
    selected, seen = [], set()
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(
                "`layers` must be a layer name, a list of layer names or a "
                f"callable(name, module); got an element {pattern!r} of type "
                f"{type(pattern).__name__}."
            )
        if pattern not in by_name:
            pattern = _strip_prefixes(pattern, prefixes) if prefixes else pattern
        if pattern in by_name:
            matches = [pattern]
        elif any(char in pattern for char in "*?["):
            matches = [n for n, _ in named if fnmatch.fnmatchcase(n, pattern)]
            if not matches:
                raise ValueError(
                    f"The pattern {pattern!r} matches no layer of the model. "
                    f"Layer names look like {_some_names(named)}."
                )
        else:
            close = difflib.get_close_matches(pattern, list(by_name), n=5, cutoff=0.6)
            hint = (
                f" Did you mean {', '.join(repr(c) for c in close)}?"
                if close
                else f" Layer names look like {_some_names(named)}."
            )
            raise ValueError(
                f"The model has no layer named {pattern!r}.{hint} Names are "
                "those of model.named_modules()."
            )
        for name in matches:
            if name not in seen:
                seen.add(name)
                selected.append((name, by_name[name]))
    return selected


def _some_names(named, limit=8):
    names = [repr(name) for name, _ in named[:limit]]
    if len(named) > limit:
        names.append("...")
    return ", ".join(names) if names else "(the model has no submodules)"


def _model_tensors(root):
    """Yield (module, kind, name, tensor) for every parameter and buffer."""
    for module in root.modules():
        for name, param in module.named_parameters(recurse=False):
            yield module, "parameter", name, param
        for name, buffer in module.named_buffers(recurse=False):
            yield module, "buffer", name, buffer


def _float_dtype(root):
    """Return the dtype of the model's first floating tensor, or None."""
    for _, _, _, tensor in _model_tensors(root):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def _resolve_device(device, root):
    """Return the torch.device to run on (None: leave batches where they are)."""
    if device is None:
        for _, _, _, tensor in _model_tensors(root):
            return tensor.device
        return None
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from exc
    if resolved.type == "meta":
        raise ValueError(
            f"device={device!r} holds no data: moving the model there would "
            "drop its weights. Use 'cpu', 'cuda' or None (the model's device)."
        )
    if resolved.type not in ("cpu", "cuda"):
        # Checked before the model is touched: a backend torch was built
        # without (mps, xla, ...) fails here, not halfway through a move.
        try:
            torch.empty(0, device=resolved)
        except (RuntimeError, AssertionError, TypeError) as exc:
            raise ValueError(
                f"device={device!r} is not available on this machine: {exc}"
            ) from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but CUDA is not available on this machine; "
                "use device='cpu' or device=None (the model's own device)."
            )
        if resolved.index is None:
            resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


class _ModelState:
    """Move a model to a device and to eval mode; put everything back after."""

    def __init__(self, root, device):
        self.root = root
        self.device = device
        self.training = [(module, module.training) for module in root.modules()]
        self.placement = [
            (module, kind, name, tensor.device)
            for module, kind, name, tensor in _model_tensors(root)
        ]

    def enter(self):
        self.root.eval()
        if self.device is not None and any(
            device != self.device for *_, device in self.placement
        ):
            with torch.no_grad():
                self.root.to(self.device)

    def restore(self):
        try:
            self._restore_placement()
        finally:
            for module, training in self.training:
                module.training = training

    def _restore_placement(self):
        devices = {device for *_, device in self.placement}
        moved = any(
            tensor.device != device
            for (_, _, _, tensor), (*_, device) in zip(
                _model_tensors(self.root), self.placement
            )
        )
        if not moved:
            return
        with torch.no_grad():
            if len(devices) == 1:
                self.root.to(devices.pop())
                return
            for module, kind, name, device in self.placement:
                tensor = getattr(module, name)
                if tensor.device == device:
                    continue
                if kind == "parameter":
                    tensor.data = tensor.data.to(device)
                else:
                    setattr(module, name, tensor.to(device))


#: Models an open run has entered (eval mode, device), with the number of
#: runs open on each. Runs on one model nest in one thread (two batch
#: iterators of one model, zipped): they share the outermost run's saved
#: state, and whichever closes last restores it, in any order of closing.
#: Read and written under the model's lock, which an open run holds.
_ENTERED = weakref.WeakKeyDictionary()


class _Entered:
    """One open run's claim on a model's eval mode and device."""

    def __init__(self, root, device):
        self.root = root
        entry = _ENTERED.get(root)
        if entry is not None:
            if device is not None and any(
                tensor.device != device for *_, tensor in _model_tensors(root)
            ):
                raise ValueError(
                    f"The model is in use on another device by an open batch "
                    f"iterator; this run asks for device={str(device)!r}. Close "
                    "that iterator first, or use the same device."
                )
            entry[1] += 1
            return
        state = _ModelState(root, device)
        try:
            state.enter()
        except BaseException:
            state.restore()
            raise
        _ENTERED[root] = [state, 1]

    def release(self):
        """Give the claim back; the last one restores the model."""
        entry = _ENTERED.get(self.root)
        if entry is None:  # pragma: no cover - released twice
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _ENTERED[self.root]
            entry[0].restore()


_MODEL_LOCKS = weakref.WeakKeyDictionary()
_MODEL_LOCKS_GUARD = threading.Lock()


def _model_lock(root):
    """One lock per model: concurrent extractions on one model take turns."""
    with _MODEL_LOCKS_GUARD:
        lock = _MODEL_LOCKS.get(root)
        if lock is None:
            lock = _MODEL_LOCKS[root] = threading.RLock()
    return lock


# --------------------------------------------------------------------------
# Inputs: arrays, tensors, datasets, loaders -> batches
# --------------------------------------------------------------------------


def _head(batch, n):
    """Return the first `n` samples of a collated batch (tensors, arrays sliced)."""
    if isinstance(batch, (torch.Tensor, np.ndarray)):
        return batch[:n]
    if isinstance(batch, Mapping):
        return {key: _head(value, n) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_head(value, n) for value in batch) if batch else batch
    return batch


def _n_rows(batch):
    """Return the number of samples in a batch, or None when it cannot tell."""
    if isinstance(batch, (torch.Tensor, np.ndarray)):
        return int(batch.shape[0]) if batch.ndim else None
    if isinstance(batch, Mapping):
        batch = list(batch.values())
    if isinstance(batch, (tuple, list)):
        for value in batch:
            rows = _n_rows(value)
            if rows is not None:
                return rows
    return None


def _check_loader(loader):
    """Refuse loaders that do not yield the dataset in its order."""
    if isinstance(loader.dataset, IterableDataset):
        return
    batch_sampler = loader.batch_sampler
    if batch_sampler is None:
        raise TypeError(
            "A DataLoader with batch_size=None yields pre-batched items whose "
            "number of samples is unknown in advance; give the DataLoader a "
            "batch_size, or pass the data as an array, tensor or Dataset."
        )
    if type(batch_sampler) is not BatchSampler:
        raise ValueError(
            f"The DataLoader uses a custom batch_sampler "
            f"({type(batch_sampler).__name__}); rows must follow the dataset's "
            "order to stay aligned with the other network's activations. Use "
            "DataLoader(dataset, batch_size=..., shuffle=False)."
        )
    sampler = batch_sampler.sampler
    if not isinstance(sampler, SequentialSampler):
        shuffles = "shuffles its data" if "Random" in type(sampler).__name__ else ""
        raise ValueError(
            f"The DataLoader {shuffles or 'does not read its data in order'} "
            f"(sampler: {type(sampler).__name__}): rows must stay in the "
            "dataset's order to stay aligned with the other network's "
            "activations. Use DataLoader(..., shuffle=False) or pass the "
            "Dataset itself."
        )


def _length(obj, what):
    try:
        return len(obj)
    except TypeError:
        raise TypeError(
            f"{what} has no len(): the extractor preallocates its output and "
            "must know the number of samples in advance. Give the dataset a "
            "__len__, or pass an array, tensor or map-style Dataset."
        ) from None


class _Batches:
    """Inputs cut into batches: the number of samples and the batches."""

    def __init__(self, inputs, batch_size, limit=None):
        self.inputs = inputs
        self.batch_size = batch_size
        self.limit = limit
        if isinstance(inputs, DataLoader):
            _check_loader(inputs)
            self.kind = "loader"
            n = _length(inputs.dataset, "The DataLoader's dataset")
            batch_sampler = inputs.batch_sampler
            if batch_sampler is not None and batch_sampler.drop_last:
                n -= n % batch_sampler.batch_size
        elif isinstance(inputs, IterableDataset):
            self.kind = "iterable"
            n = _length(inputs, "The IterableDataset")
        elif isinstance(inputs, Dataset):
            self.kind = "dataset"
            n = _length(inputs, "The Dataset")
        else:
            self.kind = "array"
            n = int(inputs.shape[0])
        self.n_samples = n if limit is None else min(n, limit)

    def __iter__(self):
        if self.kind == "array":
            return self._array_batches()
        if self.kind == "dataset":
            return self._dataset_batches()
        if self.kind == "iterable":
            return self._iterable_batches()
        return self._loader_batches()

    def _array_batches(self):
        data = self.inputs
        for start in range(0, self.n_samples, self.batch_size):
            chunk = data[start : min(start + self.batch_size, self.n_samples)]
            if isinstance(chunk, np.ndarray):
                if not chunk.flags.writeable or not chunk.flags.c_contiguous:
                    chunk = np.array(chunk, order="C")
                chunk = torch.from_numpy(chunk)
            yield chunk

    def _dataset_batches(self):
        data = self.inputs
        for start in range(0, self.n_samples, self.batch_size):
            stop = min(start + self.batch_size, self.n_samples)
            yield default_collate([data[i] for i in range(start, stop)])

    def _iterable_batches(self):
        items = []
        seen = 0
        for item in self.inputs:
            if self.limit is not None and seen == self.limit:
                break
            items.append(item)
            seen += 1
            if len(items) == self.batch_size:
                yield default_collate(items)
                items = []
        if items:
            yield default_collate(items)

    def _loader_batches(self):
        remaining = self.limit
        for batch in self.inputs:
            if remaining is None:
                yield batch
                continue
            rows = _n_rows(batch) or remaining
            if rows >= remaining:
                yield _head(batch, remaining)
                return
            yield batch
            remaining -= rows


# --------------------------------------------------------------------------
# Capture: hooks, reductions, output
# --------------------------------------------------------------------------


class _LayerInfo:
    """What one layer produced: per-sample shape, channel axis, width."""

    def __init__(self, sample_shape, channel_axis, n_features, n_positions):
        self.sample_shape = sample_shape
        self.channel_axis = channel_axis
        self.n_features = n_features
        self.n_positions = n_positions


class _LayerCapture:
    """The forward hook of one layer: select, reduce, copy; count firings."""

    def __init__(self, name, module, run):
        self.name = name
        self.module = module
        self.run = run
        self.layout = _layout_of(module)
        self.sample_ndim = None
        self.sample_shape = None
        self.map_shape = None
        self.channel_axis = None
        self.n_positions = None
        self.calls = 0
        self.value = None

    def __call__(self, module, args, output):
        if not self.run.active:
            # Another run's forward (a model sharing this module, or another
            # extractor's open batch iterator on this model): not ours.
            return
        self.calls += 1
        repeated = self.run.repeated
        if self.calls > 1:
            if repeated == "error":
                raise ValueError(
                    f"Layer {self.name!r} ran more than once in one forward pass "
                    "(a module used several times, e.g. in a loop). Choose which "
                    "call to keep with repeated='first', 'last' or 'mean'."
                )
            if repeated == "first":
                return
        tensor = self.run.select_output(self.name, output)
        reduced = self.run.reduce(self, tensor)
        if repeated == "mean" and self.calls > 1:
            if reduced.shape != self.value.shape:
                raise ValueError(
                    f"Layer {self.name!r} ran several times in one forward pass "
                    f"with outputs of different shapes ({tuple(self.value.shape)} "
                    f"then {tuple(reduced.shape)} after reduction): "
                    "repeated='mean' cannot average them."
                )
            self.value += reduced
        else:
            self.value = reduced

    def take(self):
        """Return the batch's reduced activations and reset for the next."""
        if self.calls == 0:
            raise ValueError(
                f"Layer {self.name!r} did not run during the forward pass: it is "
                "not on the path from the inputs to the outputs (check the "
                "layer name, or `forward_fn`)."
            )
        value = self.value
        if self.run.repeated == "mean" and self.calls > 1:
            value = value / self.calls
        self.calls = 0
        self.value = None
        return value


class _Run:
    """One extraction: the settings of one call, the hooks, the output."""

    def __init__(self, estimator, root, layers, device):
        self.root = root
        self.device = device
        self.reduction = estimator.reduction
        self.channel_axis = estimator.channel_axis
        self.output_index = estimator.output_index
        self.output_key = estimator.output_key
        self.repeated = estimator.repeated
        numpy_dtype = _numpy_dtype(estimator.dtype)
        self.torch_dtype = torch.from_numpy(np.empty(0, numpy_dtype)).dtype
        self.input_dtype = _float_dtype(root)
        self.captures = [_LayerCapture(name, module, self) for name, module in layers]
        self.handles = []
        self.trail = []
        self.trail_handles = []
        # True only during this run's own forward passes: the hooks of a
        # module shared with another model, or hooked by another open run on
        # the same model, fire for every forward through it, and must record
        # only their own run's.
        self.active = False

    def forward(self, batch, forward_fn):
        """Run the model on one batch with this run's hooks listening."""
        self.active = True
        try:
            if forward_fn is None:
                self.root(batch)
            else:
                forward_fn(self.root, batch)
        finally:
            self.active = False

    # hooks -----------------------------------------------------------------

    def register(self):
        needs_trail = self.channel_axis == "auto" and any(
            capture.layout is None for capture in self.captures
        )
        if needs_trail:
            for module in self.root.modules():
                layout = _layout_of(module)
                if layout is not None:
                    self.trail_handles.append(
                        module.register_forward_hook(self._trail_hook(layout))
                    )
        for capture in self.captures:
            self.handles.append(capture.module.register_forward_hook(capture))

    def _trail_hook(self, layout):
        def record(module, args, output):
            if not self.active:
                return
            tensor = _first_tensor(output)
            if tensor is not None:
                self.trail.append((layout, tensor.shape))

        return record

    def remove_trail(self):
        for handle in self.trail_handles:
            handle.remove()
        self.trail_handles = []
        self.trail = []

    def remove(self):
        self.remove_trail()
        for handle in self.handles:
            handle.remove()
        self.handles = []

    # per call of a hook ----------------------------------------------------

    def select_output(self, name, output):
        value = output
        if isinstance(output, Mapping):
            if self.output_key is not None:
                if self.output_key not in output:
                    raise ValueError(
                        f"Layer {name!r} returned a dict without the key "
                        f"output_key={self.output_key!r}; its keys are "
                        f"{list(output)}."
                    )
                value = output[self.output_key]
            else:
                values = list(output.values())
                if not -len(values) <= self.output_index < len(values):
                    raise ValueError(
                        f"Layer {name!r} returned a dict of {len(values)} "
                        f"entries ({list(output)}); output_index="
                        f"{self.output_index} is out of range."
                    )
                value = values[self.output_index]
        elif isinstance(output, (tuple, list)):
            if not -len(output) <= self.output_index < len(output):
                raise ValueError(
                    f"Layer {name!r} returned a {type(output).__name__} of "
                    f"{len(output)} elements; output_index={self.output_index} "
                    "is out of range."
                )
            value = output[self.output_index]
        if not isinstance(value, torch.Tensor):
            where = "" if value is output else f" (element {self.output_index!r})"
            raise TypeError(
                f"Layer {name!r} returned a {type(value).__name__}{where}, not a "
                "tensor. Select a tensor element of tuple or dict outputs with "
                "output_index or output_key, or capture a submodule instead."
            )
        return value

    def resolve_channel_axis(self, capture, x):
        ndim = x.ndim
        if ndim == 2:
            return 1
        if self.channel_axis != "auto":
            axis = self.channel_axis
            if axis < 0:
                axis += ndim
            if not 1 <= axis < ndim:
                raise ValueError(
                    f"channel_axis={self.channel_axis} does not fit the output of "
                    f"layer {capture.name!r}, of shape {tuple(x.shape)}: it must "
                    "name an axis other than the first (the samples)."
                )
            return axis
        layout = capture.layout
        if layout is None:
            # Inherit the layout of the last module of known type whose output
            # had this very shape (the conv before a ReLU, the BatchNorm that
            # ends a residual block...).
            for known_layout, shape in reversed(self.trail):
                if shape == x.shape:
                    layout = known_layout
                    break
        if layout is None:
            layout = "first" if ndim >= 4 else "last"
        return 1 if layout == "first" else ndim - 1

    def reduce(self, capture, x):
        source = x
        n = x.shape[0] if x.ndim else 0
        if x.ndim == 0:
            raise ValueError(
                f"Layer {capture.name!r} returned a scalar; it needs a sample axis."
            )
        if x.ndim == 1:
            x = x.reshape(n, 1)
        if capture.sample_ndim is None:
            capture.sample_ndim = x.ndim
            capture.sample_shape = tuple(x.shape[1:])
            capture.channel_axis = self.resolve_channel_axis(capture, x)
        elif x.ndim != capture.sample_ndim:
            raise ValueError(
                f"Layer {capture.name!r} changed its number of axes between "
                f"calls ({capture.sample_ndim} then {x.ndim})."
            )
        reduction = self.reduction
        positions = 1
        if callable(reduction):
            reduced = reduction(x)
            if not isinstance(reduced, torch.Tensor):
                raise TypeError(
                    "A callable `reduction` must return a torch tensor of shape "
                    f"(n_samples, n_features); for layer {capture.name!r} it "
                    f"returned a {type(reduced).__name__}."
                )
            if reduced.ndim != 2 or reduced.shape[0] != n:
                raise ValueError(
                    "A callable `reduction` must return a tensor of shape "
                    f"(n_samples, n_features) = ({n}, ...); for layer "
                    f"{capture.name!r} it returned shape {tuple(reduced.shape)}."
                )
        elif x.ndim == 2:
            reduced = x
        elif reduction == "flatten":
            reduced = x.reshape(n, -1)
        elif reduction == "maps":
            # Channels first, then the positions: flattened channel-major, so
            # that reshape(n, *map_shape) gives the maps back.
            maps = x.movedim(capture.channel_axis, 1)
            capture.map_shape = tuple(maps.shape[1:])
            reduced = maps.reshape(n, -1)
        else:
            axis = capture.channel_axis
            if reduction == "positions":
                channels = x.shape[axis]
                reduced = x.movedim(axis, -1).reshape(-1, channels)
                positions = reduced.shape[0] // n if n else 0
            else:
                dims = [d for d in range(1, x.ndim) if d != axis]
                if reduction == "mean":
                    if not x.is_floating_point():
                        x = x.to(self.torch_dtype)
                    accumulate = x.dtype
                    if x.element_size() < 4:
                        accumulate = torch.float32
                    reduced = x.mean(dim=dims, dtype=accumulate)
                else:
                    reduced = x.amax(dim=dims)
        capture.n_positions = positions
        # The capture must never alias the module output, so that an in-place
        # operation that follows (ReLU(inplace=True)) cannot touch it: copy
        # views (flatten, 2-D pass-through) and whatever a callable returns;
        # mean, max and a non-contiguous reshape already made a new tensor.
        aliased = callable(reduction) or (
            reduced.untyped_storage().data_ptr() == source.untyped_storage().data_ptr()
        )
        return reduced.to(dtype=self.torch_dtype, copy=aliased)

    # the batches -----------------------------------------------------------

    def move(self, batch):
        """Move a batch to the device; floating tensors to the model's dtype."""
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(batch)
        if isinstance(batch, torch.Tensor):
            dtype = self.input_dtype if batch.is_floating_point() else None
            if self.device is None:
                return batch if dtype is None else batch.to(dtype=dtype)
            return batch.to(
                device=self.device,
                dtype=dtype,
                non_blocking=self.device.type == "cuda",
            )
        if isinstance(batch, Mapping):
            return {key: self.move(value) for key, value in batch.items()}
        if isinstance(batch, (tuple, list)):
            return type(batch)(self.move(value) for value in batch)
        return batch


def _as_maps(array, map_shape):
    """Rows of channel-major flattened maps as maps (a view, memmaps included)."""
    if map_shape is None:  # 2-D outputs pass through
        return array
    return array.reshape((array.shape[0],) + tuple(map_shape))


def _all_finite(tensor):
    """Return whether a floating tensor holds no NaN and no inf (one pass)."""
    # aminmax propagates NaN and exposes inf, and reads the data once without
    # allocating a boolean tensor: ~20x faster than isfinite().all() on CPU.
    low, high = torch.aminmax(tensor)
    return bool(torch.isfinite(low) & torch.isfinite(high))


class _Output:
    """The preallocated result: in memory, or a memmap when over budget."""

    def __init__(self, names, n_samples, concatenate, dtype, max_memory, memmap_dir):
        self.names = names
        self.n_samples = n_samples
        self.concatenate = concatenate
        self.dtype = dtype
        self.max_memory = max_memory
        self.memmap_dir = memmap_dir
        self.arrays = None

    def allocate(self, widths, positions):
        n = self.n_samples
        if self.concatenate:
            if len(set(positions.values())) > 1:
                raise ValueError(
                    "reduction='positions' makes one row per sample and position, "
                    "so every layer must have the same number of positions to be "
                    f"concatenated; got {positions}. Use extract() for one array "
                    "per layer, or one extractor per layer."
                )
            rows = n * next(iter(positions.values()))
            shapes = {None: (rows, sum(widths.values()))}
        else:
            shapes = {name: (n * positions[name], widths[name]) for name in self.names}
        n_bytes = sum(math.prod(shape) for shape in shapes.values())
        n_bytes *= self.dtype.itemsize
        on_disk = self.max_memory is not None and n_bytes > self.max_memory
        self.arrays = {
            key: self._memmap(shape) if on_disk else np.empty(shape, self.dtype)
            for key, shape in shapes.items()
        }
        self.columns = {}
        start = 0
        for name in self.names:
            self.columns[name] = slice(start, start + widths[name])
            start += widths[name]

    def _memmap(self, shape):
        if math.prod(shape) == 0:
            return np.empty(shape, self.dtype)
        directory = None if self.memmap_dir is None else os.fspath(self.memmap_dir)
        fd, path = tempfile.mkstemp(
            prefix="skrep-activations-", suffix=".dat", dir=directory
        )
        os.close(fd)
        array = np.memmap(path, dtype=self.dtype, mode="w+", shape=shape)
        try:
            # The mapping keeps the data; the name goes away now, so no file
            # is left behind (POSIX). Where that fails (Windows) it stays.
            os.unlink(path)
        except OSError:
            pass
        return array

    def write(self, name, row_start, value):
        rows = slice(row_start, row_start + value.shape[0])
        if self.concatenate:
            block = self.arrays[None][rows, self.columns[name]]
        else:
            block = self.arrays[name][rows]
        if block.size:
            torch.from_numpy(block).copy_(value)

    def result(self):
        if self.concatenate:
            return self.arrays[None]
        return {name: self.arrays[name] for name in self.names}


# --------------------------------------------------------------------------
# Streaming: one model's pass over batches handed to it one at a time
# --------------------------------------------------------------------------


class _Stream:
    """Run one extractor's model on batches given one by one; yield activations.

    The layers and the device are resolved at construction (errors come
    early, before the model is touched). Entering takes the model's lock,
    moves it to the device and to eval mode and hooks its layers; leaving
    undoes all of it, also after an error or an early stop. Between the two,
    :meth:`process` runs one batch and returns ``{layer name: ndarray}`` on
    the host, as :meth:`TorchActivationExtractor.extract` lays them out, with
    the checks of the extractor's own loop.
    """

    def __init__(self, extractor, n_samples):
        extractor._check_params()
        self.extractor = extractor
        self.root, prefixes = _unwrap(extractor.model)
        self.layers = _select_layers(self.root, extractor.layers, prefixes)
        self.device = _resolve_device(extractor.device, self.root)
        self.n_samples = n_samples
        self.maps = isinstance(extractor.reduction, str) and (
            extractor.reduction == "maps"
        )
        self.done = 0
        self.widths = self.positions = None
        self._lock = self._state = self._run = None

    @property
    def layer_names(self):
        return [name for name, _ in self.layers]

    def __enter__(self):
        lock = _model_lock(self.root)
        lock.acquire()
        self._lock = lock
        self._run = _Run(self.extractor, self.root, self.layers, self.device)
        try:
            self._state = _Entered(self.root, self.device)
            self._run.register()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info):
        run, state, lock = self._run, self._state, self._lock
        self._run = self._state = self._lock = None
        try:
            try:
                if run is not None:
                    run.remove()
            finally:
                if state is not None:
                    state.release()
        finally:
            if lock is not None:
                try:
                    lock.release()
                except RuntimeError:  # closed from another thread
                    warnings.warn(
                        "A batch iterator of TorchActivationExtractor was closed "
                        "from a thread other than the one that iterated it; the "
                        "model was restored but its lock is still held by that "
                        "thread. Exhaust or close the iterator in its own thread.",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        return False

    def process(self, batch, *, on_device=False):
        """Run one batch; return ({layer: ndarray}, its number of samples).

        With ``on_device=True`` the activations stay torch tensors on the
        device the model ran on (rows x features; not for
        ``reduction="maps"``), for a consumer that accumulates them there.
        """
        run = self._run
        forward_fn = self.extractor.forward_fn
        if forward_fn is None and isinstance(batch, (tuple, list)) and batch:
            batch = batch[0]  # (x, y) pairs: the model takes x
        batch = run.move(batch)
        # Inference mode for this forward only: the consumer's code between
        # two batches runs in whatever grad mode it chose.
        with torch.inference_mode():
            run.forward(batch, forward_fn)
        first = self.widths is None
        if first:
            run.remove_trail()
        values = {capture.name: capture.take() for capture in run.captures}
        n_batch = _n_rows(batch)
        if n_batch is None:
            capture = run.captures[0]
            n_batch = values[capture.name].shape[0] // capture.n_positions
        if first:
            self.widths = {name: value.shape[1] for name, value in values.items()}
            self.positions = {c.name: c.n_positions for c in run.captures}
        if self.done + n_batch > self.n_samples:
            raise ValueError(
                f"The inputs yielded more samples than the {self.n_samples} "
                "announced by their len()."
            )
        activations = {}
        for capture in run.captures:
            value = values[capture.name]
            TorchActivationExtractor._check_batch(
                capture, value, n_batch, self.widths, self.positions, self.done
            )
            if on_device and not self.maps:
                activations[capture.name] = value
                continue
            array = value.cpu().numpy()
            if self.maps:
                array = _as_maps(array, capture.map_shape)
            activations[capture.name] = array
        self.done += n_batch
        return activations, n_batch

    def finish(self):
        """Check that the inputs yielded the number of samples they announced."""
        if self.done != self.n_samples:
            raise ValueError(
                f"The inputs yielded {self.done} samples, but their len() "
                f"announced {self.n_samples}."
            )


def _iter_stream(stream, batches, progress):
    """Run `stream` over `batches`, yielding each batch's activations."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=batches.n_samples,
            unit="sample",
            desc=type(stream.extractor).__name__,
        )
    try:
        with stream:
            for batch in batches:
                activations, n_batch = stream.process(batch)
                if bar is not None:
                    bar.update(n_batch)
                yield activations
            stream.finish()
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------------
# Pickling: the model travels through torch.save, and loads on CPU when the
# device it was saved on is missing.
# --------------------------------------------------------------------------


def _device_available(location):
    kind, _, index = location.partition(":")
    if kind == "cpu":
        return True
    if kind == "cuda":
        if not torch.cuda.is_available():
            return False
        return int(index or 0) < torch.cuda.device_count()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    return True


def _load_state(payload):
    """Load a torch-saved state; storages of a missing device go to the CPU."""
    missing = set()

    def map_location(storage, location):
        if _device_available(location):
            return None  # torch's default: back where it was saved
        missing.add(location)
        return storage  # stays on the CPU, where torch deserialised it

    state = torch.load(
        io.BytesIO(payload), map_location=map_location, weights_only=False
    )
    return state, sorted(missing)


# --------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------


def _numpy_dtype(dtype):
    """Return the numpy dtype of a numpy or torch dtype (TypeError if none)."""
    if isinstance(dtype, torch.dtype):
        try:
            return torch.empty(0, dtype=dtype).numpy().dtype
        except (TypeError, RuntimeError) as exc:
            raise TypeError(f"dtype={dtype} has no numpy equivalent.") from exc
    return np.dtype(dtype)


class TorchActivationExtractor(TransformerMixin, BaseEstimator):
    """Activation matrices (samples x units) of chosen layers of a torch model.

    Runs the model once over the inputs, in batches, and captures the output
    of each requested layer with a forward hook. Each captured tensor is
    reduced on the device to a samples x features block, copied, and written
    straight into one preallocated output array. Layers are concatenated
    column-wise in the order given, so the result feeds any skrep or
    scikit-learn estimator: ``make_pipeline(extractor, SVCCA())``.

    The extractor holds no learned state (like
    :class:`~sklearn.preprocessing.FunctionTransformer`): :meth:`transform`
    works without :meth:`fit`, and ``fit`` is a cheap probe on two samples
    that records layer shapes and output feature names.

    Parameters
    ----------
    model : torch.nn.Module
        The network. ``DataParallel``, ``DistributedDataParallel`` and
        ``torch.compile`` wrappers are unwrapped: layers are named as in the
        inner module, and the inner module runs (eagerly, on one device).
        The model is never modified beyond the call: its training flags
        (every submodule's), device, hooks and weights are restored afterwards,
        also when the forward raises.

    layers : str, list of str or callable
        Which modules to capture, by their ``model.named_modules()`` names,
        e.g. ``"features.3"`` or ``["features.3", "classifier.1"]``. A name
        with ``*``, ``?`` or ``[`` is a glob pattern (:mod:`fnmatch`, ``*``
        also matches dots): ``"layer*.0"``. A callable ``layers(name, module)
        -> bool`` selects every module for which it is true. Order: as given,
        each pattern's matches in ``named_modules()`` order, repeats dropped.
        An unknown name raises ``ValueError`` that suggests the close names.
        The root module (name ``""``) is not selectable: name its last
        submodule instead.

    reduction : {"mean", "max", "flatten", "positions", "maps"} or callable, \
            default="mean"
        How a layer output ``(N, ...)`` becomes a ``(rows, features)`` block.
        Reductions act on every axis but the samples (axis 0) and the channels
        (see ``channel_axis``):

        - ``"mean"``, ``"max"``: average / maximum over positions (spatial
          positions of a conv map, tokens of a sequence): ``(N, C)``.
        - ``"flatten"``: every value is a feature: ``(N, C * H * W)``.
        - ``"positions"``: every position is a sample row, sample-major
          (rows ``n * P + p``), the convention of Convergent Learning and
          SVCCA for conv layers: ``(N * H * W, C)``. This multiplies the
          rows by the number of positions P; with several layers all must
          have the same P (else ``ValueError``; :meth:`extract` allows
          different P per layer).
        - ``"maps"``: every value is a feature, channels first, then the
          positions: ``(N, C * H * W)`` flattened channel-major (for a
          channels-last output ``(N, T, D)``, ``(N, D * T)``), so that
          ``reshape(N, C, H, W)`` gives the maps back. :meth:`extract`
          returns the maps themselves, ``(N, C, H, W)`` (``(N, C, L)`` for
          a Conv1d, ``(N, D, T)`` for tokens), as :class:`~skrep.DFTCCA`
          takes them.
        - a callable ``f(tensor (N, ...)) -> tensor (N, F)``, applied on the
          device to every captured tensor (2-D ones included).

        2-D outputs ``(N, D)`` pass through the built-in reductions; 1-D
        outputs ``(N,)`` become one feature.

    batch_size : int, default=128
        Samples per forward pass for arrays, tensors and Datasets. A
        DataLoader keeps its own batch size.

    device : str, torch.device or None, default=None
        Where to run. The model and each batch are moved there for the call
        and the model is moved back after. None: the model's current device
        (of its first parameter or buffer; a model without any leaves the
        batches where they are).

    channel_axis : "auto" or int, default="auto"
        The axis that holds the channels (features) of outputs with three or
        more axes; the other non-sample axes are positions. ``"auto"``: axis
        1 for convolution-like modules (Conv1d/2d/3d, pooling, BatchNorm,
        ...), the last axis for token-like ones (Linear, LayerNorm,
        attention, RNNs, Transformer layers). A module whose type says
        neither (ReLU, Sequential, a custom block) takes the layout of the
        last convolution-like or token-like module that produced an output
        of the same shape in the same forward pass; failing that, axis 1 for
        outputs with four or more axes and the last axis for 3-D ones. Check
        the choice in ``channel_axes_`` after :meth:`fit`. An int sets the
        axis for every layer (negative counts from the end; 0 is refused).
        Ignored for 2-D outputs and by a callable ``reduction``.

    dtype : numpy or torch floating dtype, default=np.float32
        The dtype of the output (float16, float32 or float64). Reductions
        run in the activations' dtype (at least float32 for ``"mean"``) and
        are cast to this one on the device.

    output_index : int, default=0
        For a module that returns a tuple or list (``nn.LSTM``,
        ``nn.MultiheadAttention``...), the element to capture; for a module
        that returns a dict and ``output_key=None``, the position of the entry
        to capture (insertion order).

    output_key : str or None, default=None
        For a module that returns a dict (e.g. a ``ModelOutput``), the key
        to capture. Ignored for tuple and tensor outputs.

    repeated : {"error", "first", "last", "mean"}, default="error"
        What to do when a layer fires more than once in one forward pass
        (a module reused in a loop): raise ``ValueError``, keep the first or
        the last call, or average the calls' reduced activations.

    forward_fn : callable or None, default=None
        ``forward_fn(model, batch)`` runs the model on one batch, for models
        that need more than ``model(batch)`` (keyword inputs, masks, a method
        other than ``forward``). Its return value is ignored. It receives the
        model (unwrapped, in eval mode, on ``device``) and the whole batch as
        collated (e.g. a dict, or an ``(x, y)`` pair), moved to ``device``.
        Without it, a tuple or list batch (e.g. a Dataset of ``(x, y)``
        pairs) gives its first element to the model.

    max_memory : int or None, default=None
        Memory budget of the output, in bytes. A larger output is written to
        a :class:`numpy.memmap` in ``memmap_dir`` instead of memory. None:
        always in memory.

    memmap_dir : str, path-like or None, default=None
        Folder of the memory-mapped output (None: the system's temporary
        folder). The file's name is removed at once (POSIX), so nothing is
        left behind; its disk space is freed with the array.

    progress : bool, default=False
        Show a progress bar (tqdm, imported only then).

    Attributes
    ----------
    layer_names_ : list of str
        The captured layers, in output order (globs and filters resolved).

    layer_shapes_ : dict of str to tuple of int
        Per-sample shape of each layer's output, without the sample axis,
        e.g. ``{"features.3": (64, 13, 13)}``.

    channel_axes_ : dict of str to int
        The channel axis used for each layer, counted in the full ``(N, ...)``
        tensor.

    layer_n_features_ : dict of str to int
        Number of output columns of each layer.

    n_features_out_ : int
        Number of columns of :meth:`transform`'s output.

    n_features_in_ : int
        ``X.shape[1]`` of an array ``X`` seen in :meth:`fit` (not set for
        tensors, Datasets and DataLoaders).

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.preprocessing.FunctionTransformer : Another stateless transformer.

    Notes
    -----
    **Inputs.** Numpy arrays (and array-likes) and tensors shaped ``(N, ...)``
    are cut into ``batch_size`` slices; map-style Datasets are read in index
    order and collated with :func:`torch.utils.data.default_collate`; a
    DataLoader must read its dataset in order (``shuffle=False``; any other
    sampler is refused, since rows must stay aligned with another network's
    activations). Floating inputs are cast to the model's floating dtype;
    integer inputs (token ids) are left as they are. NaN or inf in the
    inputs are not checked: they are the model's business.

    **Values.** Each layer's output is captured inside its forward hook,
    reduced on the device and copied, so an in-place operation that follows
    (``ReLU(inplace=True)``) cannot change it. The forward runs in eval mode
    under :func:`torch.inference_mode`. Captured activations that are not
    finite (NaN or inf, e.g. from NaN inputs or float16 overflow) raise
    ``ValueError``: the extractor never returns NaN silently.

    **Memory.** The output is allocated once, when the first batch tells
    the layer widths, and each batch is written straight into it, so peak
    host memory is the output plus one batch. The number of samples must be
    known in advance (``len`` of the Dataset, or of the DataLoader's dataset).
    :meth:`iter_batches` yields the activations one batch at a time instead,
    for streaming estimators (``partial_fit``), so memory does not grow with
    the number of inputs; :func:`skrep.torch.compare_models` builds on it.

    **Threads.** Calls on the same model take turns (a per-model lock), since
    hooks and eval mode are set on the shared model. Each run's hooks record
    only that run's own forward passes, so two models sharing modules (a
    probe stacked on a backbone) compare correctly in one call of
    :func:`~skrep.torch.compare_models`, and batch iterators of one model
    can be zipped (the last one closed restores the model). Two such
    models run from two threads at once are not supported: their shared
    modules would fire both runs' hooks.

    **Cloning and pickling.** :func:`sklearn.base.clone` shares the model
    (it is not copied: the extractor never trains it). Pickling saves the
    model with :func:`torch.save`; loading maps tensors from a device that
    is not available (e.g. CUDA on a CPU-only machine) to the CPU, with a
    warning.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skrep.torch import TorchActivationExtractor
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(
    ...     nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10)
    ... )
    >>> images = torch.randn(20, 3, 8, 8)
    >>> extractor = TorchActivationExtractor(net, ["0", "3"], reduction="mean")
    >>> extractor.transform(images).shape
    (20, 18)
    >>> {name: acts.shape for name, acts in extractor.extract(images).items()}
    {'0': (20, 8), '3': (20, 10)}
    >>> extractor.fit(images).get_feature_names_out()[:3]
    array(['0__0', '0__1', '0__2'], dtype=object)
    >>> extractor.layer_shapes_
    {'0': (8, 6, 6), '3': (10,)}
    >>> TorchActivationExtractor(net, "0", reduction="positions").transform(
    ...     images
    ... ).shape
    (720, 8)
    """

    _parameter_constraints: dict = {
        "model": [nn.Module],
        "layers": [str, list, tuple, callable],
        "reduction": [StrOptions(set(_REDUCTIONS)), callable],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device, None],
        "channel_axis": [
            StrOptions({"auto"}),
            Interval(Integral, None, None, closed="neither"),
        ],
        "dtype": [type, str, np.dtype, torch.dtype],
        "output_index": [Interval(Integral, None, None, closed="neither")],
        "output_key": [str, None],
        "repeated": [StrOptions(set(_REPEATED))],
        "forward_fn": [callable, None],
        "max_memory": [Interval(Integral, 0, None, closed="left"), None],
        "memmap_dir": [str, os.PathLike, None],
        "progress": ["boolean"],
    }

    def __init__(
        self,
        model,
        layers,
        *,
        reduction="mean",
        batch_size=128,
        device=None,
        channel_axis="auto",
        dtype=np.float32,
        output_index=0,
        output_key=None,
        repeated="error",
        forward_fn=None,
        max_memory=None,
        memmap_dir=None,
        progress=False,
    ):
        self.model = model
        self.layers = layers
        self.reduction = reduction
        self.batch_size = batch_size
        self.device = device
        self.channel_axis = channel_axis
        self.dtype = dtype
        self.output_index = output_index
        self.output_key = output_key
        self.repeated = repeated
        self.forward_fn = forward_fn
        self.max_memory = max_memory
        self.memmap_dir = memmap_dir
        self.progress = progress

    # scikit-learn API ------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Probe the model on two samples and record the layers' shapes.

        Cheap: no learned state. It records ``layer_names_``,
        ``layer_shapes_``, ``channel_axes_``, ``layer_n_features_`` and
        ``n_features_out_``, which :meth:`get_feature_names_out` needs.

        Parameters
        ----------
        X : array-like, tensor, Dataset or DataLoader of shape (n_samples, ...)
            Inputs of the model; only the first two samples are used.

        y : None
            Ignored.

        Returns
        -------
        self : TorchActivationExtractor
            The extractor.
        """
        X = self._check_inputs(X, reset=True)
        _, info = self._run(X, mode="probe")
        self.layer_names_ = list(info)
        self.layer_shapes_ = {name: layer.sample_shape for name, layer in info.items()}
        self.channel_axes_ = {name: layer.channel_axis for name, layer in info.items()}
        self.layer_n_features_ = {
            name: layer.n_features for name, layer in info.items()
        }
        self.n_features_out_ = sum(self.layer_n_features_.values())
        self._n_features_out = self.n_features_out_
        return self

    def transform(self, X):
        """Activations of the layers, concatenated column-wise.

        Needs no :meth:`fit`, and sets no attribute.

        Parameters
        ----------
        X : array-like, tensor, Dataset or DataLoader of shape (n_samples, ...)
            Inputs of the model.

        Returns
        -------
        activations : ndarray of shape (n_rows, n_features)
            ``n_rows`` is ``n_samples``, or ``n_samples * n_positions`` with
            ``reduction="positions"``. A :class:`numpy.memmap` when the
            output exceeds ``max_memory``.
        """
        self._validate_params_if_needed()
        X = self._check_inputs(X, reset=False)
        activations, _ = self._run(X, mode="transform")
        return activations

    def extract(self, X):
        """Activations of each layer, as a dict ``{layer name: array}``.

        Parameters
        ----------
        X : array-like, tensor, Dataset or DataLoader of shape (n_samples, ...)
            Inputs of the model.

        Returns
        -------
        activations : dict of str to ndarray of shape (n_rows, n_features)
            One array per layer, in the order of ``layer_names_``. With
            ``reduction="positions"`` layers may have different numbers of
            rows here. With ``reduction="maps"`` each array keeps its
            positions, channels first: ``(n_samples, C, H, W)`` (2-D
            outputs stay ``(n_samples, D)``).
        """
        self._validate_params_if_needed()
        X = self._check_inputs(X, reset=False)
        activations, _ = self._run(X, mode="extract")
        return activations

    def iter_batches(self, X):
        """Activations batch by batch, without holding them all.

        A generator over the batches of ``X`` (``batch_size`` samples each,
        or the DataLoader's batches): runs the model on one batch, yields its
        activations, and moves on when the next one is asked for. Memory
        holds one batch, whatever the number of inputs, so the batches can
        feed a streaming estimator's ``partial_fit`` (see
        :func:`skrep.torch.compare_models`). Needs no :meth:`fit`, and sets
        no attribute.

        The layers, the inputs and the device are checked when the method is
        called. The model is touched only while the generator runs: from the
        first batch asked for until the last one is consumed, the generator
        is closed (``close()``, or leaving a ``for`` loop over it with
        ``break`` once it is no longer referenced) or an error is raised, it
        is in eval mode, on ``device``, with the extractor's hooks, and
        other extractions of the same model wait. Then its training flags,
        device and hooks are restored. To stop early and restore it at once,
        close the generator, e.g. with :func:`contextlib.closing`. Consume
        it in the thread that started it. Each forward pass runs under
        :func:`torch.inference_mode`; the code between two batches runs in
        the caller's own grad mode.

        Parameters
        ----------
        X : array-like, tensor, Dataset or DataLoader of shape (n_samples, ...)
            Inputs of the model.

        Yields
        ------
        activations : dict of str to ndarray of shape (n_rows, n_features)
            One array per layer, in the order of ``layer_names_``, laid out
            as :meth:`extract` lays them out, for this batch's samples only
            (``n_rows = batch samples * n_positions`` with
            ``reduction="positions"``; maps ``(batch samples, C, H, W)`` with
            ``reduction="maps"``). Each batch's arrays are new (host memory,
            ``dtype``), so they can be kept. Stacking the batches of a layer
            in order gives :meth:`extract`'s array for it.

        Raises
        ------
        ValueError
            When a layer name is unknown, the device is not available or the
            inputs hold no samples (at the call); when a batch breaks the
            rules of :meth:`extract` (non-finite activations, a changing
            number of positions or features; while iterating).

        Examples
        --------
        >>> import numpy as np
        >>> import torch
        >>> from torch import nn
        >>> from skrep import SVCCA
        >>> from skrep.torch import TorchActivationExtractor
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
        >>> images = torch.randn(100, 3, 8, 8)
        >>> extractor = TorchActivationExtractor(net, ["1", "2"], batch_size=32)
        >>> [batch["1"].shape for batch in extractor.iter_batches(images)]
        [(32, 8), (32, 8), (32, 8), (4, 8)]

        Streaming into an estimator, one batch at a time:

        >>> est = SVCCA(svd_components=None)
        >>> for batch in extractor.iter_batches(images):
        ...     _ = est.partial_fit(batch["1"], batch["2"])
        >>> est.n_samples_seen_
        100
        >>> full = extractor.extract(images)
        >>> at_once = SVCCA(svd_components=None).fit(full["1"], full["2"])
        >>> bool(np.allclose(
        ...     est.canonical_correlations_, at_once.canonical_correlations_
        ... ))
        True
        """
        self._validate_params_if_needed()
        X = self._check_inputs(X, reset=False)
        batches = _Batches(X, self.batch_size)
        if batches.n_samples == 0:
            raise ValueError("The inputs hold no samples.")
        stream = _Stream(self, batches.n_samples)
        return _iter_stream(stream, batches, self.progress)

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``"<layer>__<column>"``, e.g. ``"features.3__17"``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in :meth:`fit`.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column.
        """
        check_is_fitted(self, "n_features_out_")
        _check_feature_names_in(self, input_features, generate_names=False)
        names = [
            f"{layer}__{column}"
            for layer in self.layer_names_
            for column in range(self.layer_n_features_[layer])
        ]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.non_deterministic = False
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.target_tags.required = False
        try:
            dtype_name = _numpy_dtype(self.dtype).name
        except TypeError:
            dtype_name = "float32"
        tags.transformer_tags.preserves_dtype = [dtype_name]
        return tags

    def __sklearn_clone__(self):
        # The default clone deep-copies every parameter that is not an
        # estimator, the model included. The extractor never trains its model,
        # so clones share it (and the callables) instead.
        clone = type(self)(**self.get_params(deep=False))
        for attribute in ("_metadata_request", "_skl_callbacks"):
            if hasattr(self, attribute):
                setattr(clone, attribute, getattr(self, attribute))
        if hasattr(self, "_sklearn_output_config"):
            clone._sklearn_output_config = copy.deepcopy(self._sklearn_output_config)
        return clone

    def __getstate__(self):
        state = super().__getstate__()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return {"_torch_state": buffer.getvalue()}

    def __setstate__(self, state):
        if "_torch_state" in state:
            state, missing = _load_state(state["_torch_state"])
            if missing:
                warnings.warn(
                    f"{type(self).__name__}: the pickle holds tensors on "
                    f"{', '.join(missing)}, which this machine does not have; "
                    "they were loaded on the CPU. Set device='cpu' (or None) "
                    "before using the extractor here.",
                    UserWarning,
                    stacklevel=2,
                )
        super().__setstate__(state)

    # internals -------------------------------------------------------------

    def _validate_params_if_needed(self):
        if not get_config().get("skip_parameter_validation", False):
            self._validate_params()

    def _check_params(self):
        """Check what `_parameter_constraints` cannot express."""
        try:
            dtype = _numpy_dtype(self.dtype)
        except TypeError as exc:
            raise TypeError(f"dtype={self.dtype!r} is not a numpy dtype.") from exc
        if dtype.kind != "f":
            raise ValueError(
                f"dtype must be a floating dtype (float16/32/64); got {dtype}."
            )
        if self.channel_axis == 0:
            raise ValueError(
                "channel_axis=0 names the sample axis; channels are axis 1 for "
                "(N, C, H, W) maps or -1 for (N, T, D) tokens."
            )

    def _check_inputs(self, X, *, reset):
        if reset:
            for attribute in ("n_features_in_", "feature_names_in_"):
                if hasattr(self, attribute):
                    delattr(self, attribute)
        if isinstance(X, torch.Tensor):
            if X.ndim < 1:
                raise ValueError("A tensor input needs a sample axis (N, ...).")
            return X
        if isinstance(X, (Dataset, DataLoader)):
            return X
        options = {
            "accept_sparse": False,
            "dtype": "numeric",
            "ensure_2d": True,
            "allow_nd": True,
            "ensure_all_finite": False,
        }
        if reset or hasattr(self, "n_features_out_"):
            return validate_data(self, X, reset=reset, **options)
        return check_array(X, **options)

    def _run(self, X, *, mode):
        """Run the model over `X`; return (output, {layer: _LayerInfo})."""
        self._check_params()
        root, prefixes = _unwrap(self.model)
        layers = _select_layers(root, self.layers, prefixes)
        limit = _PROBE_SAMPLES if mode == "probe" else None
        batches = _Batches(X, self.batch_size, limit=limit)
        if batches.n_samples == 0:
            raise ValueError("The inputs hold no samples.")
        device = _resolve_device(self.device, root)
        output = _Output(
            [name for name, _ in layers],
            batches.n_samples,
            concatenate=mode == "transform",
            dtype=_numpy_dtype(self.dtype),
            max_memory=None if mode == "probe" else self.max_memory,
            memmap_dir=self.memmap_dir,
        )
        with _model_lock(root):
            run = _Run(self, root, layers, device)
            bar = state = None
            try:
                state = _Entered(root, device)
                run.register()
                if self.progress and mode != "probe":
                    from tqdm.auto import tqdm

                    bar = tqdm(
                        total=batches.n_samples, unit="sample", desc=type(self).__name__
                    )
                with torch.inference_mode():
                    self._loop(run, batches, output, bar)
            finally:
                try:
                    run.remove()
                finally:
                    if state is not None:
                        state.release()
                    if bar is not None:
                        bar.close()
        info = {
            capture.name: _LayerInfo(
                capture.sample_shape,
                capture.channel_axis,
                output.columns[capture.name].stop - output.columns[capture.name].start,
                capture.n_positions,
            )
            for capture in run.captures
        }
        result = output.result()
        if mode == "extract" and isinstance(self.reduction, str):
            if self.reduction == "maps":
                result = {
                    c.name: _as_maps(result[c.name], c.map_shape) for c in run.captures
                }
        return result, info

    def _loop(self, run, batches, output, bar):
        forward_fn = self.forward_fn
        done = 0
        widths = positions = None
        for batch in batches:
            if forward_fn is None and isinstance(batch, (tuple, list)) and batch:
                batch = batch[0]  # (x, y) pairs: the model takes x
            batch = run.move(batch)
            run.forward(batch, forward_fn)
            if widths is None:
                run.remove_trail()
            values = {capture.name: capture.take() for capture in run.captures}
            n_batch = _n_rows(batch)
            if n_batch is None:
                first = run.captures[0]
                n_batch = values[first.name].shape[0] // first.n_positions
            if widths is None:
                widths = {name: value.shape[1] for name, value in values.items()}
                positions = {c.name: c.n_positions for c in run.captures}
                output.allocate(widths, positions)
            if done + n_batch > batches.n_samples:
                raise ValueError(
                    f"The inputs yielded more samples than the {batches.n_samples} "
                    "announced by their len()."
                )
            for capture in run.captures:
                value = values[capture.name]
                self._check_batch(capture, value, n_batch, widths, positions, done)
                output.write(capture.name, done * capture.n_positions, value)
            done += n_batch
            if bar is not None:
                bar.update(n_batch)
        if done != batches.n_samples:
            raise ValueError(
                f"The inputs yielded {done} samples, but their len() announced "
                f"{batches.n_samples}."
            )

    @staticmethod
    def _check_batch(capture, value, n_batch, widths, positions, done):
        name = capture.name
        if capture.n_positions != positions[name]:
            raise ValueError(
                f"Layer {name!r} changed its number of positions between batches "
                f"({positions[name]} then {capture.n_positions}); "
                "reduction='positions' needs a fixed number (pad the inputs, "
                "or use reduction='mean')."
            )
        if value.shape[1] != widths[name]:
            raise ValueError(
                f"Layer {name!r} changed its number of features between batches "
                f"({widths[name]} then {value.shape[1]}); with inputs of varying "
                "size use reduction='mean' or 'max'."
            )
        if value.shape[0] != n_batch * capture.n_positions:
            raise ValueError(
                f"Layer {name!r} returned {value.shape[0] // capture.n_positions} "
                f"samples for a batch of {n_batch}: its first axis is not the "
                "sample axis (e.g. nn.LSTM without batch_first=True puts time "
                "first). Capture another layer or set batch_first=True."
            )
        if value.numel() and not _all_finite(value):
            raise ValueError(
                f"Layer {name!r} produced non-finite activations (NaN or inf) for "
                f"samples {done} to {done + n_batch - 1}. The extractor does not "
                "return them: check the inputs for NaN/inf and the model for "
                "overflow (e.g. float16)."
            )
