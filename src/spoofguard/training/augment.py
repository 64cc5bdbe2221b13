"""Training-time augmentation per modality (albumentations, per sample, in the data loader).

Works on ``uint8 (H, W, C)`` arrays after the model's preprocessing, so it runs inside data-loader
worker processes (one per rank under DDP) and costs about a millisecond per image on a CPU.
Fingerprints are grey: no colour changes, and only changes that keep the fine texture liveness
lives in: lossless flips and quarter turns (an arbitrary rotation resamples every pixel), mild blur
and mild JPEG. Strong blur or JPEG erases sweat pores and crisp ridge edges, which turns a bona fide
patch into something that looks like a gelatine or Play-Doh cast while keeping the bona fide label.
(A physical argument: on the synthetic task the measured difference was within noise, docs/benchmarks.md.)
Faces get photometric changes, blur, JPEG, greyscale and a horizontal flip (never a vertical one).
(kornia's batch augmentations were measured at ~2.4 s per batch of 32 on a 2-core CPU: too slow.)
"""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations would call the package index at import

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

STRENGTHS = ("default", "none")


def build_augmenter(modality: str, channels: int, strength: str = "default", seed: int = 0):
    """A callable ``uint8 (H, W, C) -> uint8 (H, W, C)``, or None for no augmentation. ``seed`` seeds
    albumentations' own generator (it is not numpy's or torch's, so seed_everything leaves it alone);
    data-loader workers reseed it with ``seed + worker id`` (:func:`seed_worker`)."""
    if strength not in STRENGTHS:
        raise ValueError(f"augmentation strength must be one of {STRENGTHS}")
    if strength == "none":
        return None
    if modality == "fingerprint":
        return Augmenter(A.Compose(seed=seed, transforms=[
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.25, p=0.5),
            A.RandomGamma(gamma_limit=(80, 125), p=0.3),
            A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.1, 0.6), p=0.1),
            A.GaussNoise(std_range=(0.01, 0.03), p=0.2),
            A.ImageCompression(quality_range=(85, 98), p=0.1),
            A.CoarseDropout(num_holes_range=(1, 2), hole_height_range=(0.05, 0.15), hole_width_range=(0.05, 0.15), fill=127, p=0.1),
        ]))
    photometric = [
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.25, p=0.5),
        A.RandomGamma(gamma_limit=(80, 125), p=0.3),
        A.OneOf([A.MotionBlur(blur_limit=(3, 5)), A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.1, 1.2))], p=0.25),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.2),
        A.ImageCompression(quality_range=(50, 95), p=0.2),
        A.CoarseDropout(num_holes_range=(1, 3), hole_height_range=(0.05, 0.2), hole_width_range=(0.05, 0.2), fill=127, p=0.25),
    ]
    geometric = [
        A.HorizontalFlip(p=0.5),
        A.Affine(rotate=(-10, 10), translate_percent=(-0.05, 0.05), scale=(0.9, 1.1), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
    ]
    colour = [A.ToGray(num_output_channels=3, p=0.1)] if channels == 3 else []
    return Augmenter(A.Compose([*geometric, *photometric, *colour], seed=seed))


class Augmenter:
    """Picklable wrapper (data-loader workers may be spawned) that keeps the channel axis."""

    def __init__(self, pipeline: A.Compose):
        self.pipeline = pipeline

    def reseed(self, seed: int) -> None:
        self.pipeline.set_random_seed(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        out = self.pipeline(image=image)["image"]
        return out[..., None] if out.ndim == 2 else out
