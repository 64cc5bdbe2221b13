"""padnet: the project's default PAD network, a compact MobileNetV3-style CNN with CDC early stages.

Body: MobileNetV3-small (Howard et al., "Searching for MobileNetV3", ICCV 2019): inverted residual
blocks (1x1 expand -> depthwise kxk -> squeeze-excite -> 1x1 project, residual when shapes match)
with ReLU early and hardswish late. Twist for anti-spoofing: the stem and the depthwise convs of the
high-resolution stages are central difference convolutions (CDC; Yu et al., CVPR 2020, see
layers.CDConv2d), which pick up the fine intensity-difference texture (print dots, moire, moulded
ridges) that separates bona fide samples from attacks. ``theta`` weighs the CDC term (0 = plain
conv); at export the CDC term folds into the kernel, so inference costs the same as MobileNetV3.

Size at 2 classes, width 1.0: 1.48 M params, 17.6 M multiply-adds (35 MFLOPs) at 128x128; trains at
~250 images/s on 2 CPU cores (batch 32, channels_last). Global pooling: any input size >= 32 works.
"""

from __future__ import annotations

import torch
from torch import nn

from spoofguard.models.layers import ConvBNAct, SqueezeExcite, init_weights, make_divisible
from spoofguard.models.registry import register_model

# kernel, expanded channels, out channels, squeeze-excite, activation, stride, central difference conv
# (MobileNetV3-small's table with 3x3 depthwise kernels throughout: on CPU the 5x5 depthwise backward
# at 8x8/4x4 cost ~30% of the training step for little receptive field at those sizes)
BLOCKS = [
    (3, 16, 16, True, "relu", 2, True),      # 64 -> 32 (side at 128 input)
    (3, 72, 24, False, "relu", 2, True),     # 32 -> 16
    (3, 88, 24, False, "relu", 1, True),
    (3, 96, 40, True, "hswish", 2, False),   # 16 -> 8
    (3, 240, 40, True, "hswish", 1, False),
    (3, 240, 40, True, "hswish", 1, False),
    (3, 120, 48, True, "hswish", 1, False),
    (3, 144, 48, True, "hswish", 1, False),
    (3, 288, 96, True, "hswish", 2, False),  # 8 -> 4
    (3, 576, 96, True, "hswish", 1, False),
    (3, 576, 96, True, "hswish", 1, False),
]
STEM_CHANS, LAST_CHANS, HEAD_CHANS = 16, 576, 1024
ACTS = {"relu": nn.ReLU, "hswish": nn.Hardswish}


class InvertedResidual(nn.Module):
    def __init__(self, in_chans: int, mid_chans: int, out_chans: int, kernel_size: int, stride: int,
                 se: bool, act: type[nn.Module], theta: float | None):
        super().__init__()
        self.expand = ConvBNAct(in_chans, mid_chans, 1, act=act) if mid_chans != in_chans else nn.Identity()
        self.depthwise = ConvBNAct(mid_chans, mid_chans, kernel_size, stride, groups=mid_chans, act=act, theta=theta)
        self.se = SqueezeExcite(mid_chans) if se else nn.Identity()
        self.project = ConvBNAct(mid_chans, out_chans, 1, act=None)
        self.residual = stride == 1 and in_chans == out_chans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return x + y if self.residual else y


class PadNet(nn.Module):
    def __init__(self, num_classes: int, in_chans: int = 3, width: float = 1.0, theta: float = 0.7,
                 drop: float = 0.2, blocks=BLOCKS):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        ch = lambda c: make_divisible(c * width)  # noqa: E731
        self.stem = ConvBNAct(in_chans, ch(STEM_CHANS), 3, stride=2, act=nn.Hardswish, theta=theta)
        layers, c_in = [], ch(STEM_CHANS)
        for k, mid, out, se, act, stride, cdc in blocks:
            layers.append(InvertedResidual(c_in, ch(mid), ch(out), k, stride, se, ACTS[act], theta if cdc else None))
            c_in = ch(out)
        self.blocks = nn.Sequential(*layers)
        last = ch(LAST_CHANS)
        self.last = ConvBNAct(c_in, last, 1, act=nn.Hardswish)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(last, HEAD_CHANS), nn.Hardswish(inplace=True), nn.Dropout(drop),
            nn.Linear(HEAD_CHANS, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.last(self.blocks(self.stem(x)))))


@register_model("padnet", default_input_size=128)
def padnet(classes, in_chans=3, width=1.0, theta=0.7, drop=0.2):
    """MobileNetV3-small-style net with central difference convs early; the fast project default (128)."""
    return PadNet(len(classes), in_chans, width=float(width), theta=float(theta), drop=float(drop))
