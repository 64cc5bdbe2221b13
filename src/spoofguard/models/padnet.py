"""padnet: the project's default PAD network, a compact MobileNetV3-style texture CNN with CDC early stages.

Body: the first ``depth`` blocks of MobileNetV3-small (Howard et al., "Searching for MobileNetV3", ICCV 2019): inverted residual
blocks (1x1 expand -> depthwise kxk -> squeeze-excite -> 1x1 project, residual when shapes match)
with ReLU early and hardswish late. Twist for anti-spoofing: the stem and the depthwise convs of the
high-resolution stages are central difference convolutions (CDC; Yu et al., CVPR 2020, see
layers.CDConv2d), which pick up the fine intensity-difference texture (print dots, moire, moulded
ridges) that separates bona fide samples from attacks. ``theta`` weighs the CDC term (0 = plain
conv); at export the CDC term folds into the kernel, so inference costs the same as a plain conv.

Two choices make it a *texture* network rather than an object recogniser, and both were measured on
the synthetic fingerprint task (docs/benchmarks.md), where stock MobileNetV3-small memorised the
training fingers and stayed near chance on unseen ones:

- a **space-to-depth stem**: the image is folded 2x2 into channels (``PixelUnshuffle``) before a
  stride-1 CDC conv, instead of a stride-2 conv. The stem sees every pixel, so pores, dots and
  moulding artefacts one or two pixels wide survive the first downsampling, at the same cost.
- **limited depth** (``depth=5`` by default: stride 8, up to the first 40-channel stage): the
  receptive field stays local (~60 px), and the global average pool then averages local texture
  evidence over the image or patch. Deeper variants (``depth`` up to 11, the whole table) learn
  global shape, which does not generalise across subjects on small PAD data sets.

Size at 2 classes, defaults: see ``spoofguard info``; global pooling, so any input size >= 16 works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spoofguard.models.layers import ConvBNAct, SqueezeExcite, init_weights, make_divisible
from spoofguard.models.registry import Capabilities, Float, Int, register_model

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
                 drop: float = 0.2, depth: int = 5):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        if not 1 <= depth <= len(BLOCKS):
            raise ValueError(f"depth must be between 1 and {len(BLOCKS)}, got {depth}")
        ch = lambda c: make_divisible(c * width)  # noqa: E731
        # space-to-depth stem: (C, H, W) -> (4C, H/2, W/2) losslessly, then a stride-1 CDC conv
        self.stem = nn.Sequential(
            nn.PixelUnshuffle(2),
            ConvBNAct(4 * in_chans, ch(STEM_CHANS), 3, stride=1, act=nn.Hardswish, theta=theta),
        )
        layers, c_in = [], ch(STEM_CHANS)
        for k, mid, out, se, act, stride, cdc in BLOCKS[:depth]:
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

    def exportable(self) -> "PadNet":
        """A copy computing the same function with a cheaper graph for export: the 2x2 fold and the
        stem's 3x3 conv become one 6x6 stride-2 conv on the image (PixelUnshuffle exports as a 6-D
        Transpose that took ~45 % of onnxruntime's time; measured 1630 -> 4240 img/s at 128, batch 32)."""
        import copy

        model = copy.deepcopy(self).eval()
        unshuffle, (conv, bn, act) = model.stem[0], model.stem[1]
        r = unshuffle.downscale_factor
        with torch.no_grad():
            w = conv.fused_weight() if hasattr(conv, "fused_weight") else conv.weight  # (O, C*r*r, k, k)
            o, crr, k, _ = w.shape
            c = crr // (r * r)
            # channel c*r*r + i*r + j of the fold is pixel (r*y + i, r*x + j): kernel tap (r*dy + i, r*dx + j)
            big = w.reshape(o, c, r, r, k, k).permute(0, 1, 4, 2, 5, 3).reshape(o, c, k * r, k * r)
            stem = nn.Conv2d(c, o, k * r, stride=r, padding=r * (k // 2), bias=False)
            stem.weight.copy_(big)
        model.stem = nn.Sequential(stem, bn, act)
        return model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 2 or x.shape[-1] % 2:  # the 2x2 fold needs even sides: repeat the last row/column
            x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2), mode="replicate")
        return self.head(self.pool(self.last(self.blocks(self.stem(x)))))


# the options a model file may ask for: width 4 (16x the parameters) and depth 11 (the whole table) are the largest built
BOUNDS = {"width": Float(0.05, 4.0), "theta": Float(0.0, 1.0), "drop": Float(0.0, 1.0), "depth": Int(1, len(BLOCKS))}


@register_model("padnet", default_input_size=128, fingerprint_crop="patches", fingerprint_patch_size=96, bounds=BOUNDS,
                capabilities=Capabilities(export_form=True))
def padnet(classes, in_chans=3, width=1.0, theta=0.7, drop=0.2, depth=5):
    """MobileNetV3-small-style texture net with central difference convs early; the fast project default (128)."""
    return PadNet(len(classes), in_chans, width=float(width), theta=float(theta), drop=float(drop), depth=int(depth))
