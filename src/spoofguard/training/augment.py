"""Training-time augmentation per modality (albumentations, per sample, in the data loader).

Works on ``uint8 (H, W, C)`` arrays after the model's preprocessing, so it runs inside data-loader
worker processes (one per rank under DDP) and costs about a millisecond per image on a CPU.
Fingerprints are grey: no colour changes; rotations and flips keep the ridge texture intact.
Faces get photometric changes, greyscale and a horizontal flip (never a vertical one).
(kornia's batch augmentations were measured at ~2.4 s per batch of 32 on a 2-core CPU: too slow.)
"""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations would call the package index at import

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

STRENGTHS = ("default", "none")


def build_augmenter(modality: str, channels: int, strength: str = "default"):
    """A callable ``uint8 (H, W, C) -> uint8 (H, W, C)``, or None for no augmentation."""
    if strength not in STRENGTHS:
        raise ValueError(f"augmentation strength must be one of {STRENGTHS}")
    if strength == "none":
        return None
    photometric = [
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.25, p=0.5),
        A.RandomGamma(gamma_limit=(80, 125), p=0.3),
        A.OneOf([A.MotionBlur(blur_limit=(3, 5)), A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.1, 1.2))], p=0.25),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.2),
        A.ImageCompression(quality_range=(50, 95), p=0.2),
        A.CoarseDropout(num_holes_range=(1, 3), hole_height_range=(0.05, 0.2), hole_width_range=(0.05, 0.2), fill=127, p=0.25),
    ]
    if modality == "fingerprint":
        geometric = [A.HorizontalFlip(p=0.5), A.Rotate(limit=20, border_mode=cv2.BORDER_REFLECT_101, p=0.5)]
        colour = []
    else:
        geometric = [
            A.HorizontalFlip(p=0.5),
            A.Affine(rotate=(-10, 10), translate_percent=(-0.05, 0.05), scale=(0.9, 1.1), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
        ]
        colour = [A.ToGray(num_output_channels=3, p=0.1)] if channels == 3 else []
    return Augmenter(A.Compose([*geometric, *photometric, *colour]))


class Augmenter:
    """Picklable wrapper (data-loader workers may be spawned) that keeps the channel axis."""

    def __init__(self, pipeline: A.Compose):
        self.pipeline = pipeline

    def __call__(self, image: np.ndarray) -> np.ndarray:
        out = self.pipeline(image=image)["image"]
        return out[..., None] if out.ndim == 2 else out
