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
- ``"native"`` (fingerprints): the whole capture at its own resolution, never resized, on an
  ``input_size`` square canvas (centred; a smaller capture is padded with its median border grey, a
  larger one cut around the finger's foreground): one view, for models that look at the texture of the whole finger.
- ``"face"`` (faces): the face detector finds the faces (:mod:`spoofguard.modalities.face`); each
  face is cut at every ``face_scales`` context scale around its box (print and replay cues live in
  the context: paper edges, bezels, moire) with the ``face_border`` rule at the frame's edge, and
  resized to ``input_size``. A capture without a face has no views: "no face found", never a score.
  ``"whole"`` for faces means the images are face crops already (``--precropped``).

How pixels become the model's numbers: ``channel_order`` (RGB or BGR), values scaled to
``[0, pixel_range]``, then ``(x - mean) / std`` per channel. Our own models use RGB, 1.0, 0.5, 0.5;
imported ONNX models state theirs in a spec (e.g. BGR, 255, 0, 1).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image

from spoofguard.media.images import as_array
from spoofguard.errors import SpoofguardError

# Grey fingerprints keep one channel; faces are RGB.
MODALITIES = {"fingerprint": {"channels": 1}, "face": {"channels": 3}}
RESIZE_MODES = ("stretch", "pad")
CROPS = ("whole", "patches", "face", "native")
CHANNEL_ORDERS = ("RGB", "BGR")
DEFAULT_FACE_SCALES = [2.7]
# colourfulness (below): grey scans 0 (LivDet, also as JPEG), webcam and phone face frames 24-185 (NUAA, samples)
MAX_FINGERPRINT_CHROMA = 15.0


def colourfulness(rgb: np.ndarray) -> float:
    """90th percentile over pixels of (max - min over R, G, B), on a thumbnail: 0 for a grey picture;
    a percentile, so a small coloured subject on a grey background still counts."""
    if rgb.shape[2] != 3:
        return 0.0
    step = max(1, max(rgb.shape[:2]) // 128)
    t = rgb[::step, ::step].astype(np.int16)
    return float(np.percentile(t.max(axis=2) - t.min(axis=2), 90))


def border_median(a: np.ndarray) -> np.ndarray:
    """Per channel, the median of an ``(H, W, C)`` image's outermost rows and columns: a padding colour
    that continues the background."""
    return np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]), axis=0)


@dataclass
class Source:
    """A decoded capture, ready to cut views from: the model-ready array (whole) or the
    native-resolution image with its foreground mask (patches)."""

    array: np.ndarray
    mask: np.ndarray | None = None
    shape: tuple[int, int] = (0, 0)  # the capture's (H, W) as given
    faces: list | None = None  # face crop: the detected faces, largest first (modalities.face.Face)
    crops: np.ndarray | None = None  # face crop: the largest face at every scale, (n_scales, s, s, C)


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
    face_scales: list[float] = field(default_factory=list)  # context scales around the face box; [] = default
    face_border: str = "shift"  # "shift" (stay in the frame) | "reflect" | "constant"
    face_square: bool = False  # square crops (side = scale x the box's longer side) instead of the box's aspect
    face_detector: str = "auto"  # auto | mtcnn | haar | yunet (yunet needs its model file at run time)
    face_min: float = 0.1  # smallest face side, as a fraction of the frame's shorter side
    channel_order: str = "RGB"
    pixel_range: float = 1.0  # pixel values are scaled to [0, pixel_range] before mean/std
    clip_frames: int = 0  # temporal models: views of this many frames of one video make one input; 0 = one view

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
            raise SpoofguardError("patches are a fingerprint view; faces are looked at as face crops (or whole, precropped).")
        if self.crop == "native" and self.modality != "fingerprint":
            raise SpoofguardError("the native view is a fingerprint view (the capture at its own resolution); faces are looked at as face crops.")
        if self.crop == "face" and self.modality != "face":
            raise SpoofguardError("face crops need the face modality.")
        from spoofguard.modalities.face import BORDERS, FACE_DETECTORS

        self.face_scales = [float(v) for v in (self.face_scales or DEFAULT_FACE_SCALES)]
        if not all(0.5 <= v <= 8 for v in self.face_scales) or self.face_border not in BORDERS or self.face_detector not in FACE_DETECTORS:
            raise SpoofguardError(f"face scales must lie in [0.5, 8], the border one of {', '.join(BORDERS)}, "
                                  f"the face detector one of {', '.join(FACE_DETECTORS)}.")
        if not 0 < self.face_min < 1:
            raise SpoofguardError(f"face_min is a fraction of the frame's shorter side, in (0, 1); not {self.face_min!r}.")
        if self.channel_order not in CHANNEL_ORDERS or not 0 < float(self.pixel_range) <= 65535:
            raise SpoofguardError(f"channel order must be RGB or BGR and the pixel range positive, not {self.channel_order!r}, {self.pixel_range!r}.")
        self.patch_stride = int(self.patch_stride) or self.input_size // 2
        if not 1 <= self.patch_stride <= 4 * self.input_size or int(self.max_patches) < 1 or not 0 <= self.min_foreground <= 1:
            raise SpoofguardError("patch_stride must be 1..4x the patch size, max_patches >= 1, min_foreground in [0, 1].")
        self.clip_frames = int(self.clip_frames)
        if self.clip_frames < 0 or self.clip_frames == 1:
            raise SpoofguardError(f"clip_frames is 0 (single views) or the frames of a clip (>= 2), not {self.clip_frames}.")
        self.mean = list(self.mean) or [0.5] * self.channels
        self.std = list(self.std) or [0.5] * self.channels
        if len(self.mean) != self.channels or len(self.std) != self.channels or min(self.std) <= 0:
            raise SpoofguardError("mean and std need one value per channel, std > 0.")

    @property
    def one_view(self) -> bool:
        """The capture is one view as it is (whole, resized; or native, on its canvas): no patches, no faces."""
        return self.crop in ("whole", "native")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        from dataclasses import fields

        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def prepare(self, image) -> np.ndarray:
        """Any image -> ``uint8 (input_size, input_size, channels)``: the whole-image view."""
        return self.resize_array(self.decode(image))

    def decode(self, image) -> np.ndarray:
        """Any image -> ``uint8 (H, W, channels)``. A fingerprint model refuses a colour photo (its
        captures are grey: a colourful input is almost surely the wrong modality)."""
        if self.modality != "fingerprint" or self.channels != 1:
            return as_array(image, self.channels)
        rgb = as_array(image, 3)
        chroma = colourfulness(rgb)
        if chroma > MAX_FINGERPRINT_CHROMA:
            where = f"{os.fspath(image)}: " if isinstance(image, (str, os.PathLike)) else ""
            raise SpoofguardError(f"{where}a colour picture (colourfulness {chroma:.0f}) given to a fingerprint model; fingerprint "
                                  "captures are grey. Is it a face? Use a face model for face images (a tinted fingerprint scan: convert it to grey first).")
        return np.asarray(Image.fromarray(rgb, "RGB").convert("L"))[..., None]

    def source(self, image, faces: list | None = None, finder=None, detection_cache=None, precropped: bool = False,
               keep_frame: bool = True) -> Source:
        """Decode a capture once; views are cut from the result (cache this, not the views).

        Face crops: the faces are found by ``finder`` (default: the bundle's face detector), through
        ``detection_cache`` when the image is a file; ``faces`` when the caller knows them (``[]`` =
        none); ``precropped``: the image is the face. ``keep_frame=False`` keeps only the largest
        face's crops (what training needs: a few kB per sample instead of the frame)."""
        a = self.decode(image)
        if self.crop == "face":
            from spoofguard.modalities import face as fc

            h, w = a.shape[:2]
            if precropped:
                faces = [fc.Face((0, 0, w, h), 1.0)]
            elif faces is None:
                finder = finder or fc.finder_for(self.face_detector, min_face=self.face_min)
                path = image if isinstance(image, (str, os.PathLike)) else None
                faces = fc.detect_cached(finder, path, a, detection_cache) if path is not None else finder.detect(a)
            if keep_frame:
                return Source(a, None, (h, w), list(faces))
            return Source(None, None, (h, w), list(faces), self.face_crops(a, faces[0].box) if faces else None)
        if self.crop == "whole":
            return Source(self.resize_array(a), None, a.shape[:2])
        if self.crop == "native":
            return Source(self.canvas(a), None, a.shape[:2])
        from spoofguard.modalities.fingerprint import foreground_mask, pad_to

        padded = pad_to(a, self.input_size)
        return Source(padded, foreground_mask(padded), a.shape[:2])

    def face_crops(self, frame: np.ndarray, box) -> np.ndarray:
        """``(n_scales, s, s, C)``: the face ``box`` at every context scale."""
        from spoofguard.modalities.face import crop_face

        return np.stack([crop_face(frame, box, k, self.input_size, self.face_border, self.face_square) for k in self.face_scales])

    def training_view(self, src: Source, rng: np.random.Generator) -> np.ndarray:
        """One view for a training step: the whole image, a random foreground patch, or the face at a
        random one of its scales."""
        if self.one_view:
            return src.array
        if self.crop == "face":
            return src.crops[rng.integers(len(src.crops))]
        from spoofguard.modalities.fingerprint import random_patch

        return self.view_at(src, random_patch(src.mask, self.input_size, rng, self.min_foreground))

    def view_keys(self, src: Source) -> list:
        """What names each scoring view of a capture, for :meth:`view_at` (dev sets list them once)."""
        if self.crop == "face":
            return list(range(len(src.crops))) if src.crops is not None else []
        return list(self.views(src).corners)

    def view_at(self, src: Source, key) -> np.ndarray:
        """One scoring view: the patch whose top-left corner is ``key = (y, x)``, or face scale ``key``."""
        if self.crop == "face":
            return src.crops[key]
        if self.one_view:
            return src.array
        y, x = key
        return src.array[y : y + self.input_size, x : x + self.input_size]

    def views(self, image, face: int = 0) -> Views:
        """All views of a capture for scoring (a path, image, array or :class:`Source`); for face crops,
        those of face number ``face`` (0 = the largest). No face: no views, region None."""
        src = image if isinstance(image, Source) else self.source(image)
        h, w = src.shape
        if self.crop == "face":
            return self.face_views(src, face)
        if self.one_view:
            return Views(src.array[None], [(0, 0)], max(h, w), (0, 0, w, h), (h, w))
        from spoofguard.modalities.fingerprint import cut, patch_grid, region

        corners = patch_grid(src.mask, self.input_size, self.patch_stride, self.min_foreground, self.max_patches)
        return Views(cut(src.array, corners, self.input_size), corners, self.input_size, region(src.mask[:h, :w]), (h, w))

    def face_views(self, src: Source, face: int = 0) -> Views:
        h, w = src.shape
        if not src.faces or face >= len(src.faces):
            return Views(np.zeros((0, self.input_size, self.input_size, self.channels), np.uint8), [], 0, None, (h, w))
        box = tuple(int(v) for v in src.faces[face].box)
        if face == 0 and src.crops is not None:
            arrays = src.crops
        elif src.array is not None:
            arrays = self.face_crops(src.array, box)
        else:
            raise ValueError("this Source kept only the largest face's crops (keep_frame=False)")
        return Views(arrays, [(box[1], box[0])] * len(arrays), max(box[2], box[3]), box, (h, w))

    def canvas(self, a: np.ndarray) -> np.ndarray:
        """``(H, W, C)`` -> ``(s, s, C)`` at the capture's own resolution: centred, padded with the
        median border value (flat, so no texture is invented) or cut around the finger (the centre of
        its foreground's box; the frame's centre when there is none)."""
        s = self.input_size
        h, w = a.shape[:2]
        y0, x0 = max(0, (h - s) // 2), max(0, (w - s) // 2)
        if h > s or w > s:  # a capture larger than the canvas: cut around the finger, not the frame's centre
            from spoofguard.modalities.fingerprint import foreground_mask, region

            box = region(foreground_mask(a))
            if box is not None:
                cx, cy = box[0] + box[2] // 2, box[1] + box[3] // 2
                y0 = min(max(0, cy - s // 2), max(0, h - s))
                x0 = min(max(0, cx - s // 2), max(0, w - s))
        a = a[y0 : y0 + s, x0 : x0 + s]
        h, w = a.shape[:2]
        if (h, w) == (s, s):
            return np.ascontiguousarray(a)
        fill = border_median(a).astype(np.uint8)
        out = np.empty((s, s, a.shape[2]), np.uint8)
        out[:] = fill
        top, left = (s - h) // 2, (s - w) // 2
        out[top : top + h, left : left + w] = a
        return out

    def resize_array(self, a: np.ndarray) -> np.ndarray:
        s = self.input_size
        img = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)
        if self.resize == "pad" and img.width != img.height:
            side = max(img.size)
            fill = tuple(int(v) for v in border_median(a))
            canvas = Image.new(img.mode, (side, side), fill[0] if a.shape[2] == 1 else fill)
            canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
            img = canvas
        if img.size != (s, s):
            img = img.resize((s, s), Image.Resampling.BILINEAR, reducing_gap=2.0)
        out = np.asarray(img)
        return out[..., None] if out.ndim == 2 else out

    def to_tensor(self, batch_uint8):
        """``uint8 (N, H, W, C)`` -> float torch tensor ``(N, C, H, W)`` in [0, pixel_range] (not yet
        normalised); clips ``(N, T, H, W, C)`` -> ``(N, T, C, H, W)``."""
        import torch

        t = torch.as_tensor(batch_uint8)
        if t.dim() == 5:
            n, f = t.shape[:2]
            return self.to_tensor(t.flatten(0, 1)).unflatten(0, (n, f))
        if self.channel_order == "BGR" and t.shape[-1] == 3:
            t = t.flip(-1)
        return t.permute(0, 3, 1, 2).float().mul_(float(self.pixel_range) / 255.0)

    def normalise(self, x):
        """Normalise a float torch batch ``(N, C, H, W)`` in [0, pixel_range]."""
        import torch

        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)  # (C, 1, 1): images and clips
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return (x - mean) / std

    def to_input(self, batch_uint8: np.ndarray) -> np.ndarray:
        """``uint8 (N, H, W, C)`` -> normalised ``float32 (N, C, H, W)`` in numpy (the ONNX path, no torch).

        One table lookup per channel (value -> normalised value): a third of the time of convert,
        scale and normalise in turn, which cost more than padnet itself on onnxruntime."""
        a = np.asarray(batch_uint8)
        if a.dtype != np.uint8:
            raise SpoofguardError(f"views must be uint8, not {a.dtype}.")
        if a.ndim == 5:  # clips (N, T, H, W, C) -> (N, T, C, H, W)
            return self.to_input(a.reshape((-1,) + a.shape[2:])).reshape(a.shape[:2] + (a.shape[4], a.shape[2], a.shape[3]))
        c = a.shape[3]
        scale = np.float32(float(self.pixel_range) / 255.0) / np.asarray(self.std, np.float32)
        shift = -np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)
        table = np.arange(256, dtype=np.float32)[:, None] * scale[None, :] + shift[None, :]  # (256, C)
        out = np.empty((a.shape[0], c, a.shape[1], a.shape[2]), np.float32)
        for k in range(c):
            src = c - 1 - k if self.channel_order == "BGR" and c == 3 else k
            out[:, k] = table[a[..., src], k]
        return out
