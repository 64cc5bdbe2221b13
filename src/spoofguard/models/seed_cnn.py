"""seed-cnn: the classic small CNN baseline for fingerprint liveness detection.

Three conv/pool stages and two dense layers, the shape of the early CNN baselines for the LivDet
fake-fingerprint competitions (e.g. Nogueira et al., "Fingerprint Liveness Detection Using
Convolutional Neural Networks", IEEE TIFS 2016, and the many Keras tutorials built on it):

    Conv(16, 3x3, same)-ReLU-MaxPool2 - Conv(32)-ReLU-MaxPool2 - Conv(16)-ReLU-MaxPool2
    - Flatten - Dense(256)-ReLU - Dense(classes)

The Flatten+Dense head makes the network size-dependent: it is built for ``input_size`` x
``input_size`` inputs (default 256) and refuses any other size.
"""

from __future__ import annotations

import torch
from torch import nn

from spoofguard.errors import SpoofguardError
from spoofguard.models.layers import init_weights
from spoofguard.models.registry import Int, register_model


class SeedCNN(nn.Module):
    def __init__(self, num_classes: int, in_chans: int = 3, input_size: int = 256, hidden: int = 256):
        super().__init__()
        if input_size < 32:
            raise ValueError(f"input_size must be >= 32, got {input_size}")
        self.input_size = input_size
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        side = input_size // 2 // 2 // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )
        init_weights(self)
        nn.init.normal_(self.classifier[1].weight, 0.0, (2.0 / (16 * side * side)) ** 0.5)  # He init for the big dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise SpoofguardError(
                f"seed-cnn was built for {self.input_size}x{self.input_size} inputs, got "
                f"{tuple(x.shape[-2:])}; resize the input or build it with input_size={x.shape[-1]}"
            )
        return self.classifier(self.features(x))


# the dense layer grows with input_size^2 x hidden: at the bounds 67 M parameters (268 MB)
@register_model("seed-cnn", default_input_size=256, bounds={"input_size": Int(32, 512), "hidden": Int(1, 1024)})
def seed_cnn(classes, in_chans=3, input_size=256, hidden=256):
    """Classic 3-conv fake-fingerprint baseline (LivDet era); fixed input size, ~4.2 M params at 256."""
    return SeedCNN(len(classes), in_chans, input_size=input_size, hidden=hidden)
