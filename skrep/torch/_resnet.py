"""ResNet-18, written in torch: a real-size network for small images."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

__all__ = ["ResNet18"]


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to a shortcut (He et al.)."""

    def __init__(self, in_channels, channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + shortcut)


class ResNet18(nn.Module):
    """ResNet-18: a stem, four stages of two basic blocks, pooling, a linear layer.

    The architecture of He et al. (2016) with the module names of
    torchvision's ``resnet18``: ``conv1``, ``bn1``, ``relu``, ``maxpool``
    (ImageNet stem only), ``layer1`` ... ``layer4`` (each holding blocks
    ``"0"`` and ``"1"``, so ``"layer3.1"`` is the output of the second block
    of the third stage), ``avgpool``, ``flatten`` and ``fc``. The
    parameters carry torchvision's names and shapes; each ReLU of a block is
    its own module (``relu1``, ``relu2``), so that every module runs once per
    forward pass and a hook on any of them reads one output. Nothing is
    downloaded: the weights are initialised as torchvision initialises them
    (Kaiming-normal convolutions, unit batch-norm scales).

    Parameters
    ----------
    in_channels : int, default=3
        Channels of the input images (1 for grey-scale digits).
    n_classes : int, default=1000
        Outputs of ``fc`` (the logits).
    width : int, default=64
        Channels of the stem and of the first stage; the later stages have
        2, 4 and 8 times as many. 64 is ResNet-18; smaller widths make a
        thinner network of the same depth and layout.
    stem : {"imagenet", "small"}, default="imagenet"
        ``"imagenet"``: a 7x7 convolution of stride 2 and a 3x3 max-pool of
        stride 2, for 224 x 224 images (as torchvision). ``"small"``: one 3x3
        convolution of stride 1 and no pooling (as for CIFAR-10), for small
        images such as 8 x 8 digits; stages 2 to 4 each halve the size, so
        an 8 x 8 input reaches ``layer4`` as 1 x 1.

    See Also
    --------
    skrep.torch.compare_models : Compare two such networks layer by layer.
    skrep.torch.DigitsCNN : A much smaller network for the digits.

    Notes
    -----
    A basic block computes ``relu(bn2(conv2(relu(bn1(conv1(x))))) +
    shortcut(x))``, where the shortcut is the identity, or a strided 1x1
    convolution with batch norm where the block changes the size or the
    number of channels (the first block of stages 2 to 4). With
    ``width=64``, ``in_channels=3``, ``n_classes=1000`` and the ImageNet stem
    the network has torchvision's 11,689,512 parameters.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.

    Examples
    --------
    >>> import torch
    >>> from skrep.torch import ResNet18
    >>> net = ResNet18(in_channels=1, n_classes=10, width=8, stem="small")
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> [name for name, _ in net.named_children()]
    ['conv1', 'bn1', 'relu', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool',
     'flatten', 'fc']
    >>> sum(p.numel() for p in ResNet18().parameters())
    11689512
    """

    def __init__(self, in_channels=3, n_classes=1000, *, width=64, stem="imagenet"):
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("n_classes", n_classes),
            ("width", width),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}.")
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        if stem == "imagenet":
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = width
        for stage in range(1, 5):
            out_channels = width * 2 ** (stage - 1)
            stride = 1 if stage == 1 else 2
            blocks = OrderedDict(
                [
                    ("0", _BasicBlock(channels, out_channels, stride)),
                    ("1", _BasicBlock(out_channels, out_channels, 1)),
                ]
            )
            setattr(self, f"layer{stage}", nn.Sequential(blocks))
            channels = out_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, n_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(
                    module.weight, mode="fan_out", nonlinearity="relu"
                )
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        """Logits of a batch of images of shape (n, in_channels, height, width)."""
        x = self.relu(self.bn1(self.conv1(x)))
        if hasattr(self, "maxpool"):
            x = self.maxpool(x)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return self.fc(self.flatten(self.avgpool(x)))
