"""MiniFASNet: the small face anti-spoofing networks of Minivision's Silent-Face-Anti-Spoofing.

Re-implemented from ``src/model_lib/MiniFASNet.py`` of https://github.com/minivision-ai/Silent-Face-Anti-Spoofing
(Apache-2.0, Copyright Minivision). Four variants, registered here as:

    minifasnet-v1     upstream MiniFASNetV1   (pruned widths "1.8M")
    minifasnet-v2     upstream MiniFASNetV2   (pruned widths "1.8M_")
    minifasnet-v1se   upstream MiniFASNetV1SE (V1 + squeeze-excite on the last block of each residual stage)
    minifasnet-v2se   upstream MiniFASNetV2SE (V2 + the same)

Body (MobileFaceNet-style, 0.41-0.45 M parameters, ~0.04-0.08 GFLOPs at 80x80): a 3x3 stride-2 conv, a 3x3
depthwise conv, then stages of "1x1 expand -> 3x3 depthwise -> 1x1 project" blocks (PReLU, BatchNorm),
four of them stride-2 down-sampling blocks (total stride 16), residual stages between them; head: 1x1
conv to 512 channels, a depthwise conv as large as the final feature map (a "global depthwise conv",
5x5 at 80x80: kernel = ceil(input_size / 16)), a 512 -> 128 linear embedding, BatchNorm1d, dropout,
and a bias-free linear layer to the logits. The final kernel makes the network size-dependent: it is
built for ``input_size`` x ``input_size`` inputs (default 80) and refuses any other size.

Module and attribute names follow upstream exactly, so ``state_dict()`` keys equal the published
checkpoints' keys once their DataParallel ``module.`` prefix is stripped, and
``spoofguard.models.published.load_minifasnet`` loads them with ``strict=True``.

Input contract of the published weights (``2.7_80x80_MiniFASNetV2.pth``, ``4_0_0_80x80_MiniFASNetV1SE.pth``):

- **BGR** channel order (OpenCV frames as read), **raw pixel values 0..255** as float32: no division
  by 255, no mean/std;
- an 80x80 crop of the face: take the detector's face box (x, y, w, h), keep its centre and multiply
  width and height by the scale, **2.7 for MiniFASNetV2 and 4.0 for MiniFASNetV1SE**; the scale is first
  reduced to ``min(scale, (H - 1) / h, (W - 1) / w)`` if the enlarged box would not fit in the H x W
  frame, and the box is then **shifted into the frame** (no padding); the region is resized to 80x80;
- three logits, **class 1 = bona fide**, classes 0 and 2 = attacks. The project's convention elsewhere
  is class 0 = bona fide, but the layers keep the upstream order so the weights load unchanged;
  reorder outside the model;
- the two models are used together: their softmax outputs are averaged (upstream sums them and
  divides by 2) and the bona fide probability is the mean's entry 1.

Trained from scratch through the registry, a MiniFASNet takes any ``in_chans`` and >= 2 classes;
only ``in_chans=3``, 3 classes and ``input_size`` 65..80 (a 5x5 final kernel) fit the published weights.
"""

from __future__ import annotations

import torch
from torch import nn

from spoofguard.errors import SpoofguardError
from spoofguard.models.registry import Float, Int, register_model

# Mid (expanded) widths of the "expand -> depthwise -> project" blocks, per stage, from upstream's
# keep_dict ("1.8M" = V1, "1.8M_" = V2). The block input/output widths are fixed: 32 after the stem,
# 64 in conv_3, 128 from conv_34 on, 512 in the head.
WIDTHS = {
    "v1": {"conv_23": 103, "conv_3": (13, 26, 13, 52), "conv_34": 231, "conv_4": (154, 52, 26, 52, 26, 26),
           "conv_45": 308, "conv_5": (26, 26)},
    "v2": {"conv_23": 103, "conv_3": (13, 13, 13, 13), "conv_34": 231, "conv_4": (231, 52, 26, 77, 26, 26),
           "conv_45": 308, "conv_5": (26, 26)},
}
EMBEDDING_SIZE = 128
SE_REDUCTION = 4
MIN_INPUT_SIZE = 16


class ConvBlock(nn.Module):
    """Conv (no bias) - BatchNorm - PReLU; upstream ``Conv_block``."""

    def __init__(self, in_c: int, out_c: int, kernel: int = 1, stride: int = 1, padding: int = 0, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)
        self.prelu = nn.PReLU(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


class LinearBlock(nn.Module):
    """Conv (no bias) - BatchNorm, no activation; upstream ``Linear_block``."""

    def __init__(self, in_c: int, out_c: int, kernel: int = 1, stride: int = 1, padding: int = 0, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class SEModule(nn.Module):
    """Squeeze-excite with BatchNorm after both 1x1 convs; upstream ``SEModule``."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels // reduction)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.sigmoid(self.bn2(self.fc2(self.relu(self.bn1(self.fc1(self.avg_pool(x)))))))
        return x * w


class DepthWise(nn.Module):
    """1x1 expand (PReLU) - 3x3 depthwise (PReLU) - 1x1 project (linear); upstream ``Depth_Wise``
    (``Depth_Wise_SE`` with ``se=True``: squeeze-excite on the residual branch before the addition)."""

    def __init__(self, in_c: int, mid_c: int, out_c: int, stride: int = 1, residual: bool = False, se: bool = False):
        super().__init__()
        if residual and (in_c != out_c or stride != 1):
            raise ValueError("a residual block keeps its width and resolution")
        self.conv = ConvBlock(in_c, mid_c, kernel=1)
        self.conv_dw = ConvBlock(mid_c, mid_c, kernel=3, stride=stride, padding=1, groups=mid_c)
        self.project = LinearBlock(mid_c, out_c, kernel=1)
        self.residual = residual
        if se:
            self.se_module = SEModule(out_c)
        else:
            self.se_module = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.conv_dw(self.conv(x)))
        if not self.residual:
            return out
        if self.se_module is not None:
            out = self.se_module(out)
        return x + out


class Residual(nn.Module):
    """A stage of residual blocks at one width; with ``se`` the last block has squeeze-excite
    (upstream ``Residual`` / ``ResidualSE``). Blocks live in ``self.model`` as upstream."""

    def __init__(self, width: int, mids: tuple[int, ...], se: bool = False):
        super().__init__()
        self.model = nn.Sequential(*[
            DepthWise(width, mid, width, residual=True, se=se and i == len(mids) - 1) for i, mid in enumerate(mids)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def final_kernel(input_size: int) -> int:
    """Side of the last feature map (and of the global depthwise kernel): ceil(input_size / 16)."""
    return (input_size + 15) // 16  # upstream utility.get_kernel


class MiniFASNet(nn.Module):
    def __init__(self, widths: dict, num_classes: int = 3, in_chans: int = 3, input_size: int = 80,
                 se: bool = False, drop: float = 0.2):
        super().__init__()
        if isinstance(input_size, bool) or not isinstance(input_size, int):
            raise ValueError(f"input_size must be an integer, got {input_size!r}")
        if input_size < MIN_INPUT_SIZE:
            raise ValueError(f"input_size must be >= {MIN_INPUT_SIZE} (the network has stride 16), got {input_size}; "
                             "the published weights are for 80")
        if not 0.0 <= drop < 1.0:
            raise ValueError(f"drop must be in [0, 1), got {drop}")
        self.input_size = input_size
        kernel = final_kernel(input_size)

        self.conv1 = ConvBlock(in_chans, 32, kernel=3, stride=2, padding=1)
        self.conv2_dw = ConvBlock(32, 32, kernel=3, stride=1, padding=1, groups=32)
        self.conv_23 = DepthWise(32, widths["conv_23"], 64, stride=2)
        self.conv_3 = Residual(64, widths["conv_3"], se=se)
        self.conv_34 = DepthWise(64, widths["conv_34"], 128, stride=2)
        self.conv_4 = Residual(128, widths["conv_4"], se=se)
        self.conv_45 = DepthWise(128, widths["conv_45"], 128, stride=2)
        self.conv_5 = Residual(128, widths["conv_5"], se=se)
        self.conv_6_sep = ConvBlock(128, 512, kernel=1)
        self.conv_6_dw = LinearBlock(512, 512, kernel=kernel, groups=512)  # global depthwise conv -> 1x1
        self.conv_6_flatten = nn.Flatten()
        self.linear = nn.Linear(512, EMBEDDING_SIZE, bias=False)
        self.bn = nn.BatchNorm1d(EMBEDDING_SIZE)
        self.drop = nn.Dropout(p=drop)
        self.prob = nn.Linear(EMBEDDING_SIZE, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise SpoofguardError(
                f"MiniFASNet was built for {self.input_size}x{self.input_size} inputs, got {tuple(x.shape[-2:])}; "
                f"resize the input or build it with input_size={x.shape[-1]}"
            )
        out = self.conv2_dw(self.conv1(x))
        out = self.conv_3(self.conv_23(out))
        out = self.conv_4(self.conv_34(out))
        out = self.conv_5(self.conv_45(out))
        out = self.conv_6_flatten(self.conv_6_dw(self.conv_6_sep(out)))
        return self.prob(self.drop(self.bn(self.linear(out))))


# Info shared by the four registrations: face models, fed raw 0..255 pixels (BGR for the published weights).
_INFO = dict(face_only=True, input_contract={"mean": 0.0, "std": 1.0, "pixel_range": 255.0},
             channel_order_of_published_weights="bgr", upstream="minivision-ai/Silent-Face-Anti-Spoofing",
             bounds={"input_size": Int(MIN_INPUT_SIZE, 512), "drop": Float(0.0, 0.99)},
             # fine-tuning (--init) keeps the stem and the first 7 stages as published (weights and batch-norm statistics)
             # and trains conv_6 onwards: on NUAA it kept the other camera and simulated attacks better (docs/benchmarks.md)
             fine_tune_freeze=8)


@register_model("minifasnet-v1", default_input_size=80, upstream_name="MiniFASNetV1", **_INFO)
def minifasnet_v1(classes, in_chans=3, input_size=80, drop=0.2):
    """MiniFASNetV1 (Silent-Face-Anti-Spoofing): 0.41 M-parameter face anti-spoofing net; fixed input size, 80 by default."""
    return MiniFASNet(WIDTHS["v1"], len(classes), in_chans, input_size=input_size, se=False, drop=drop)


@register_model("minifasnet-v2", default_input_size=80, upstream_name="MiniFASNetV2",
                published_weights="2.7_80x80_MiniFASNetV2.pth", face_scale=2.7, **_INFO)
def minifasnet_v2(classes, in_chans=3, input_size=80, drop=0.2):
    """MiniFASNetV2 (Silent-Face-Anti-Spoofing): 0.43 M-parameter face anti-spoofing net; fixed input size, 80 by default."""
    return MiniFASNet(WIDTHS["v2"], len(classes), in_chans, input_size=input_size, se=False, drop=drop)


@register_model("minifasnet-v1se", default_input_size=80, upstream_name="MiniFASNetV1SE",
                published_weights="4_0_0_80x80_MiniFASNetV1SE.pth", face_scale=4.0, **_INFO)
def minifasnet_v1se(classes, in_chans=3, input_size=80, drop=0.75):
    """MiniFASNetV1SE (Silent-Face-Anti-Spoofing): MiniFASNetV1 + squeeze-excite, 0.43 M parameters; fixed input size, 80 by default."""
    return MiniFASNet(WIDTHS["v1"], len(classes), in_chans, input_size=input_size, se=True, drop=drop)


@register_model("minifasnet-v2se", default_input_size=80, upstream_name="MiniFASNetV2SE", **_INFO)
def minifasnet_v2se(classes, in_chans=3, input_size=80, drop=0.75):
    """MiniFASNetV2SE (Silent-Face-Anti-Spoofing): MiniFASNetV2 + squeeze-excite, 0.45 M parameters; fixed input size, 80 by default."""
    return MiniFASNet(WIDTHS["v2"], len(classes), in_chans, input_size=input_size, se=True, drop=drop)
