"""Fingerprint views: foreground segmentation and native-resolution patches.

Liveness lives in ridge texture a few pixels wide (pores, ridge edges, moulding artefacts). Resizing
a whole 500 dpi print to a network's input size destroys it, so the patch pipeline keeps the
sensor's resolution and looks at square patches of the *foreground* (the finger), scores each, and
fuses the scores. The same functions cut training patches and inference patches, so a model is
trained and used on identical inputs.

1. :func:`foreground_mask`: local ridge variance, thresholded per image (Otsu on the block-wise
   standard deviation, with a floor so a blank capture has no foreground), then cleaned with a
   morphological close/open so the mask is one finger-shaped region, not ridge-sized speckles.
2. :func:`patch_grid`: the patch corners, a regular grid with the given stride over the image, kept
   where at least ``min_foreground`` of the patch is finger; if none qualifies, the patch with the
   most foreground. At most ``max_patches``, taken evenly over the grid.
3. :func:`random_patch`: one training patch from the foreground, a random position.
4. :func:`patch_heatmap`: per-pixel average of the scores of the patches covering it (NaN where no
   patch looked), to show which regions look artificial.

A capture whose mask is empty (blank, flat: no ridge texture anywhere) shows no finger: the detector
gives it ``verdict="no_finger"`` and no score, never the score of a patch of background.

Images smaller than a patch are padded with their border colour (edge replication) up to it.
"""

from __future__ import annotations

import cv2
import numpy as np


def pad_to(a: np.ndarray, size: int) -> np.ndarray:
    """Pad ``(H, W, C)`` at the bottom/right by edge replication so both sides are >= ``size``."""
    h, w = a.shape[:2]
    if h >= size and w >= size:
        return a
    return np.pad(a, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="edge")


def foreground_mask(image: np.ndarray, window: int = 15, floor: float = 6.0) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the finger in an ``(H, W[, C])`` uint8 capture.

    ``window`` is the local-variance window in pixels (about 1.5 ridge periods at 500 dpi);
    ``floor`` the smallest local standard deviation (grey levels) that can count as ridges.
    """
    grey = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if grey.ndim == 3:
        grey = cv2.cvtColor(np.ascontiguousarray(grey[..., :3]), cv2.COLOR_RGB2GRAY)
    g = grey.astype(np.float32)
    mean = cv2.blur(g, (window, window))
    std = np.sqrt(np.clip(cv2.blur(g * g, (window, window)) - mean * mean, 0, None))
    level = std.max()
    if level < floor:
        return np.zeros(g.shape, bool)
    scaled = np.clip(std / level * 255, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (std >= max(floor, otsu / 255 * level * 0.5)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (window, window))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    return mask.astype(bool)


def _coverage(mask: np.ndarray, size: int) -> np.ndarray:
    """Fraction of foreground in every ``size x size`` window, indexed by its top-left corner."""
    integral = cv2.integral(mask.astype(np.uint8))
    h, w = mask.shape
    s = size
    total = integral[s : h + 1, s : w + 1] - integral[: h - s + 1, s : w + 1] - integral[s : h + 1, : w - s + 1] + integral[: h - s + 1, : w - s + 1]
    return total / float(s * s)


def patch_grid(mask: np.ndarray, size: int, stride: int, min_foreground: float = 0.5,
               max_patches: int = 64) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the patches to score (see the module docstring)."""
    h, w = mask.shape
    ys = np.asarray(_positions(h, size, stride))
    xs = np.asarray(_positions(w, size, stride))
    cover = _coverage(mask, size)
    # the grid's qualifying positions in row-major order, as arrays: a stride of 1 on a large capture is millions of
    # positions, which a Python list of tuples turned into seconds and gigabytes; only the kept corners become tuples
    iy, ix = np.nonzero(cover[np.ix_(ys, xs)] >= min_foreground)
    if not len(iy):
        y, x = np.unravel_index(int(np.argmax(cover)), cover.shape)
        return [(int(y), int(x))]
    if len(iy) > max_patches:
        keep = np.linspace(0, len(iy) - 1, max_patches).round().astype(int)
        iy, ix = iy[keep], ix[keep]
    return [(int(ys[a]), int(xs[b])) for a, b in zip(iy, ix)]


def _positions(length: int, size: int, stride: int) -> list[int]:
    """Window starts covering ``[0, length)``: every ``stride`` pixels, plus one flush with the end."""
    last = length - size
    pos = list(range(0, last + 1, stride))
    if pos[-1] != last:
        pos.append(last)
    return pos


def random_patch(mask: np.ndarray, size: int, rng: np.random.Generator, min_foreground: float = 0.5,
                 tries: int = 20) -> tuple[int, int]:
    """A random top-left corner whose patch is mostly foreground (the best of ``tries`` otherwise)."""
    h, w = mask.shape
    cover = _coverage(mask, size)
    best, best_cover = (0, 0), -1.0
    for _ in range(tries):
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        if cover[y, x] >= min_foreground:
            return y, x
        if cover[y, x] > best_cover:
            best, best_cover = (y, x), cover[y, x]
    if best_cover < min_foreground:  # a small or off-centre finger: take a qualifying grid position
        ok = np.argwhere(cover >= min_foreground)
        if len(ok):
            y, x = ok[int(rng.integers(len(ok)))]
            return int(y), int(x)
    return best


def cut(image: np.ndarray, corners: list[tuple[int, int]], size: int) -> np.ndarray:
    """``(N, size, size, C)`` patches of an ``(H, W, C)`` image."""
    return np.stack([image[y : y + size, x : x + size] for y, x in corners])


def patch_heatmap(shape: tuple[int, int], corners: list[tuple[int, int]], size: int, scores) -> np.ndarray:
    """``float32 (H, W)``: mean score of the patches covering each pixel, NaN where none did."""
    total = np.zeros(shape, np.float64)
    count = np.zeros(shape, np.float64)
    for (y, x), s in zip(corners, scores):
        total[y : y + size, x : x + size] += s
        count[y : y + size, x : x + size] += 1
    with np.errstate(invalid="ignore"):
        out = total / count
    return out.astype(np.float32)


def region(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box ``(x, y, w, h)`` of the foreground, None if empty."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
