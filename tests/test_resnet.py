"""ResNet18: torchvision's layout and parameter count, small and ImageNet stems."""

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from skrep.torch import ResNet18, TorchActivationExtractor  # noqa: E402


def _conv(c_in, c_out, k):
    return c_in * c_out * k * k  # no bias


def _bn(c):
    return 2 * c


def _resnet18_parameters(in_channels, n_classes, width, stem_kernel):
    """ResNet-18's parameter count from the paper's table, written out."""
    total = _conv(in_channels, width, stem_kernel) + _bn(width)
    c_in = width
    for stage in range(4):
        c = width * 2**stage
        # first block: two 3x3 convs, a 1x1 projection where the shape changes
        total += _conv(c_in, c, 3) + _bn(c) + _conv(c, c, 3) + _bn(c)
        if stage > 0:
            total += _conv(c_in, c, 1) + _bn(c)
        # second block
        total += 2 * (_conv(c, c, 3) + _bn(c))
        c_in = c
    return total + c_in * n_classes + n_classes


def _count(net):
    return sum(p.numel() for p in net.parameters())


def test_imagenet_resnet18_has_torchvision_parameter_count():
    # torchvision.models.resnet18(): 11,689,512 parameters (its model card)
    net = ResNet18()
    assert _count(net) == 11_689_512
    assert _count(net) == _resnet18_parameters(3, 1000, 64, 7)


@pytest.mark.parametrize(
    "in_channels, n_classes, width", [(3, 10, 64), (1, 10, 32), (2, 7, 8)]
)
def test_small_stem_parameter_count(in_channels, n_classes, width):
    net = ResNet18(in_channels, n_classes, width=width, stem="small")
    assert _count(net) == _resnet18_parameters(in_channels, n_classes, width, 3)
    if (in_channels, n_classes, width) == (3, 10, 64):
        # the usual CIFAR-10 ResNet-18: 11,173,962 parameters
        assert _count(net) == 11_173_962


def test_state_dict_has_torchvision_names():
    state = ResNet18().state_dict()
    # 62 parameter tensors (20 convs, 20 batch norms x 2, fc x 2) and three
    # buffers for each of the 20 batch norms
    assert len(state) == 122
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert state["layer1.0.conv1.weight"].shape == (64, 64, 3, 3)
    assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert state["layer2.0.downsample.1.running_var"].shape == (128,)
    assert state["layer4.1.bn2.bias"].shape == (512,)
    assert state["fc.weight"].shape == (1000, 512)
    assert "layer1.0.downsample.0.weight" not in state


@pytest.mark.parametrize(
    "stem, size, sizes", [("small", 8, (8, 4, 2, 1)), ("imagenet", 64, (16, 8, 4, 2))]
)
def test_output_and_stage_shapes(stem, size, sizes):
    torch.manual_seed(0)
    net = ResNet18(1, 10, width=4, stem=stem).eval()
    x = torch.rand(3, 1, size, size)
    with torch.inference_mode():
        assert net(x).shape == (3, 10)
    layers = ["layer1.1", "layer2.1", "layer3.1", "layer4.1"]
    acts = TorchActivationExtractor(net, layers, reduction="positions").extract(x)
    for k, (layer, side) in enumerate(zip(layers, sizes)):
        assert acts[layer].shape == (3 * side * side, 4 * 2**k)


def test_every_module_runs_once_per_forward():
    net = ResNet18(1, 10, width=4, stem="small").eval()
    calls = {}
    handles = [
        module.register_forward_hook(
            lambda m, i, o, name=name: calls.__setitem__(name, calls.get(name, 0) + 1)
        )
        for name, module in net.named_modules()
        if name
    ]
    try:
        with torch.inference_mode():
            net(torch.rand(2, 1, 8, 8))
    finally:
        for handle in handles:
            handle.remove()
    assert calls and set(calls.values()) == {1}
    names = {name for name, _ in net.named_modules() if name}
    assert set(calls) == names


def test_block_is_relu_of_residual_sum():
    torch.manual_seed(1)
    net = ResNet18(1, 10, width=4, stem="small").eval()
    x = torch.randn(5, 4, 8, 8)
    with torch.inference_mode():
        for name in ("layer1.0", "layer2.0"):
            block = net.get_submodule(name)
            inp = x if name == "layer1.0" else net.layer1(x)
            inner = block.bn1(block.conv1(inp)).clamp(min=0)
            shortcut = inp if block.downsample is None else block.downsample(inp)
            expected = (block.bn2(block.conv2(inner)) + shortcut).clamp(min=0)
            torch.testing.assert_close(block(inp), expected)
        assert net.layer1[0].downsample is None
        assert net.layer2[0].downsample[0].stride == (2, 2)


def test_initialisation_as_torchvision():
    torch.manual_seed(0)
    net = ResNet18()
    conv = net.layer4[1].conv2.weight  # fan_out = 512 * 9
    expected_std = (2.0 / (512 * 9)) ** 0.5
    assert abs(conv.std().item() / expected_std - 1) < 0.01
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
    torch.manual_seed(0)
    again = ResNet18()
    for a, b in zip(net.parameters(), again.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"stem": "cifar"}, "stem must be"),
        ({"width": 0}, "width must be a positive int"),
        ({"width": 1.5}, "width must be a positive int"),
        ({"n_classes": True}, "n_classes must be a positive int"),
        ({"in_channels": -1}, "in_channels must be a positive int"),
    ],
)
def test_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        ResNet18(**params)
