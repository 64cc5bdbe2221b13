"""The input contract of a model, stored in its bundle and applied identically in training and use.

A :class:`Preprocessing` turns any image (path, PIL image or array; grey, RGB, RGBA or 16-bit) into
the ``uint8 (size, size, channels)`` array the model was trained on, and normalises a float batch
the way the model expects. Nothing about a model's input is decided anywhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from PIL import Image

from spoofguard.data.images import as_array
from spoofguard.errors import SpoofguardError

# Grey fingerprints keep one channel; faces are RGB.
MODALITIES = {"fingerprint": {"channels": 1}, "face": {"channels": 3}}
RESIZE_MODES = ("stretch", "pad")


@dataclass
class Preprocessing:
    modality: str
    input_size: int
    channels: int = 0  # 0 = the modality's default
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    resize: str = "stretch"  # "stretch" to a square, or "pad" (keep aspect, pad with the border colour)

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise SpoofguardError(f"unknown modality {self.modality!r}; choose one of {', '.join(MODALITIES)}.")
        if not self.channels:
            self.channels = MODALITIES[self.modality]["channels"]
        if self.channels not in (1, 3):
            raise SpoofguardError(f"channels must be 1 or 3, not {self.channels}.")
        if not isinstance(self.input_size, int) or not 16 <= self.input_size <= 2048:
            raise SpoofguardError(f"input size must be a whole number of pixels between 16 and 2048, not {self.input_size!r}.")
        if self.resize not in RESIZE_MODES:
            raise SpoofguardError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, not {self.resize!r}.")
        self.mean = list(self.mean) or [0.5] * self.channels
        self.std = list(self.std) or [0.5] * self.channels
        if len(self.mean) != self.channels or len(self.std) != self.channels or min(self.std) <= 0:
            raise SpoofguardError("mean and std need one value per channel, std > 0.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        known = {k: d[k] for k in ("modality", "input_size", "channels", "mean", "std", "resize") if k in d}
        return cls(**known)

    def prepare(self, image) -> np.ndarray:
        """Any image -> ``uint8 (input_size, input_size, channels)``."""
        a = as_array(image, self.channels)
        return self.resize_array(a)

    def resize_array(self, a: np.ndarray) -> np.ndarray:
        s = self.input_size
        img = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)
        if self.resize == "pad" and img.width != img.height:
            side = max(img.size)
            fill = tuple(int(v) for v in np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]), axis=0))
            canvas = Image.new(img.mode, (side, side), fill[0] if a.shape[2] == 1 else fill)
            canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
            img = canvas
        if img.size != (s, s):
            img = img.resize((s, s), Image.Resampling.BILINEAR, reducing_gap=2.0)
        out = np.asarray(img)
        return out[..., None] if out.ndim == 2 else out

    def to_tensor(self, batch_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``uint8 (N, H, W, C)`` -> float ``(N, C, H, W)`` in [0, 1] (not yet normalised)."""
        t = torch.as_tensor(batch_uint8)
        return t.permute(0, 3, 1, 2).float().div_(255.0)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std
