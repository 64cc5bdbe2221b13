"""Reading captures from disk into 8-bit arrays, whatever their mode.

Every image a user hands us goes through :func:`load_image`: grey, RGB, RGBA, palette and 16-bit
files all come out as ``uint8`` arrays of shape ``(H, W, C)`` with ``C`` = 1 (grey) or 3 (RGB).
EXIF orientation (phone photos) is applied. Files that cannot be read raise :class:`SpoofguardError`
naming the file and the reason; images
larger than ``max_pixels`` are refused from their header, before anything is decoded
(decompression bombs).
"""

from __future__ import annotations

import os
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from spoofguard.errors import SpoofguardError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm")
MAX_PIXELS = 50_000_000  # 50 MP: larger than any fingerprint sensor or camera frame we expect

# Pillow's own guard (``Image.MAX_IMAGE_PIXELS``, process-wide) stays as Pillow sets it: every other
# reader in the process (the server's UI, plots, third-party code) keeps that protection. Our own
# check below is tighter and names the file; for a header that also trips Pillow's bound (more than
# twice ``Image.MAX_IMAGE_PIXELS``, about 179 MP: Pillow then refuses to open it at all),
# :func:`declared_size` reads the size the header claims, so the message is the same either way.
# Between Pillow's bound and twice it, Pillow only warns; those warnings are silenced where we open.


def is_image_file(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


def file_problem(path: str | os.PathLike, what: str = "an image") -> str | None:
    """Why ``path`` cannot be opened as ``what`` before reading a byte of it (missing, a folder,
    empty), or None: the checks every capture gets, image or video."""
    if not os.path.exists(path):
        return "no such file."
    if os.path.isdir(path):
        return f"is a folder, not {what}."
    if os.path.getsize(path) == 0:
        return "the file is empty (0 bytes)."
    return None


def check_file(path: str | os.PathLike, what: str = "an image") -> str:
    """``path`` as a str, or a SpoofguardError naming it and its :func:`file_problem`."""
    path = os.fspath(path)
    problem = file_problem(path, what)
    if problem:
        raise SpoofguardError(f"{path}: {problem}")
    return path


def open_checked(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image lazily (header only) and check its size before any decoding."""
    path = check_file(path, "an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(path)
    except UnidentifiedImageError:
        raise SpoofguardError(f"{path}: not an image file Pillow can read.") from None
    except Image.DecompressionBombError:  # Pillow's own bound (far above ours) refused the header
        with open(path, "rb") as f:
            w, h = declared_size(f) or (0, 0)
        raise SpoofguardError(_too_many_pixels(path, w, h, max_pixels)) from None
    except OSError as e:
        raise SpoofguardError(f"{path}: cannot open image ({e}).") from None
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise SpoofguardError(_too_many_pixels(path, w, h, max_pixels))
    if w < 1 or h < 1:
        raise SpoofguardError(f"{path}: image has no pixels ({w}x{h}).")
    return img


def _too_many_pixels(path, w: int, h: int, max_pixels: int) -> str:
    size = f"{w}x{h} pixels" if w and h else "its declared size"
    return (f"{path}: {size} is more than the limit of {max_pixels:,} pixels; "
            "refusing to decode it (resize it first if it is genuine).")


def declared_size(fp) -> tuple[int, int] | None:
    """The ``(width, height)`` an image's header declares, read as ``Image.open`` reads it (header
    only, nothing decoded) but without Pillow's bomb check, which refuses before the size is known.
    ``fp`` is a seekable binary file; None when no format recognises the header."""
    Image.init()
    fp.seek(0)
    prefix = fp.read(16)
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            ok = not accept or accept(prefix)
            if ok and not isinstance(ok, str):
                fp.seek(0)
                return tuple(factory(fp, "").size)
        except (SyntaxError, IndexError, TypeError, ValueError, OSError, struct.error):
            continue
    return None


def to_array(img: Image.Image, channels: int) -> np.ndarray:
    """Convert a PIL image of any mode to ``uint8 (H, W, channels)``; ``channels`` is 1 or 3."""
    if channels not in (1, 3):
        raise ValueError("channels must be 1 or 3")
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit (and 32-bit) grey: scale the full range of the type down to 8 bits.
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        grey = a
        return grey[..., None] if channels == 1 else np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Flatten transparency onto white, as a viewer would show it.
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    target = "L" if channels == 1 else "RGB"
    arr = np.asarray(img.convert(target))
    return arr[..., None] if channels == 1 else arr


def load_image(path: str | os.PathLike, channels: int = 3, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file to ``uint8 (H, W, channels)``; raise SpoofguardError if unreadable."""
    img = open_checked(path, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            # phone cameras store the sensor's orientation in EXIF; show the picture as a viewer would
            return to_array(ImageOps.exif_transpose(img), channels)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise SpoofguardError(f"{os.fspath(path)}: cannot decode image ({e}); the file may be truncated or corrupt.") from None
    finally:
        img.close()


def as_array(image, channels: int) -> np.ndarray:
    """Accept a path, a PIL image or an array and return ``uint8 (H, W, channels)``."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, channels)
    if isinstance(image, Image.Image):
        return to_array(image, channels)
    if isinstance(image, np.ndarray):
        return _array_to_uint8(image, channels)
    raise SpoofguardError(f"cannot read an image from a {type(image).__name__}; pass a path, a PIL image or a numpy array.")


def _array_to_uint8(a: np.ndarray, channels: int) -> np.ndarray:
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or min(a.shape[:2]) < 1:
        raise SpoofguardError(f"image array has shape {a.shape}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4).")
    if a.dtype == np.uint16:
        a = (a.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise SpoofguardError("image array contains NaN or infinite values.")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    if channels == 1 and a.shape[2] == 3:
        grey = np.asarray(Image.fromarray(a, "RGB").convert("L"))
        return grey[..., None]
    if channels == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    return a
