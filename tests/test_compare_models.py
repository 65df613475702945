"""compare_models and TorchActivationExtractor.iter_batches: streamed grids."""

import contextlib
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Dataset, TensorDataset  # noqa: E402

from skrep import (  # noqa: E402
    CKA,
    DFTCCA,
    PWCCA,
    RSA,
    SVCCA,
    Procrustes,
    SparseLayerPredictor,
    SparseLayerPredictorCV,
    UnitMatcher,
    compare_layers,
)
from skrep.torch import TorchActivationExtractor, compare_models  # noqa: E402

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ATOL = 1e-9


# --------------------------------------------------------------------------
# Small models and inputs
# --------------------------------------------------------------------------


def conv_net(seed):
    """1 x 8 x 8 images; "1" and "3" are 8 x 8 maps, "6" 4 x 4, "9" dense."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),  # 0
        nn.ReLU(),  # 1
        nn.Conv2d(4, 6, 3, padding=1),  # 2
        nn.ReLU(),  # 3
        nn.MaxPool2d(2),  # 4
        nn.Conv2d(6, 6, 3, padding=1),  # 5
        nn.ReLU(),  # 6
        nn.Flatten(),  # 7
        nn.Linear(96, 12),  # 8
        nn.ReLU(),  # 9
        nn.Linear(12, 5),  # 10
    )


def mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(10, 12), nn.ReLU(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 5)
    )


def images(n, seed=0):
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def vectors(n, seed=0):
    return torch.randn(n, 10, generator=torch.Generator().manual_seed(seed))


def reference(net_a, net_b, inputs, test, layers, estimator, *, pairs="all",
              reduction="mean", batch_size=64, **params):  # fmt: skip
    """Extract everything, then compare_layers: what compare_models must equal."""
    layers_a, layers_b = layers if isinstance(layers, tuple) else (layers, layers)
    ext_a = TorchActivationExtractor(
        net_a, layers_a, reduction=reduction, batch_size=batch_size, **params
    )
    ext_b = TorchActivationExtractor(
        net_b, layers_b, reduction=reduction, batch_size=batch_size, **params
    )
    held_out = None if test is None else (ext_a.extract(test), ext_b.extract(test))
    return compare_layers(
        ext_a.extract(inputs), ext_b.extract(inputs), estimator, test=held_out,
        pairs=pairs,
    )  # fmt: skip


def assert_same_grid(got, want):
    assert got.layers_a == want.layers_a
    assert got.layers_b == want.layers_b
    assert got.evaluation == want.evaluation
    assert got.estimator == want.estimator
    assert got.scores_std is None
    assert_array_equal(np.isnan(got.scores), np.isnan(want.scores))
    assert_allclose(got.scores, want.scores, rtol=0, atol=ATOL)


@pytest.fixture(autouse=True)
def quiet():
    # Small untrained nets have dead units: the estimators say so, rightly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------
# Equality with extract everything + compare_layers
# --------------------------------------------------------------------------

STREAMING = {
    "SVCCA": SVCCA(),
    "PWCCA": PWCCA(),
    "UnitMatcher": UnitMatcher(),
    "UnitMatcher-semi": UnitMatcher(method="semi-matching"),
    "CKA": CKA(),
    "CKA-debiased": CKA(debiased=True),
    "Procrustes": Procrustes(),
    "Procrustes-0.5": Procrustes(alpha=0.5),
}


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
@pytest.mark.parametrize("name", list(STREAMING))
def test_conv_positions_grid_equals_compare_layers(name, held_out):
    estimator = STREAMING[name]
    net_a, net_b = conv_net(0), conv_net(1)
    inputs, test = images(150), images(60, seed=1) if held_out else None
    got = compare_models(
        net_a, net_b, inputs, ["1", "3"], estimator, test=test,
        reduction="positions", batch_size=64,
    )  # fmt: skip
    want = reference(
        net_a, net_b, inputs, test, ["1", "3"], estimator, reduction="positions"
    )
    assert_same_grid(got, want)
    assert np.isfinite(got.scores).all()


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
@pytest.mark.parametrize("name", list(STREAMING))
def test_mlp_diagonal_equals_compare_layers(name, held_out):
    estimator = STREAMING[name]
    net_a, net_b = mlp(0), mlp(1)
    inputs, test = vectors(300), vectors(100, seed=1) if held_out else None
    layers = ["1", "3", "4"]
    got = compare_models(
        net_a, net_b, inputs, layers, estimator, test=test, pairs="diagonal",
        batch_size=64, extractor_params={"dtype": np.float64},
    )  # fmt: skip
    want = reference(
        net_a, net_b, inputs, test, layers, estimator, pairs="diagonal",
        dtype=np.float64,
    )  # fmt: skip
    assert_same_grid(got, want)
    assert np.isnan(got.scores[0, 1]) and np.isfinite(np.diag(got.scores)).all()


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
def test_conv_mean_grid_over_five_layers(held_out):
    net_a, net_b = conv_net(0), conv_net(2)
    inputs, test = images(200), images(80, seed=1) if held_out else None
    layers = ["1", "3", "6", "9", "10"]
    got = compare_models(
        net_a, net_b, inputs, layers, test=test, batch_size=48
    )  # default SVCCA(), pairs="all"
    want = reference(net_a, net_b, inputs, test, layers, SVCCA(), batch_size=48)
    assert_same_grid(got, want)
    assert got.scores.shape == (5, 5)


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
def test_estimators_scored_on_kept_rows(held_out):
    # No in-sample score from the moments: the rows are kept and scored.
    net_a, net_b = conv_net(0), conv_net(1)
    inputs, test = images(150), images(60, seed=1) if held_out else None
    est = SparseLayerPredictor(decay=0)
    got = compare_models(net_a, net_b, inputs, ["6", "9"], est, test=test)
    assert_same_grid(got, reference(net_a, net_b, inputs, test, ["6", "9"], est))
    est = DFTCCA()
    got = compare_models(
        net_a, net_b, inputs, ["1", "3"], est, test=test, reduction="maps"
    )
    want = reference(net_a, net_b, inputs, test, ["1", "3"], est, reduction="maps")
    assert_same_grid(got, want)


def test_layers_as_a_pair_and_as_a_dict():
    net_a, net_b = conv_net(0), conv_net(1)
    inputs, test = images(120), images(50, seed=1)
    got = compare_models(net_a, net_b, inputs, (["1", "9"], ["3", "6", "10"]), CKA())
    assert (got.layers_a, got.layers_b) == (["1", "9"], ["3", "6", "10"])
    want = reference(net_a, net_b, inputs, None, (["1", "9"], ["3", "6", "10"]), CKA())
    assert_same_grid(got, want)
    # A dict pairs layers one to one: the diagonal, in the dict's order.
    got = compare_models(
        net_a, net_b, inputs, {"9": "10", "1": "3"}, SVCCA(), test=test
    )
    assert (got.layers_a, got.layers_b) == (["9", "1"], ["10", "3"])
    want = reference(
        net_a, net_b, inputs, test, (["9", "1"], ["10", "3"]), SVCCA(),
        pairs="diagonal",
    )  # fmt: skip
    assert_same_grid(got, want)
    # ... and pairs="all" turns it into the grid of its keys and values.
    full = compare_models(net_a, net_b, inputs, {"9": "10", "1": "3"}, pairs="all")
    assert np.isfinite(full.scores).all()
    # A callable and glob patterns resolve as in the extractor.
    got = compare_models(
        net_a, net_b, inputs, lambda name, module: isinstance(module, nn.ReLU)
    )
    assert got.layers_a == ["1", "3", "6", "9"]
    assert compare_models(net_a, net_b, inputs, "[13]").layers_b == ["1", "3"]


def test_within_one_network_runs_it_once_per_batch():
    net = conv_net(0)
    calls = []
    net.register_forward_pre_hook(lambda module, args: calls.append(1))
    inputs, test = images(130), images(40, seed=1)
    got = compare_models(net, net, inputs, ["1", "3", "9"], test=test, batch_size=64)
    assert len(calls) == 3 + 1  # 3 batches of inputs, 1 of test
    ext = TorchActivationExtractor(net, ["1", "3", "9"], batch_size=64)
    want = compare_layers(
        ext.extract(inputs), None, SVCCA(), test=(ext.extract(test), None)
    )
    assert_same_grid(got, want)


class CountingDataset(Dataset):
    """(image, label) pairs; counts how often each item is read."""

    def __init__(self, data):
        self.data = data
        self.reads = np.zeros(len(data), dtype=int)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        self.reads[index] += 1
        return self.data[index], index % 3


def test_each_batch_is_read_once_and_run_through_each_model_once():
    net_a, net_b = conv_net(0), conv_net(1)
    calls = {"a": 0, "b": 0}
    net_a.register_forward_pre_hook(lambda m, a: calls.__setitem__("a", calls["a"] + 1))
    net_b.register_forward_pre_hook(lambda m, a: calls.__setitem__("b", calls["b"] + 1))
    data = CountingDataset(images(100))
    got = compare_models(net_a, net_b, data, ["1", "3"], UnitMatcher(), batch_size=32)
    assert_array_equal(data.reads, 1)
    assert calls == {"a": 4, "b": 4}
    want = reference(net_a, net_b, images(100), None, ["1", "3"], UnitMatcher(),
                     batch_size=32)  # fmt: skip
    assert_same_grid(got, want)
    # A sequential DataLoader keeps its own batches.
    loader = DataLoader(TensorDataset(images(100), torch.zeros(100)), batch_size=25)
    got = compare_models(net_a, net_b, loader, ["1", "3"], UnitMatcher(), test=loader)
    assert got.evaluation == "held-out"
    assert_allclose(
        got.scores,
        reference(
            net_a, net_b, images(100), images(100), ["1", "3"], UnitMatcher()
        ).scores,
        atol=ATOL,
    )


def test_forward_fn_and_float64_through_extractor_params():
    net_a, net_b = mlp(0), mlp(1)
    inputs = vectors(200)
    seen = []

    def forward_fn(model, batch):
        seen.append(batch.dtype)
        model(batch)

    params = {"forward_fn": forward_fn, "dtype": np.float64}
    got = compare_models(net_a, net_b, inputs, ["1", "3"], extractor_params=params)
    assert seen and set(seen) == {torch.float32}
    want = reference(net_a, net_b, inputs, None, ["1", "3"], SVCCA(), dtype=np.float64)
    assert_same_grid(got, want)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", [SparseLayerPredictorCV(), RSA()])
def test_estimator_without_partial_fit(estimator):
    with pytest.raises(TypeError, match="partial_fit.*compare_layers"):
        compare_models(mlp(0), mlp(1), vectors(50), ["1"], estimator)


@pytest.mark.parametrize(
    "estimator", [UnitMatcher(metric="mutual_info"), CKA(kernel="rbf")]
)
def test_estimator_that_does_not_stream(estimator):
    with pytest.raises(ValueError, match="does not stream"):
        compare_models(mlp(0), mlp(1), vectors(50), ["1"], estimator)


def test_clear_errors():
    net_a, net_b = conv_net(0), conv_net(1)
    inputs = images(40)
    with pytest.raises(ValueError, match="model_b: The model has no layer named"):
        compare_models(net_a, net_b, inputs, (["1"], ["relu"]))
    with pytest.raises(ValueError, match="Did you mean"):
        compare_models(net_a, net_b, inputs, ["11"])
    with pytest.raises(ValueError, match="same number of positions"):
        compare_models(net_a, net_b, inputs, ["1", "6"], reduction="positions")
    with pytest.raises(ValueError, match="pairs must be"):
        compare_models(net_a, net_b, inputs, ["1"], pairs="upper")
    with pytest.raises(ValueError, match="extractor_params must not hold"):
        compare_models(net_a, net_b, inputs, ["1"], extractor_params={"device": "cpu"})
    with pytest.raises(ValueError, match="maps two layers of model_a to one"):
        compare_models(net_a, net_b, inputs, {"1": "3", "6": "3"})
    with pytest.raises(TypeError, match="model_b must be a torch.nn.Module"):
        compare_models(net_a, "net", inputs, ["1"])
    with pytest.raises(ValueError, match="The test inputs hold no samples"):
        compare_models(net_a, net_b, inputs, ["1"], test=images(0))
    with pytest.raises(ValueError, match="device="):
        compare_models(net_a, net_b, inputs, ["1"], device="no-such-device")


def test_model_state_restored_also_after_an_error():
    net_a, net_b = conv_net(0), conv_net(1)
    net_a.train()
    net_b.eval()
    net_b[2].train()
    flags = [[m.training for m in net.modules()] for net in (net_a, net_b)]

    def state_is_back():
        assert [[m.training for m in net.modules()] for net in (net_a, net_b)] == flags
        for net in (net_a, net_b):
            for module in net.modules():
                assert not module._forward_hooks
            assert all(p.requires_grad for p in net.parameters())

    compare_models(net_a, net_b, images(80), ["1", "3"], test=images(30))
    state_is_back()
    # partial_fit fails on the first batch, after the forward passes.
    with pytest.raises(ValueError, match="same number of positions"):
        compare_models(net_a, net_b, images(80), ["1", "6"], reduction="positions")
    state_is_back()

    def broken(model, batch):
        model(batch)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        compare_models(net_a, net_b, images(80), ["1"], extractor_params={
            "forward_fn": broken})  # fmt: skip
    state_is_back()


def test_numpy_blas_on_one_thread_while_fitting_on_the_cpu():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        info = threadpoolctl.threadpool_info()
        return {pool["num_threads"] for pool in info if pool["user_api"] == "blas"}

    seen = []

    def forward_fn(model, batch):
        seen.append(blas_threads())
        model(batch)

    before = blas_threads()
    compare_models(
        mlp(0), mlp(1), vectors(100), ["1"], test=vectors(40), batch_size=50,
        extractor_params={"forward_fn": forward_fn},
    )  # fmt: skip
    assert seen[:4] == [{1}] * 4  # 2 batches x 2 models while fitting
    assert seen[4:] == [before] * 2  # the test pass leaves BLAS alone
    assert blas_threads() == before


def test_progress_bar(capsys):
    compare_models(mlp(0), mlp(1), vectors(100), ["1"], test=vectors(20), progress=True)
    err = capsys.readouterr().err
    assert "compare_models" in err and "100/100" in err and "20/20" in err


# --------------------------------------------------------------------------
# The batch iterator
# --------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "positions", "maps", "flatten"])
def test_iter_batches_stacks_to_extract(reduction):
    net = conv_net(0)
    inputs = images(70)
    layers = ["1", "3"] if reduction in ("positions", "maps") else ["1", "6", "10"]
    ext = TorchActivationExtractor(net, layers, reduction=reduction, batch_size=32)
    batches = list(ext.iter_batches(inputs))
    assert len(batches) == 3
    assert [list(batch) for batch in batches] == [layers] * 3
    full = ext.extract(inputs)
    for name in layers:
        assert_array_equal(np.concatenate([b[name] for b in batches]), full[name])
        assert batches[0][name].dtype == np.float32
    assert not hasattr(ext, "layer_names_")  # sets no attribute


def test_iter_batches_touches_the_model_only_while_iterating():
    net = conv_net(0).train()
    ext = TorchActivationExtractor(net, ["1", "9"], batch_size=16)
    iterator = ext.iter_batches(images(64))
    assert net.training and not net[1]._forward_hooks  # not started yet
    first = next(iterator)
    assert not net.training and net[1]._forward_hooks  # in use
    assert not torch.is_inference_mode_enabled()  # only around the forward
    first["1"][:] = 0  # the arrays are the caller's
    second = next(iterator)
    assert np.any(second["1"] != 0)
    iterator.close()  # stopping early restores everything
    assert net.training and not net[1]._forward_hooks
    # Breaking out of a loop over a closing() iterator restores it too.
    with contextlib.closing(ext.iter_batches(images(64))) as batches:
        for _ in batches:
            break
    assert net.training and not net[1]._forward_hooks
    # Exhausting it as well.
    assert sum(b["9"].shape[0] for b in ext.iter_batches(images(64))) == 64
    assert net.training and not net[1]._forward_hooks


def test_iter_batches_checks_at_the_call():
    net = conv_net(0)
    with pytest.raises(ValueError, match="no layer named"):
        TorchActivationExtractor(net, ["nope"]).iter_batches(images(8))
    with pytest.raises(ValueError, match="hold no samples"):
        TorchActivationExtractor(net, ["1"]).iter_batches(images(0))
    assert net.training and not net[1]._forward_hooks


def test_iter_batches_restores_after_an_error_in_a_batch():
    net = conv_net(0).train()
    data = images(64)
    data[40] = float("nan")
    ext = TorchActivationExtractor(net, ["1"], batch_size=16)
    with pytest.raises(ValueError, match="non-finite"):
        for _ in ext.iter_batches(data):
            pass
    assert net.training and not net[1]._forward_hooks


def test_iter_batches_progress(capsys):
    ext = TorchActivationExtractor(mlp(0), ["1"], batch_size=16, progress=True)
    for _ in ext.iter_batches(vectors(40)):
        pass
    assert "40/40" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Device
# --------------------------------------------------------------------------


@cuda
def test_cuda_equals_cpu_and_models_come_back():
    # float64 models: no TF32 convolutions on the GPU, so the digits agree.
    net_a, net_b = conv_net(0).double(), conv_net(1).double()
    inputs, test = images(150), images(60, seed=1)
    on_cpu = compare_models(
        net_a, net_b, inputs, ["1", "3"], test=test, reduction="positions",
        extractor_params={"dtype": np.float64},
    )  # fmt: skip
    on_gpu = compare_models(
        net_a, net_b, inputs, ["1", "3"], test=test, reduction="positions",
        device="cuda", extractor_params={"dtype": np.float64},
    )  # fmt: skip
    assert_allclose(on_gpu.scores, on_cpu.scores, rtol=0, atol=1e-8)
    for net in (net_a, net_b):
        assert all(p.device.type == "cpu" for p in net.parameters())
    # A model already on the GPU stays there.
    net_a.cuda()
    compare_models(net_a, net_b, inputs, ["1"], device="cuda")
    assert all(p.device.type == "cuda" for p in net_a.parameters())
    assert all(p.device.type == "cpu" for p in net_b.parameters())


# --------------------------------------------------------------------------
# Accumulation on the device (forced on the CPU here; on CUDA below)
# --------------------------------------------------------------------------

DEVICE_MOMENTS = {
    "SVCCA": SVCCA(),
    "PWCCA": PWCCA(),
    "UnitMatcher": UnitMatcher(),
    "UnitMatcher-semi": UnitMatcher(method="semi-matching"),
    "SparseLayerPredictor": SparseLayerPredictor(decay=1e-3),
    "Procrustes": Procrustes(),
}
#: Held-out scores read from the test rows' moments (others keep the rows).
SCORED_FROM_MOMENTS = {
    "SVCCA", "PWCCA", "UnitMatcher", "UnitMatcher-semi", "Procrustes"
}  # fmt: skip


@contextlib.contextmanager
def device_accumulation(monkeypatch, forced=True):
    """Force (or not) the device path; count its batches and host row writes."""
    from skrep.torch import _compare_models as module

    counts = {"device": 0, "host_rows": 0}
    update, write = module._DeviceGrid.update, module._Rows.write

    def counted_update(self, values):
        counts["device"] += 1
        assert all(isinstance(v, torch.Tensor) for v in values.values())
        return update(self, values)

    def counted_write(self, activations, n_batch):
        counts["host_rows"] += 1
        return write(self, activations, n_batch)

    with monkeypatch.context() as patch:
        patch.setattr(module, "_FORCE_DEVICE_ACCUMULATION", forced)
        patch.setattr(module._DeviceGrid, "update", counted_update)
        patch.setattr(module._Rows, "write", counted_write)
        yield counts


def both_paths(monkeypatch, *args, **kwargs):
    with device_accumulation(monkeypatch, forced=False) as host_counts:
        host = compare_models(*args, **kwargs)
    assert host_counts["device"] == 0
    with device_accumulation(monkeypatch) as counts:
        device = compare_models(*args, **kwargs)
    return host, device, counts


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
@pytest.mark.parametrize("name", list(DEVICE_MOMENTS))
def test_device_accumulation_equals_host_on_corresponding_layers(
    monkeypatch, name, held_out
):
    estimator = DEVICE_MOMENTS[name]
    net_a, net_b = conv_net(0), conv_net(1)
    inputs, test = images(150), images(60, seed=1) if held_out else None
    host, device, counts = both_paths(
        monkeypatch, net_a, net_b, inputs, {"1": "1", "3": "3", "6": "6"},
        estimator, test=test, reduction="positions", batch_size=64,
    )  # fmt: skip
    assert_same_grid(device, host)
    assert np.isfinite(np.diag(device.scores)).all()
    n_batches = 3 + (1 if held_out and name in SCORED_FROM_MOMENTS else 0)
    assert counts["device"] == n_batches
    keeps_rows = not getattr(estimator, "_scores_from_fit", False) or (
        held_out and name not in SCORED_FROM_MOMENTS
    )
    assert (counts["host_rows"] > 0) == keeps_rows


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
@pytest.mark.parametrize("name", list(DEVICE_MOMENTS))
def test_device_accumulation_equals_host_on_a_layer_grid(monkeypatch, name, held_out):
    estimator = DEVICE_MOMENTS[name]
    net_a, net_b = mlp(0), mlp(1)
    inputs, test = vectors(300), vectors(100, seed=1) if held_out else None
    layers = (["1", "3", "4"], ["0", "1", "3"])
    host, device, counts = both_paths(
        monkeypatch, net_a, net_b, inputs, layers, estimator, test=test,
        batch_size=64, extractor_params={"dtype": np.float64},
    )  # fmt: skip
    assert_same_grid(device, host)
    assert device.scores.shape == (3, 3) and np.isfinite(device.scores).all()
    assert counts["device"] >= 5
    # And both equal extracting everything, then compare_layers.
    want = reference(net_a, net_b, inputs, test, layers, estimator, dtype=np.float64)
    assert_same_grid(device, want)


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
def test_device_accumulation_within_one_network(monkeypatch, held_out):
    # One network on both sides: each layer's products are summed once.
    net = conv_net(0)
    inputs, test = images(150), images(60, seed=1) if held_out else None
    for estimator in (SVCCA(), PWCCA(), UnitMatcher(), SparseLayerPredictor()):
        host, device, _ = both_paths(
            monkeypatch, net, net, inputs, ["1", "6", "9"], estimator, test=test
        )
        assert_same_grid(device, host)
        if isinstance(estimator, (SVCCA, PWCCA)):  # dead units drop out of CCA
            assert_allclose(np.diag(device.scores), 1.0, rtol=0, atol=1e-9)


def test_device_grid_sums_each_layer_once():
    from skrep._core.moments import Moments
    from skrep.torch._compare_models import _DeviceGrid

    rng = np.random.RandomState(0)
    rows = {k: rng.randn(70, w) * 3 + 10 for k, w in (("a", 4), ("b", 3), ("c", 5))}
    # Layers with twice the rows per input (positions), in a cell of their own.
    rows.update({k: rng.randn(140, w) - 5 for k, w in (("d", 2), ("e", 6))})
    cells = [("a", "b"), ("a", "c"), ("c", "b"), ("a", "a"), ("d", "e")]
    for products, track_range in (("all", False), ("all", True), ("cross", False)):
        grid = _DeviceGrid(cells, products, track_range)
        for start in (0, 25, 50):  # three batches
            grid.update(
                {
                    k: torch.from_numpy(
                        v[len(v) // 70 * start : len(v) // 70 * (start + 25)]
                    )
                    for k, v in rows.items()
                }
            )
        assert sorted(grid.squares) == ["a", "b", "c", "d", "e"]
        assert grid.n_samples == {"a": 70, "b": 70, "c": 70, "d": 140, "e": 140}
        for key_a, key_b in cells:
            X, Y = rows[key_a], rows[key_b]
            want = Moments(X.shape[1], Y.shape[1], products=products,
                           track_range=track_range).update(X, Y)  # fmt: skip
            got = grid.to_moments(
                (key_a, key_b),
                Moments(X.shape[1], Y.shape[1], products=products,
                        track_range=track_range),
            )  # fmt: skip
            assert got.n_samples == len(X)
            for g, w in zip(got.covariances(), want.covariances()):
                if w is None:
                    assert g is None
                else:
                    assert_allclose(g, w, rtol=1e-12, atol=1e-9)
            # Independent formulas: the centred products of the rows.
            Xc, Yc = X - X.mean(0), Y - Y.mean(0)
            assert_allclose(got.covariances()[4], Xc.T @ Yc, rtol=1e-12, atol=1e-9)
            squares = np.concatenate([(Xc**2).sum(0), (Yc**2).sum(0)])
            assert_allclose(got.squares, squares, rtol=1e-12, atol=1e-9)
            if track_range:
                assert_array_equal(got.minimum, np.concatenate([X.min(0), Y.min(0)]))
                assert_array_equal(got.maximum, np.concatenate([X.max(0), Y.max(0)]))


@pytest.mark.parametrize(
    "estimator, held_out_on_device",
    [(CKA(), True), (CKA(debiased=True), False), (DFTCCA(), False)],
    ids=["CKA", "CKA-debiased", "DFTCCA"],
)
def test_other_accumulators_take_the_host_path(
    monkeypatch, estimator, held_out_on_device
):
    # Linear CKA accumulates its own statistics, DFTCCA reads maps: they fit
    # on the host. Linear CKA's held-out score reads the test rows' moments
    # (on the device); debiased CKA's needs row terms, so keeps the rows.
    net_a, net_b = conv_net(0), conv_net(1)
    reduction = "maps" if isinstance(estimator, DFTCCA) else "positions"
    with device_accumulation(monkeypatch) as counts:
        got = compare_models(
            net_a, net_b, images(100), ["1", "3"], estimator, test=images(40, 1),
            reduction=reduction,
        )  # fmt: skip
    assert counts["device"] == (1 if held_out_on_device else 0)  # one test batch
    assert (counts["host_rows"] == 0) == held_out_on_device
    want = reference(net_a, net_b, images(100), images(40, 1), ["1", "3"], estimator,
                     reduction=reduction)  # fmt: skip
    assert_same_grid(got, want)


def dead_net(seed):
    # A layer with dead units: ReLU after a bias of -100 on half its units.
    net = mlp(seed)
    with torch.no_grad():
        net[2].bias[:4] = -100.0
    return net


@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
@pytest.mark.parametrize(
    "name", ["SVCCA", "PWCCA", "UnitMatcher", "SparseLayerPredictor", "Procrustes"]
)
def test_device_accumulation_warns_as_the_host_path(monkeypatch, name, held_out):
    estimator = DEVICE_MOMENTS[name]
    args = (dead_net(0), dead_net(1), vectors(300), ["1", "3"], estimator)
    test = vectors(100, seed=1) if held_out else None
    caught = {}
    for forced in (False, True):
        with (
            device_accumulation(monkeypatch, forced=forced),
            warnings.catch_warnings(record=True) as record,
        ):
            warnings.simplefilter("always")
            grid = compare_models(*args, test=test, batch_size=64)
        caught[forced] = sorted((w.category.__name__, str(w.message)) for w in record)
        assert np.isfinite(grid.scores).all()
    assert any(c == "DeadUnitWarning" for c, _ in caught[True])
    assert caught[True] == caught[False]


def test_stream_process_keeps_tensors_on_the_device():
    from skrep.torch._extractor import _Stream

    ext = TorchActivationExtractor(mlp(0), ["1", "3"], batch_size=16)
    x = vectors(16)
    with _Stream(ext, 32) as stream:
        on_device, n = stream.process(x, on_device=True)
        on_host, _ = stream.process(x)
    assert n == 16
    for name in ("1", "3"):
        assert isinstance(on_device[name], torch.Tensor)
        assert isinstance(on_host[name], np.ndarray)
        assert_array_equal(on_device[name].numpy(), on_host[name])


@cuda
@pytest.mark.parametrize("held_out", [False, True], ids=["in-sample", "held-out"])
def test_cuda_accumulates_on_the_gpu_and_equals_the_host(monkeypatch, held_out):
    # float64 models: no TF32 on the GPU, so the digits agree with the CPU.
    net_a, net_b = conv_net(0).double(), conv_net(1).double()
    inputs, test = images(150), images(60, seed=1) if held_out else None
    params = {"dtype": np.float64}
    for name in ("SVCCA", "PWCCA", "UnitMatcher", "SparseLayerPredictor"):
        estimator = DEVICE_MOMENTS[name]
        for layers in ({"1": "1", "3": "3"}, ["1", "3", "6"]):
            with device_accumulation(monkeypatch, forced=False) as counts:
                on_gpu = compare_models(
                    net_a, net_b, inputs, layers, estimator, test=test,
                    reduction="positions" if isinstance(layers, dict) else "mean",
                    device="cuda", extractor_params=params,
                )  # fmt: skip
            assert counts["device"] >= 3
            on_cpu = compare_models(
                net_a, net_b, inputs, layers, estimator, test=test,
                reduction="positions" if isinstance(layers, dict) else "mean",
                extractor_params=params,
            )  # fmt: skip
            assert_allclose(on_gpu.scores, on_cpu.scores, rtol=0, atol=1e-8)
    for net in (net_a, net_b):
        assert all(p.device.type == "cpu" for p in net.parameters())


# --------------------------------------------------------------------------
# Memory does not grow with the number of inputs
# --------------------------------------------------------------------------

MEMORY_CHILD = r"""
import json, sys, warnings
import numpy as np, torch
from torch.utils.data import Dataset
from skrep.torch import compare_models

warnings.simplefilter("ignore")
torch.set_num_threads(1)

def rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

class Repeated(Dataset):  # n inputs without n inputs in memory
    def __init__(self, images, n):
        self.images, self.n = images, n
    def __len__(self):
        return self.n
    def __getitem__(self, index):
        return self.images[index % len(self.images)]

def net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(128, 10),
    )

images = torch.randn(500, 1, 8, 8, generator=torch.Generator().manual_seed(0))
net_a, net_b = net(0), net(1)

def run(n):
    return compare_models(net_a, net_b, Repeated(images, n), ["1", "3"],
                          reduction="positions", batch_size=256)

run(600)  # warm up
before = rss("VmRSS")
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")  # reset the peak (VmHWM) to the current RSS
grid = run(int(sys.argv[1]))
print(json.dumps({"growth": rss("VmHWM") - before, "scores": grid.scores.tolist()}))
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self (Linux)"
)
def test_peak_memory_does_not_grow_with_the_number_of_inputs():
    # A conv net, reduction="positions" (64 rows per image): 40,000 inputs
    # are 2.56 million rows per layer, 123 MiB of float32 activations per
    # model if they were extracted; streamed, the peak stays put.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    growth = {}
    for n in (5_000, 40_000):
        result = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(n)],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.loads(result.stdout.splitlines()[-1])
        growth[n] = report["growth"]
        assert np.isfinite(report["scores"]).all()
    assert growth[40_000] - growth[5_000] < 64 * 2**20, growth


# --------------------------------------------------------------------------
# Inference: p-values and intervals per cell
# --------------------------------------------------------------------------


def _held(net, layers, inputs, reduction):
    return TorchActivationExtractor(
        net, layers, reduction=reduction, batch_size=64
    ).extract(inputs)


def test_permutation_grid_keeps_an_inputs_positions_together():
    net_a, net_b = conv_net(0), conv_net(1)
    x, x_test = images(60, seed=3), images(30, seed=4)
    layers = ["1", "3"]
    got = compare_models(
        net_a, net_b, x, layers, SVCCA(), test=x_test, reduction="positions",
        inference="permutation", n_permutations=19, random_state=0,
    )  # fmt: skip
    rows_per_image = 64  # 8 x 8 positions, the rows of one image in order
    want = compare_layers(
        _held(net_a, layers, x, "positions"),
        _held(net_b, layers, x, "positions"),
        SVCCA(),
        test=(
            _held(net_a, layers, x_test, "positions"),
            _held(net_b, layers, x_test, "positions"),
        ),
        groups=np.repeat(np.arange(60), rows_per_image),
        inference="permutation",
        n_permutations=19,
        random_state=0,
    )
    assert got.inference == want.inference and "whole groups" in got.inference
    assert_allclose(got.scores, want.scores, rtol=0, atol=ATOL)
    assert_array_equal(got.pvalues, want.pvalues)
    assert np.all((got.pvalues >= 1 / 20) & (got.pvalues <= 1))
    # the streamed grid (no inference) has the same scores
    streamed = compare_models(
        net_a, net_b, x, layers, SVCCA(), test=x_test, reduction="positions"
    )
    assert_allclose(got.scores, streamed.scores, rtol=0, atol=1e-6)


def test_bootstrap_grid_with_groups_of_inputs():
    net_a, net_b = mlp(0), mlp(1)
    x = vectors(80, seed=5)
    input_groups = np.arange(80) // 2  # e.g. two crops of each image
    layers = ["1", "3"]
    got = compare_models(
        net_a, net_b, x, layers, PWCCA(), reduction="mean", inference="bootstrap",
        groups=input_groups, n_resamples=29, random_state=1,
    )  # fmt: skip
    want = compare_layers(
        _held(net_a, layers, x, "mean"),
        _held(net_b, layers, x, "mean"),
        PWCCA(),
        groups=input_groups,
        inference="bootstrap",
        n_resamples=29,
        random_state=1,
    )
    assert got.evaluation == "in-sample"
    assert_allclose(got.scores, want.scores, rtol=0, atol=ATOL)
    assert_allclose(got.ci_low, want.ci_low, rtol=0, atol=ATOL)
    assert_allclose(got.ci_high, want.ci_high, rtol=0, atol=ATOL)
    assert np.all(got.ci_low <= got.ci_high)


def test_inference_arguments_are_checked():
    net_a, net_b = mlp(0), mlp(1)
    x = vectors(40)
    with pytest.raises(ValueError, match="groups is only used with inference"):
        compare_models(net_a, net_b, x, ["1"], groups=np.arange(40))
    with pytest.raises(ValueError, match="inference must be"):
        compare_models(net_a, net_b, x, ["1"], inference="jackknife")
    with pytest.raises(ValueError, match="The test inputs hold no samples"):
        compare_models(
            net_a, net_b, x, ["1"], inference="bootstrap", test=vectors(40)[:0]
        )
    with pytest.raises(ValueError, match="one label per input"):
        compare_models(
            net_a, net_b, x, ["1"], inference="bootstrap", groups=np.arange(39)
        )
    conv_a, conv_b = conv_net(0), conv_net(1)
    with pytest.raises(ValueError, match="same number of rows per input"):
        compare_models(
            conv_a, conv_b, images(20), ["1", "6"], reduction="positions",
            inference="permutation", n_permutations=9,
        )  # fmt: skip
