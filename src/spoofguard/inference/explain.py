"""Pictures that explain a prediction: the capture with its per-region scores laid over it.

:func:`overlay` colours each pixel by the mean score of the views that covered it (red = looks like
an attack, green = looks bona fide; uncovered pixels keep the capture's grey), outlines the region
that was looked at, and writes the verdict and score in the corner.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from spoofguard.media.images import as_array


def overlay(image, prediction, alpha: float = 0.45) -> Image.Image:
    """RGB picture of ``image`` with ``prediction``'s heatmap, region and verdict."""
    base = as_array(image, 3).astype(np.float32)
    heat = prediction.heatmap()
    colour = np.zeros_like(base)
    colour[..., 0] = 255 * (1 - np.nan_to_num(heat, nan=0.5))  # red where the score is low
    colour[..., 1] = 255 * np.nan_to_num(heat, nan=0.5)  # green where it is high
    covered = np.isfinite(heat)[..., None]
    out = np.where(covered, (1 - alpha) * base + alpha * colour, base)
    img = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    if prediction.region:
        x, y, w, h = prediction.region
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=(255, 255, 0), width=max(1, img.width // 200))
    text = prediction.verdict + ("" if prediction.score is None else f" {prediction.score:.3f}")
    draw.rectangle([0, 0, 7 * len(text) + 6, 14], fill=(0, 0, 0))
    draw.text((3, 2), text, fill=(255, 255, 255))
    return img


def save_overlay(image, prediction, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    overlay(image, prediction).save(path)
    return path
