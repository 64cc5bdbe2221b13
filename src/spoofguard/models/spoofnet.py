"""spoofnet: a plain VGG-style CNN for face/fingerprint presentation attack detection.

Five blocks of [Conv3x3-BN-ReLU-Conv3x3-BN-ReLU-MaxPool2-Dropout2d] with channels
in_chans -> 32 -> 64 -> 128 -> 256 -> 512, global average pooling, and an MLP head
512 -> 256 -> 128 -> classes with BatchNorm1d, ReLU and dropout. This is the "SpoofNet"-style
baseline common in anti-spoofing tutorials and papers (VGG blocks as in Simonyan & Zisserman 2015,
in the spirit of Menotti et al., "Deep Representations for Iris, Face, and Fingerprint Spoofing
Detection", IEEE TIFS 2015). Convs keep their bias, so at 2 classes and 3 input channels it has
exactly 4,881,442 parameters. Global pooling makes it work at any input size >= 32.
"""

from __future__ import annotations

import torch
from torch import nn

from spoofguard.models.layers import init_weights
from spoofguard.models.registry import Float, register_model


def vgg_block(in_chans: int, out_chans: int, drop2d: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, 3, padding=1), nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True),
        nn.Conv2d(out_chans, out_chans, 3, padding=1), nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout2d(drop2d),
    )


class SpoofNet(nn.Module):
    def __init__(self, num_classes: int, in_chans: int = 3, drop2d: float = 0.1, drop: float = 0.3):
        super().__init__()
        chans = [in_chans, 32, 64, 128, 256, 512]
        self.features = nn.Sequential(*[vgg_block(c_in, c_out, drop2d) for c_in, c_out in zip(chans, chans[1:])])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True), nn.Dropout(drop),
            nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(inplace=True), nn.Dropout(drop),
            nn.Linear(128, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


@register_model("spoofnet", default_input_size=224, bounds={"drop2d": Float(0.0, 1.0), "drop": Float(0.0, 1.0)})
def spoofnet(classes, in_chans=3, drop2d=0.1, drop=0.3):
    """VGG-style 5-block CNN with an MLP head; 4.88 M params, heavy on CPU (default input 224)."""
    return SpoofNet(len(classes), in_chans, drop2d=drop2d, drop=drop)
