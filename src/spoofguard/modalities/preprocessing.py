"""The input contract of a model, stored in its bundle and applied identically in training and use.

A :class:`Preprocessing` turns any image (path, PIL image or array; grey, RGB, RGBA or 16-bit) into
the ``uint8 (size, size, channels)`` views the model looks at, and normalises a float batch the way
the model expects. Nothing about a model's input is decided anywhere else.

Two ways to look at a capture (``crop``):

- ``"whole"``: the whole image resized to ``input_size`` (stretched or padded): one view.
- ``"patches"`` (fingerprints): native-resolution ``input_size`` patches of the finger's foreground
  (:mod:`spoofguard.modalities.fingerprint`): in training one random patch per draw, in use a grid
  with ``patch_stride`` (default half a patch), at most ``max_patches``; the model's patch scores are
  fused by their mean and give a heatmap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from spoofguard.data.images import as_array
from spoofguard.errors import SpoofguardError

# Grey fingerprints keep one channel; faces are RGB.
MODALITIES = {"fingerprint": {"channels": 1}, "face": {"channels": 3}}
RESIZE_MODES = ("stretch", "pad")
CROPS = ("whole", "patches")


@dataclass
class Source:
    """A decoded capture, ready to cut views from: the model-ready array (whole) or the
    native-resolution image with its foreground mask (patches)."""

    array: np.ndarray
    mask: np.ndarray | None = None
    shape: tuple[int, int] = (0, 0)  # the capture's (H, W) as given


@dataclass
class Views:
    """What the model looks at for one capture: ``arrays (N, s, s, C)`` and where each came from."""

    arrays: np.ndarray
    corners: list[tuple[int, int]]  # (y, x) per view in capture coordinates; [(0, 0)] for whole
    size: int  # side of a view in capture pixels (whole: the capture itself)
    region: tuple[int, int, int, int] | None  # (x, y, w, h) of what was looked at; None = nothing found
    shape: tuple[int, int]  # the capture's (H, W)


@dataclass
class Preprocessing:
    modality: str
    input_size: int
    channels: int = 0  # 0 = the modality's default
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    resize: str = "stretch"  # "stretch" to a square, or "pad" (keep aspect, pad with the border colour)
    crop: str = "whole"  # "whole" | "patches" (fingerprints, native resolution)
    patch_stride: int = 0  # 0 = half a patch
    max_patches: int = 64
    min_foreground: float = 0.5

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
        if self.crop not in CROPS:
            raise SpoofguardError(f"crop must be one of {', '.join(CROPS)}, not {self.crop!r}.")
        if self.crop == "patches" and self.modality != "fingerprint":
            raise SpoofguardError("patches are a fingerprint view; faces are looked at whole (or as face crops).")
        self.patch_stride = int(self.patch_stride) or self.input_size // 2
        if not 1 <= self.patch_stride <= 4 * self.input_size or int(self.max_patches) < 1 or not 0 <= self.min_foreground <= 1:
            raise SpoofguardError("patch_stride must be 1..4x the patch size, max_patches >= 1, min_foreground in [0, 1].")
        self.mean = list(self.mean) or [0.5] * self.channels
        self.std = list(self.std) or [0.5] * self.channels
        if len(self.mean) != self.channels or len(self.std) != self.channels or min(self.std) <= 0:
            raise SpoofguardError("mean and std need one value per channel, std > 0.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        keys = ("modality", "input_size", "channels", "mean", "std", "resize", "crop", "patch_stride", "max_patches", "min_foreground")
        return cls(**{k: d[k] for k in keys if k in d})

    def prepare(self, image) -> np.ndarray:
        """Any image -> ``uint8 (input_size, input_size, channels)``: the whole-image view."""
        a = as_array(image, self.channels)
        return self.resize_array(a)

    def source(self, image) -> Source:
        """Decode a capture once; views are cut from the result (cache this, not the views)."""
        a = as_array(image, self.channels)
        if self.crop == "whole":
            return Source(self.resize_array(a), None, a.shape[:2])
        from spoofguard.modalities.fingerprint import foreground_mask, pad_to

        padded = pad_to(a, self.input_size)
        return Source(padded, foreground_mask(padded), a.shape[:2])

    def training_view(self, src: Source, rng: np.random.Generator) -> np.ndarray:
        """One view for a training step: the whole image, or a random foreground patch."""
        if self.crop == "whole":
            return src.array
        from spoofguard.modalities.fingerprint import random_patch

        return self.view_at(src, random_patch(src.mask, self.input_size, rng, self.min_foreground))

    def view_at(self, src: Source, corner: tuple[int, int]) -> np.ndarray:
        """The patch view whose top-left corner is ``(y, x)``."""
        y, x = corner
        return src.array[y : y + self.input_size, x : x + self.input_size]

    def views(self, image) -> Views:
        """All views of a capture for scoring (a path, image, array or :class:`Source`)."""
        src = image if isinstance(image, Source) else self.source(image)
        h, w = src.shape
        if self.crop == "whole":
            return Views(src.array[None], [(0, 0)], max(h, w), (0, 0, w, h), (h, w))
        from spoofguard.modalities.fingerprint import cut, patch_grid, region

        corners = patch_grid(src.mask, self.input_size, self.patch_stride, self.min_foreground, self.max_patches)
        return Views(cut(src.array, corners, self.input_size), corners, self.input_size, region(src.mask[:h, :w]), (h, w))

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

    def to_tensor(self, batch_uint8):
        """``uint8 (N, H, W, C)`` -> float torch tensor ``(N, C, H, W)`` in [0, 1] (not yet normalised)."""
        import torch

        t = torch.as_tensor(batch_uint8)
        return t.permute(0, 3, 1, 2).float().div_(255.0)

    def normalise(self, x):
        """Normalise a float torch batch ``(N, C, H, W)`` in [0, 1]."""
        import torch

        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def to_input(self, batch_uint8: np.ndarray) -> np.ndarray:
        """``uint8 (N, H, W, C)`` -> normalised ``float32 (N, C, H, W)`` in numpy (the ONNX path, no torch)."""
        x = np.asarray(batch_uint8, np.float32).transpose(0, 3, 1, 2) / 255.0
        mean = np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, -1, 1, 1)
        return np.ascontiguousarray((x - mean) / std, dtype=np.float32)
