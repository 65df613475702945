"""TorchActivationExtractor: values, inputs, model state, sklearn contract."""

import io
import pickle
import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numpy.testing import assert_allclose, assert_array_equal  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Dataset, IterableDataset  # noqa: E402

from skrep.torch import TorchActivationExtractor  # noqa: E402

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


# --------------------------------------------------------------------------
# Small models and inputs
# --------------------------------------------------------------------------


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),  # features.0
            nn.ReLU(inplace=True),  # features.1 (in place, after features.0)
            nn.MaxPool2d(2),  # features.2
            nn.Conv2d(6, 8, 3, padding=1),  # features.3
            nn.BatchNorm2d(8),  # features.4
            nn.ReLU(inplace=True),  # features.5
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(8, 10), nn.ReLU(), nn.Linear(10, 5)
        )

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


class TokenNet(nn.Module):
    """Embedding -> transformer layer -> LSTM -> linear, on token ids (N, T)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.encoder = nn.TransformerEncoderLayer(
            8, 2, dim_feedforward=16, dropout=0.0, batch_first=True
        )
        self.lstm = nn.LSTM(8, 6, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        hidden, _ = self.lstm(self.encoder(self.embed(x)))
        return self.head(hidden)


class AttentionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        out, _ = self.attn(x, x, x)
        return out


class DictOut(nn.Module):
    def forward(self, x):
        return {"double": 2 * x, "square": x * x}


class DictNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = DictOut()

    def forward(self, x):
        return self.block(x)["square"]


class LoopNet(nn.Module):
    """A shared layer applied twice: it fires twice per forward pass."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(4, 4)

    def forward(self, x):
        return self.shared(torch.tanh(self.shared(x)))


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 5, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


def make_cnn(seed=0):
    torch.manual_seed(seed)
    net = SmallCNN()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        net.features[4].running_mean.uniform_(-0.5, 0.5)
        net.features[4].running_var.uniform_(0.5, 2.0)
    return net


@pytest.fixture(scope="module")
def cnn():
    return make_cnn(0)


@pytest.fixture(scope="module")
def images():
    return torch.randn(13, 3, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, 20, (9, 5), generator=torch.Generator().manual_seed(2))


@pytest.fixture(scope="module")
def token_net():
    torch.manual_seed(3)
    return TokenNet()


def hand_hook(model, name, inputs, select=lambda output: output):
    """Reference: a plain forward hook that clones the output, in eval mode."""
    module = dict(model.named_modules())[name]
    store = []
    handle = module.register_forward_hook(
        lambda m, args, out: store.append(select(out).detach().clone())
    )
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        handle.remove()
        for m, flag in flags:
            m.training = flag
    return store[0].double().numpy()


def state_snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_untouched(model, snapshot, training):
    assert [m.training for m in model.modules()] == training
    for module in model.modules():
        assert not module._forward_hooks
        assert not module._forward_pre_hooks
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshot[key]), key


# --------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["features.0", "features.3", "features.5"])
def test_conv_reductions_match_a_hand_written_hook(cnn, images, layer):
    ref = hand_hook(cnn, layer, images)  # (N, C, H, W)
    n, c = ref.shape[:2]
    expected = {
        "mean": ref.mean(axis=(2, 3)),
        "max": ref.max(axis=(2, 3)),
        "flatten": ref.reshape(n, -1),
        "positions": ref.transpose(0, 2, 3, 1).reshape(-1, c),
    }
    for reduction, want in expected.items():
        got = TorchActivationExtractor(cnn, layer, reduction=reduction).transform(
            images
        )
        assert got.dtype == np.float32
        assert got.shape == want.shape
        assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_positions_are_sample_major(cnn, images):
    ref = hand_hook(cnn, "features.3", images)  # (13, 8, 4, 4)
    got = TorchActivationExtractor(cnn, "features.3", reduction="positions")
    rows = got.transform(images)
    assert rows.shape == (13 * 16, 8)
    # row n * P + p is sample n at position p = h * W + w
    assert_allclose(rows[2 * 16 + 1 * 4 + 3], ref[2, :, 1, 3], rtol=1e-5)


def test_token_reductions_use_the_last_axis(token_net, tokens):
    ref = hand_hook(token_net, "encoder", tokens)  # (N, T, D) = (9, 5, 8)
    n, t, d = ref.shape
    expected = {
        "mean": ref.mean(axis=1),
        "max": ref.max(axis=1),
        "flatten": ref.reshape(n, -1),
        "positions": ref.reshape(n * t, d),
    }
    for reduction, want in expected.items():
        ext = TorchActivationExtractor(token_net, "encoder", reduction=reduction)
        assert_allclose(ext.transform(tokens), want, rtol=1e-4, atol=1e-5)
    ext = TorchActivationExtractor(token_net, ["embed", "encoder", "head"]).fit(tokens)
    assert ext.channel_axes_ == {"embed": 2, "encoder": 2, "head": 2}
    assert ext.layer_shapes_ == {"embed": (5, 8), "encoder": (5, 8), "head": (5, 3)}


def test_callable_reduction(cnn, images):
    ref = hand_hook(cnn, "features.3", images)

    def corner(tensor):
        return tensor[:, :, 0, 0]

    got = TorchActivationExtractor(cnn, "features.3", reduction=corner)
    assert_allclose(got.transform(images), ref[:, :, 0, 0], rtol=1e-5)

    def wrong_rows(tensor):
        return tensor.flatten()[:5].reshape(1, 5)

    with pytest.raises(ValueError, match="n_samples, n_features"):
        TorchActivationExtractor(cnn, "features.3", reduction=wrong_rows).transform(
            images
        )
    with pytest.raises(TypeError, match="torch tensor"):
        TorchActivationExtractor(
            cnn, "features.3", reduction=lambda t: t.numpy()
        ).transform(images)


def test_two_dimensional_and_one_dimensional_outputs_pass_through(cnn, images):
    ref = hand_hook(cnn, "classifier.1", images)
    for reduction in ("mean", "max", "flatten", "positions"):
        got = TorchActivationExtractor(cnn, "classifier.1", reduction=reduction)
        assert_allclose(got.transform(images), ref, rtol=1e-5, atol=1e-6)

    class Squeeze(nn.Module):
        def forward(self, x):
            return x.sum(dim=1)

    net = nn.Sequential(nn.Flatten(), Squeeze())
    got = TorchActivationExtractor(net, "1").transform(np.ones((4, 3)))
    assert_array_equal(got, np.full((4, 1), 3.0))


def test_layers_are_concatenated_in_the_order_given(cnn, images):
    ext = TorchActivationExtractor(cnn, ["classifier.1", "features.3"])
    both = ext.transform(images)
    one = TorchActivationExtractor(cnn, "classifier.1").transform(images)
    two = TorchActivationExtractor(cnn, "features.3").transform(images)
    assert_array_equal(both, np.hstack([one, two]))
    parts = ext.extract(images)
    assert list(parts) == ["classifier.1", "features.3"]
    assert_array_equal(parts["classifier.1"], one)
    assert_array_equal(parts["features.3"], two)


def test_batch_size_does_not_change_results(cnn, images):
    layers = ["features.0", "features.3", "classifier.3"]
    ref = TorchActivationExtractor(cnn, layers, batch_size=100).transform(images)
    for batch_size in (1, 4):
        got = TorchActivationExtractor(cnn, layers, batch_size=batch_size)
        assert_allclose(got.transform(images), ref, rtol=1e-5, atol=1e-6)


def test_in_place_relu_cannot_change_the_capture(cnn, images):
    # features.1 is ReLU(inplace=True): it overwrites features.0's output.
    ref = hand_hook(cnn, "features.0", images)
    assert ref.min() < 0
    got = TorchActivationExtractor(cnn, "features.0", reduction="flatten")
    values = got.transform(images)
    assert values.min() < 0
    assert_allclose(values, ref.reshape(len(images), -1), rtol=1e-5, atol=1e-6)
    both = TorchActivationExtractor(
        cnn, ["features.0", "features.1"], reduction="flatten"
    )
    parts = both.extract(images)
    assert_allclose(parts["features.1"], np.maximum(parts["features.0"], 0))


@pytest.mark.parametrize("reduction", ["mean", "max", "flatten", "positions"])
def test_in_place_relu_after_views(reduction):
    # 2-D outputs and (N, T, D) reshapes are views of the module output.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True))
    for x in (torch.randn(6, 4), torch.randn(6, 3, 4)):
        ref = hand_hook(net, "0", x)
        got = TorchActivationExtractor(net, "0", reduction=reduction).transform(x)
        assert got.min() < 0
        if reduction in ("flatten", "positions") or x.ndim == 2:
            assert_allclose(got.ravel(), ref.ravel(), rtol=1e-6)


def test_tuple_outputs_lstm_and_attention(token_net, tokens):
    ref = hand_hook(token_net, "lstm", tokens, select=lambda out: out[0])
    ext = TorchActivationExtractor(token_net, "lstm", reduction="flatten")
    assert_allclose(ext.transform(tokens), ref.reshape(9, -1), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="not a tensor"):
        TorchActivationExtractor(token_net, "lstm", output_index=1).transform(tokens)
    with pytest.raises(ValueError, match="out of range"):
        TorchActivationExtractor(token_net, "lstm", output_index=5).transform(tokens)

    torch.manual_seed(0)
    net = AttentionNet()
    x = torch.randn(4, 6, 8)
    out = hand_hook(net, "attn", x, select=lambda out: out[0])
    weights = hand_hook(net, "attn", x, select=lambda out: out[1])  # (N, T, T)
    got = TorchActivationExtractor(net, "attn", reduction="flatten").transform(x)
    assert_allclose(got, out.reshape(4, -1), rtol=1e-5, atol=1e-6)
    got = TorchActivationExtractor(net, "attn", output_index=1, reduction="flatten")
    assert_allclose(got.transform(x), weights.reshape(4, -1), rtol=1e-5, atol=1e-6)


def test_dict_outputs():
    x = torch.arange(6.0).reshape(2, 3)
    net = DictNet()
    first = TorchActivationExtractor(net, "block").transform(x)
    assert_array_equal(first, 2 * x.numpy())
    by_key = TorchActivationExtractor(net, "block", output_key="square")
    assert_array_equal(by_key.transform(x), (x * x).numpy())
    by_index = TorchActivationExtractor(net, "block", output_index=1)
    assert_array_equal(by_index.transform(x), (x * x).numpy())
    with pytest.raises(ValueError, match="'cube'.*keys are"):
        TorchActivationExtractor(net, "block", output_key="cube").transform(x)


def test_repeated_firing_is_an_error_unless_chosen():
    torch.manual_seed(0)
    net = LoopNet()
    x = torch.randn(5, 4)
    with torch.no_grad():
        first = net.shared(x)
        last = net.shared(torch.tanh(first))
    with pytest.raises(ValueError, match="more than once.*repeated="):
        TorchActivationExtractor(net, "shared").transform(x)
    assert not net.shared._forward_hooks
    expected = {"first": first, "last": last, "mean": (first + last) / 2}
    for repeated, want in expected.items():
        got = TorchActivationExtractor(net, "shared", repeated=repeated)
        assert_allclose(got.transform(x), want.numpy(), rtol=1e-6, atol=1e-7)


def test_nan_activations_raise(cnn, images):
    bad = images.clone()
    bad[3, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf.*samples 3 to 3"):
        TorchActivationExtractor(cnn, "features.3", batch_size=1).transform(bad)

    class Explode(nn.Module):
        def forward(self, x):
            return x * torch.tensor(float("inf"))

    net = nn.Sequential(nn.Flatten(), Explode())
    with pytest.raises(ValueError, match="non-finite"):
        TorchActivationExtractor(net, "1").transform(np.ones((3, 2)))


def test_output_dtype(cnn, images):
    assert TorchActivationExtractor(cnn, "features.3").transform(images).dtype == (
        np.float32
    )
    got = TorchActivationExtractor(cnn, "features.3", dtype=np.float64)
    assert got.transform(images).dtype == np.float64
    got = TorchActivationExtractor(cnn, "features.3", dtype="float16")
    assert got.extract(images)["features.3"].dtype == np.float16
    got = TorchActivationExtractor(cnn, "features.3", dtype=torch.float64)
    assert got.transform(images).dtype == np.float64


# --------------------------------------------------------------------------
# Channel axis
# --------------------------------------------------------------------------


def test_channel_axis_auto_follows_the_conv_before_an_activation():
    torch.manual_seed(0)
    net = Conv1dNet()
    x = torch.randn(4, 3, 10)
    ext = TorchActivationExtractor(net, ["conv", "act"]).fit(x)
    assert ext.channel_axes_ == {"conv": 1, "act": 1}
    ref = hand_hook(net, "act", x)  # (N, C=5, L=8)
    assert_allclose(ext.extract(x)["act"], ref.mean(axis=2), rtol=1e-6)
    # a residual-style container of conv-like modules
    cnn = make_cnn(0)
    ext = TorchActivationExtractor(cnn, ["features", "features.5"]).fit(
        torch.randn(2, 3, 8, 8)
    )
    assert ext.channel_axes_ == {"features": 1, "features.5": 1}


def test_channel_axis_parameter_overrides():
    torch.manual_seed(0)
    net = Conv1dNet()
    x = torch.randn(4, 3, 10)
    ref = hand_hook(net, "act", x)
    got = TorchActivationExtractor(net, "act", channel_axis=-1).transform(x)
    assert_allclose(got, ref.mean(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="channel_axis=5"):
        TorchActivationExtractor(net, "act", channel_axis=5).transform(x)
    with pytest.raises(ValueError, match="sample axis"):
        TorchActivationExtractor(net, "act", channel_axis=0).transform(x)


# --------------------------------------------------------------------------
# Layer selection
# --------------------------------------------------------------------------


def test_layer_globs_and_filters(cnn, images):
    ext = TorchActivationExtractor(cnn, ["classifier.?", "features.[03]"]).fit(images)
    assert ext.layer_names_ == [
        "classifier.0",
        "classifier.1",
        "classifier.2",
        "classifier.3",
        "features.0",
        "features.3",
    ]
    convs = TorchActivationExtractor(
        cnn, lambda name, module: isinstance(module, nn.Conv2d)
    ).fit(images)
    assert convs.layer_names_ == ["features.0", "features.3"]
    repeats = TorchActivationExtractor(cnn, ["features.3", "features.*"]).fit(images)
    assert repeats.layer_names_[:2] == ["features.3", "features.0"]
    assert len(repeats.layer_names_) == 6


def test_unknown_layer_suggests_close_names(cnn, images):
    with pytest.raises(ValueError, match="'feature.3'.*Did you mean 'features.3'"):
        TorchActivationExtractor(cnn, "feature.3").transform(images)
    with pytest.raises(ValueError, match="matches no layer"):
        TorchActivationExtractor(cnn, "decoder.*").transform(images)
    with pytest.raises(ValueError, match="selected no module"):
        TorchActivationExtractor(cnn, lambda n, m: False).transform(images)
    with pytest.raises(TypeError, match="layer name"):
        TorchActivationExtractor(cnn, ["features.3", 3]).transform(images)


# torch.compile's first import warns about torch's own deprecated jit API.
@pytest.mark.filterwarnings("ignore:.*script_method:DeprecationWarning")
def test_wrappers_are_unwrapped(cnn, images):
    ref = TorchActivationExtractor(cnn, "features.3").transform(images)
    for wrapped in (nn.DataParallel(cnn), torch.compile(cnn)):
        got = TorchActivationExtractor(wrapped, "features.3").transform(images)
        assert_allclose(got, ref, rtol=1e-6)
    prefixed = TorchActivationExtractor(nn.DataParallel(cnn), "module.features.3")
    assert_allclose(prefixed.transform(images), ref, rtol=1e-6)
    prefixed = TorchActivationExtractor(torch.compile(cnn), "_orig_mod.features.3")
    assert_allclose(prefixed.transform(images), ref, rtol=1e-6)


def test_layer_that_does_not_run_is_an_error(images):
    net = make_cnn(0)
    net.unused = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="did not run"):
        TorchActivationExtractor(net, "unused").transform(images)


def test_lstm_with_time_first_is_refused():
    class TimeFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 3)  # batch_first=False: output (T, N, H)

        def forward(self, x):
            return self.lstm(x.transpose(0, 1))[0]

    with pytest.raises(ValueError, match="not the sample axis"):
        TorchActivationExtractor(TimeFirst(), "lstm").transform(torch.randn(2, 6, 4))


# --------------------------------------------------------------------------
# Model state
# --------------------------------------------------------------------------


def test_model_state_restored_after_success_and_failure(images):
    net = make_cnn(0)
    net.train()
    net.features[4].eval()  # mixed flags must come back exactly
    training = [m.training for m in net.modules()]
    snapshot = state_snapshot(net)
    ext = TorchActivationExtractor(net, ["features.3", "features.4"])
    ext.transform(images)
    assert_untouched(net, snapshot, training)

    calls = []

    def failing_forward(model, batch):
        calls.append(model.training)
        model(batch)
        raise RuntimeError("boom")

    ext.set_params(forward_fn=failing_forward)
    with pytest.raises(RuntimeError, match="boom"):
        ext.transform(images)
    assert calls == [False]  # eval mode during the call
    assert_untouched(net, snapshot, training)

    class Bad(nn.Module):
        def forward(self, x):
            raise RuntimeError("bad module")

    net.features.append(Bad())
    training = [m.training for m in net.modules()]
    with pytest.raises(RuntimeError, match="bad module"):
        TorchActivationExtractor(net, "features.3", batch_size=2).transform(images)
    assert_untouched(net, snapshot, training)


def test_inference_mode_and_no_side_effects(cnn, images):
    seen = []

    def forward(model, batch):
        seen.append((torch.is_inference_mode_enabled(), model.training))
        return model(batch)

    before = images.clone()
    array = images.numpy().copy()
    ext = TorchActivationExtractor(cnn, "features.3", forward_fn=forward)
    ext.transform(images)
    assert seen == [(True, False)]
    assert torch.equal(images, before)
    ext.transform(array)
    assert_array_equal(array, before.numpy())
    assert not torch.is_inference_mode_enabled()
    assert all(not p.is_inference() for p in cnn.parameters())


def test_transform_sets_no_attribute(cnn, images):
    ext = TorchActivationExtractor(cnn, "features.3")
    before = dict(ext.__dict__)
    ext.transform(images)
    ext.extract(images)
    assert ext.__dict__ == before
    ext.fit(images)
    before = dict(ext.__dict__)
    ext.transform(images)
    assert ext.__dict__ == before


def test_device_cpu_leaves_parameters_in_place(cnn, images):
    pointers = [p.data_ptr() for p in cnn.parameters()]
    TorchActivationExtractor(cnn, "features.3", device="cpu").transform(images)
    assert [p.data_ptr() for p in cnn.parameters()] == pointers


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a CPU-only machine")
def test_cuda_device_without_cuda_is_a_clear_error(cnn, images):
    with pytest.raises(ValueError, match="CUDA is not available"):
        TorchActivationExtractor(cnn, "features.3", device="cuda").transform(images)


def test_concurrent_calls_on_one_model_stay_separate(cnn, images):
    expected = {
        layer: TorchActivationExtractor(cnn, layer, batch_size=2).transform(images)
        for layer in ("features.0", "features.3", "classifier.1")
    }
    results, errors = {}, []

    def work(layer):
        try:
            ext = TorchActivationExtractor(cnn, layer, batch_size=2)
            results[layer] = ext.transform(images)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(layer,)) for layer in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for layer, want in expected.items():
        assert_array_equal(results[layer], want)


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


class PairDataset(Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index].numpy().astype(np.float64), index % 2


class StreamDataset(IterableDataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __iter__(self):
        return iter(self.images)


def test_datasets_and_loaders_give_the_same_rows(cnn, images):
    ext = TorchActivationExtractor(cnn, ["features.3", "classifier.3"], batch_size=4)
    ref = ext.transform(images)
    assert_allclose(ext.transform(images.numpy()), ref, rtol=1e-6)
    assert_allclose(ext.transform(images.numpy().astype(np.float64)), ref, rtol=1e-6)
    assert_allclose(ext.transform(PairDataset(images)), ref, rtol=1e-6)
    assert_allclose(ext.transform(StreamDataset(images)), ref, rtol=1e-6)
    loader = DataLoader(PairDataset(images), batch_size=5)
    assert_allclose(ext.transform(loader), ref, rtol=1e-6)
    dropped = DataLoader(images, batch_size=5, drop_last=True)
    assert_allclose(ext.transform(dropped), ref[:10], rtol=1e-6)
    assert ext.fit(loader).layer_shapes_["features.3"] == (8, 4, 4)


def test_shuffling_loader_is_refused(cnn, images):
    loader = DataLoader(images, batch_size=4, shuffle=True)
    with pytest.raises(ValueError, match="shuffle"):
        TorchActivationExtractor(cnn, "features.3").transform(loader)
    sampler = torch.utils.data.SubsetRandomSampler(range(5))
    with pytest.raises(ValueError, match="order"):
        TorchActivationExtractor(cnn, "features.3").transform(
            DataLoader(images, batch_size=4, sampler=sampler)
        )


def test_iterable_without_len_is_refused(cnn, images):
    class Endless(IterableDataset):
        def __iter__(self):
            return iter(images)

    with pytest.raises(TypeError, match="len"):
        TorchActivationExtractor(cnn, "features.3").transform(Endless())


def test_forward_fn_with_dict_batches():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 2)

        def forward(self, x, *, scale):
            return self.linear(x * scale)

    class DictDataset(Dataset):
        def __init__(self, x):
            self.x = x

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i], "scale": 2.0}

    torch.manual_seed(0)
    net = Scaled()
    x = torch.randn(7, 3)
    with torch.no_grad():
        want = net.linear(2 * x).numpy()

    def forward(model, batch):
        return model(batch["x"], scale=batch["scale"][:, None])

    ext = TorchActivationExtractor(net, "linear", forward_fn=forward, batch_size=3)
    assert_allclose(ext.transform(DictDataset(x)), want, rtol=1e-6)
    loader = DataLoader(DictDataset(x), batch_size=2)
    assert_allclose(ext.transform(loader), want, rtol=1e-6)
    assert ext.fit(loader).n_features_out_ == 2


def test_integer_token_inputs_from_numpy(token_net, tokens):
    ext = TorchActivationExtractor(token_net, "encoder")
    assert_allclose(
        ext.transform(tokens.numpy()), ext.transform(tokens), rtol=1e-6, atol=1e-6
    )


# --------------------------------------------------------------------------
# Memory and output
# --------------------------------------------------------------------------


def test_memmap_when_over_budget(cnn, images, tmp_path):
    layers = ["features.0", "classifier.1"]
    ref = TorchActivationExtractor(cnn, layers, batch_size=3).transform(images)
    ext = TorchActivationExtractor(
        cnn, layers, max_memory=100, memmap_dir=tmp_path, batch_size=3
    )
    got = ext.transform(images)
    assert isinstance(got, np.memmap)
    assert_array_equal(got, ref)
    parts = ext.extract(images)
    assert all(isinstance(part, np.memmap) for part in parts.values())
    assert_array_equal(parts["classifier.1"], ref[:, 6:])
    assert list(tmp_path.iterdir()) == []  # the file name is gone at once
    small = TorchActivationExtractor(cnn, layers, max_memory=10**9)
    assert not isinstance(small.transform(images), np.memmap)


def test_positions_need_equal_positions_to_concatenate(cnn, images):
    layers = ["features.0", "features.3"]  # 8 x 8 and 4 x 4 positions
    ext = TorchActivationExtractor(cnn, layers, reduction="positions")
    with pytest.raises(ValueError, match="same number of positions"):
        ext.transform(images)
    parts = ext.extract(images)
    assert parts["features.0"].shape == (13 * 64, 6)
    assert parts["features.3"].shape == (13 * 16, 8)
    same = TorchActivationExtractor(
        cnn, ["features.3", "features.5"], reduction="positions"
    )
    assert same.transform(images).shape == (13 * 16, 16)


def test_progress_bar(cnn, images, capsys):
    pytest.importorskip("tqdm")
    ext = TorchActivationExtractor(cnn, "features.3", progress=True, batch_size=5)
    assert ext.transform(images).shape == (13, 8)
    assert "13/13" in capsys.readouterr().err


# --------------------------------------------------------------------------
# scikit-learn contract
# --------------------------------------------------------------------------


def test_fit_records_shapes_and_feature_names(cnn, images):
    ext = TorchActivationExtractor(cnn, ["features.3", "classifier.1"])
    with pytest.raises(NotFittedError):
        ext.get_feature_names_out()
    assert ext.fit(images) is ext
    assert ext.layer_names_ == ["features.3", "classifier.1"]
    assert ext.layer_shapes_ == {"features.3": (8, 4, 4), "classifier.1": (10,)}
    assert ext.channel_axes_ == {"features.3": 1, "classifier.1": 1}
    assert ext.layer_n_features_ == {"features.3": 8, "classifier.1": 10}
    assert ext.n_features_out_ == ext._n_features_out == 18
    names = ext.get_feature_names_out()
    assert names.dtype == object
    assert list(names[[0, 7, 8, 17]]) == [
        "features.3__0",
        "features.3__7",
        "classifier.1__0",
        "classifier.1__9",
    ]
    assert not hasattr(ext, "n_features_in_")  # a tensor has no feature columns
    flat = TorchActivationExtractor(cnn, "features.3", reduction="flatten")
    assert flat.fit(images.numpy()).get_feature_names_out()[-1] == "features.3__127"
    assert flat.n_features_in_ == 3


def test_pipeline_with_a_similarity_estimator(images):
    try:
        from skrep import SVCCA as Similarity  # noqa: N811
    except ImportError:  # pragma: no cover - while skrep's CCA is being written
        from sklearn.cross_decomposition import PLSRegression as Similarity
    net1, net2 = make_cnn(0), make_cnn(1)
    train = torch.randn(60, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    acts2 = TorchActivationExtractor(net2, "features.3").transform(train)
    test_acts2 = TorchActivationExtractor(net2, "features.3").transform(images)
    pipe = make_pipeline(TorchActivationExtractor(net1, "features.3"), Similarity())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        score = pipe.fit(train, acts2).score(images, test_acts2)
    assert np.isfinite(score)
    self_pipe = make_pipeline(
        TorchActivationExtractor(net2, "features.3"), Similarity()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert self_pipe.fit(train, acts2).score(train, acts2) == pytest.approx(
            1.0, abs=1e-3
        )


def test_clone_shares_the_model(cnn):
    ext = TorchActivationExtractor(cnn, ["features.3"], reduction=np.mean)
    copy = clone(ext)
    assert copy is not ext
    assert copy.model is cnn
    assert copy.layers is ext.layers
    assert copy.get_params() == ext.get_params()


def test_pickle_round_trip(images):
    net = make_cnn(0)
    ext = TorchActivationExtractor(net, ["features.3", "classifier.1"]).fit(images)
    loaded = pickle.loads(pickle.dumps(ext))
    assert loaded.model is not net
    assert loaded.layer_shapes_ == ext.layer_shapes_
    assert_array_equal(loaded.transform(images), ext.transform(images))
    assert_array_equal(loaded.get_feature_names_out(), ext.get_feature_names_out())


def test_pickle_from_a_cuda_machine_loads_on_cpu(images, monkeypatch):
    """Simulate a pickle made on a GPU: every storage is tagged 'cuda:0'."""
    net = make_cnn(0)
    ext = TorchActivationExtractor(net, "features.3", device="cuda")
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        payload = pickle.dumps(ext)
        raw = io.BytesIO()
        torch.save(net, raw)
    if not torch.cuda.is_available():  # a plain torch.load would fail here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(raw.getvalue()), weights_only=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="cuda:0.*loaded on the CPU"):
        loaded = pickle.loads(payload)
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    got = loaded.set_params(device="cpu").transform(images)
    want = TorchActivationExtractor(net, "features.3").transform(images)
    assert_array_equal(got, want)


@pytest.mark.parametrize(
    "params, error",
    [
        ({"reduction": "median"}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"repeated": "sum"}, ValueError),
        ({"dtype": np.int32}, ValueError),
        ({"dtype": "not-a-dtype"}, TypeError),
        ({"dtype": torch.bfloat16}, TypeError),
        ({"max_memory": -1}, ValueError),
        ({"layers": 3}, TypeError),
        ({"model": "resnet"}, TypeError),
    ],
)
def test_bad_parameters(cnn, images, params, error):
    ext = TorchActivationExtractor(cnn, "features.3").set_params(**params)
    with pytest.raises(error):
        ext.transform(images)
    with pytest.raises(error):
        ext.fit(images)


def test_tags():
    tags = TorchActivationExtractor(nn.Identity(), "x").__sklearn_tags__()
    assert tags.requires_fit is False
    assert tags.transformer_tags.preserves_dtype == ["float32"]


def test_import_skrep_reexports_lazily():
    import skrep

    assert skrep.TorchActivationExtractor is TorchActivationExtractor


# --------------------------------------------------------------------------
# CUDA (skipped without a GPU)
# --------------------------------------------------------------------------


@cuda
def test_cuda_device_moves_and_restores(images):
    net = make_cnn(0)
    ref = TorchActivationExtractor(net, "features.3").transform(images)
    got = TorchActivationExtractor(net, "features.3", device="cuda").transform(images)
    assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    assert all(p.device.type == "cpu" for p in net.parameters())
    assert all(b.device.type == "cpu" for b in net.buffers())

    def fail(model, batch):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        TorchActivationExtractor(
            net, "features.3", device="cuda", forward_fn=fail
        ).transform(images)
    assert all(p.device.type == "cpu" for p in net.parameters())


@cuda
def test_cuda_model_pickle_round_trip(images):
    net = make_cnn(0).cuda()
    ext = TorchActivationExtractor(net, "features.3")
    loaded = pickle.loads(pickle.dumps(ext))
    assert next(loaded.model.parameters()).is_cuda
    assert_allclose(loaded.transform(images), ext.transform(images), rtol=1e-5)
    assert next(net.parameters()).is_cuda
