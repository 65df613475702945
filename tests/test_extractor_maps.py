"""TorchActivationExtractor(reduction="maps"): activations that keep their positions."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from skrep._dft import DFTCCA  # noqa: E402
from skrep.exceptions import DeadUnitWarning  # noqa: E402
from skrep.torch import TorchActivationExtractor  # noqa: E402


def tiny_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"),  # (3, 6, 6)
        nn.ReLU(inplace=True),
        nn.Conv2d(3, 4, 3, stride=2, padding=1),  # (4, 3, 3)
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 5),
    )


def outputs(model, images, names):
    captured = {}
    hooks = [
        dict(model.named_modules())[name].register_forward_hook(
            lambda m, a, out, name=name: captured.__setitem__(
                name, out.detach().clone()
            )
        )
        for name in names
    ]
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    return {name: value.numpy() for name, value in captured.items()}


def test_extract_keeps_the_maps_and_transform_flattens_them_channel_major():
    model = tiny_cnn()
    images = torch.randn(7, 2, 6, 6)
    layers = ["0", "2", "4"]
    expected = outputs(model, images, layers)
    extractor = TorchActivationExtractor(
        model, layers, reduction="maps", batch_size=3, dtype=np.float64
    )
    maps = extractor.extract(images)
    assert {name: m.shape for name, m in maps.items()} == {
        "0": (7, 3, 6, 6),
        "2": (7, 4, 3, 3),
        "4": (7, 5),
    }
    for name in layers:
        np.testing.assert_allclose(maps[name], expected[name], atol=1e-6)
    flat = extractor.transform(images)
    assert flat.shape == (7, 3 * 36 + 4 * 9 + 5)
    np.testing.assert_allclose(
        flat[:, :108].reshape(7, 3, 6, 6), expected["0"], atol=1e-6
    )
    np.testing.assert_allclose(
        flat[:, 108:144].reshape(7, 4, 3, 3), expected["2"], atol=1e-6
    )
    fitted = extractor.fit(images)
    assert fitted.layer_n_features_ == {"0": 108, "2": 36, "4": 5}
    # the flattened maps are "flatten" for channels-first layers
    np.testing.assert_array_equal(
        flat, TorchActivationExtractor(model, layers, reduction="flatten", batch_size=3,
                                       dtype=np.float64).transform(images)
    )  # fmt: skip


def test_in_place_relu_after_the_capture_does_not_change_it():
    model = tiny_cnn()
    images = torch.randn(5, 2, 6, 6)
    conv = TorchActivationExtractor(model, "0", reduction="maps").extract(images)["0"]
    assert (conv < 0).any()  # captured before the in-place ReLU


def test_conv1d_and_token_layers_put_channels_first():
    torch.manual_seed(1)
    conv1d = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1))
    signals = torch.randn(4, 2, 10)
    maps = TorchActivationExtractor(conv1d, "0", reduction="maps").extract(signals)
    assert maps["0"].shape == (4, 3, 10)
    tokens = nn.Sequential(nn.Linear(6, 5))
    sequences = torch.randn(4, 7, 6)  # (N, T, D): channels last
    maps = TorchActivationExtractor(tokens, "0", reduction="maps").extract(sequences)
    with torch.no_grad():
        expected = tokens(sequences).permute(0, 2, 1).numpy()
    assert maps["0"].shape == (4, 5, 7)
    np.testing.assert_allclose(maps["0"], expected, atol=1e-6)


def test_maps_on_disk_keep_their_shape(tmp_path):
    model = tiny_cnn()
    images = torch.randn(6, 2, 6, 6)
    maps = TorchActivationExtractor(
        model, "0", reduction="maps", max_memory=0, memmap_dir=tmp_path
    ).extract(images)["0"]
    assert isinstance(maps, np.memmap) and maps.shape == (6, 3, 6, 6)


def test_extracted_maps_feed_dftcca():
    model = tiny_cnn()
    images = torch.randn(60, 2, 6, 6)
    maps = TorchActivationExtractor(model, ["0", "2"], reduction="maps").extract(images)
    # The first conv is linear in 2 input channels: at every frequency its 3
    # channels span 2 dimensions, so 9 directions (3 x 3 frequencies) are null.
    with pytest.warns(DeadUnitWarning, match="9 null direction"):
        est = DFTCCA().fit(maps["0"], maps["2"])
    assert est.map_size_ == (3, 3) and est.x_map_shape_ == (3, 6, 6)
    assert est.x_rank_ == 2 * 9
    assert 0.0 < est.score(maps["0"], maps["2"]) <= 1.0
