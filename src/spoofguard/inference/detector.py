"""Detector: a bundle put to work on images.

``Detector(bundle).predict(image)`` runs the bundle's own preprocessing, the model, and the bundle's
threshold, and returns a :class:`Prediction`: the score (probability of bona fide, higher = more
bona fide), the verdict (``bona_fide`` when score >= threshold, else ``attack``), the threshold and
the probability of every class.

A capture is looked at through the bundle's views (the whole image, or native-resolution fingerprint
patches of the foreground); the views' class probabilities are fused by their mean, and the
prediction keeps where each view was and its score, for :meth:`Prediction.heatmap`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from spoofguard.errors import SpoofguardError
from spoofguard.inference.bundle import Bundle, load_bundle


@dataclass
class Prediction:
    score: float
    verdict: str
    threshold: float
    probabilities: dict[str, float]
    region: tuple[int, int, int, int] | None = None  # (x, y, w, h) of what was looked at
    views: int = 1  # how many views (patches) were scored and fused
    view_scores: list[float] = field(default_factory=list)
    view_corners: list[tuple[int, int]] = field(default_factory=list)  # (y, x) of each view
    view_size: int = 0  # side of a view in capture pixels
    image_shape: tuple[int, int] = (0, 0)  # (H, W) of the capture

    @property
    def is_bona_fide(self) -> bool:
        return self.verdict == "bona_fide"

    def heatmap(self) -> np.ndarray:
        """``float32 (H, W)`` over the capture: mean score of the views covering each pixel (NaN where
        no view looked; low = looks like an attack)."""
        from spoofguard.modalities.fingerprint import patch_heatmap

        return patch_heatmap(self.image_shape, self.view_corners, self.view_size, self.view_scores)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["region"] = list(self.region) if self.region else None
        d["view_corners"] = [list(c) for c in self.view_corners]
        d["image_shape"] = list(self.image_shape)
        return d


def scores_from_logits(logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(bona fide score per row, class probabilities per row); class 0 is bona fide."""
    probs = torch.softmax(logits.float(), dim=1)
    return probs[:, 0].cpu().numpy(), probs.cpu().numpy()


class Detector:
    def __init__(self, bundle: Bundle | str | os.PathLike, device: str = "cpu"):
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, device=device)
        self.device = torch.device(device)
        self.bundle.model.to(self.device).eval()
        self.preprocessing = self.bundle.preprocessing
        self.classes = self.bundle.classes
        self.threshold = self.bundle.threshold

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "cpu") -> "Detector":
        return cls(path, device=device)

    def predict(self, image) -> Prediction:
        return self.predict_batch([image])[0]

    def predict_batch(self, images, batch_size: int = 32, errors: str = "raise") -> list:
        """Predictions for many images. ``errors="collect"`` puts the SpoofguardError of an input that
        cannot be read in its place (the rest still run); ``"raise"`` stops at the first one."""
        images = list(images)
        out: list = []
        for start in range(0, len(images), batch_size):  # a chunk of captures at a time: bounded memory
            chunk: list = []
            for im in images[start : start + batch_size]:
                try:
                    chunk.append(self.preprocessing.views(im))
                except SpoofguardError as e:
                    if errors == "raise":
                        raise
                    chunk.append(e)
            pending = [(i, v) for i, v in enumerate(chunk) if not isinstance(v, SpoofguardError)]
            probs = view_probabilities(self.bundle.model, self.preprocessing, [v for _, v in pending], self.device, batch_size)
            for (i, views), p in zip(pending, probs):
                chunk[i] = self._result(views, p)
            out.extend(chunk)
        return out

    def _result(self, views, probs: np.ndarray) -> Prediction:
        fused = probs.mean(axis=0)
        score = float(fused[0])
        return Prediction(
            score=score,
            verdict="bona_fide" if score >= self.threshold else "attack",
            threshold=self.threshold,
            probabilities={c: float(p) for c, p in zip(self.classes, fused)},
            region=views.region,
            views=len(views.arrays),
            view_scores=[float(s) for s in probs[:, 0]],
            view_corners=[tuple(c) for c in views.corners],
            view_size=views.size,
            image_shape=tuple(views.shape),
        )


@torch.inference_mode()
def view_probabilities(model, preprocessing, views: list, device="cpu", batch_size: int = 32) -> list[np.ndarray]:
    """Class probabilities ``(n_views, n_classes)`` for each capture's views, batched across captures."""
    if not views:
        return []
    arrays = np.concatenate([v.arrays for v in views])
    model.eval()
    chunks = []
    for start in range(0, len(arrays), batch_size):
        x = preprocessing.normalise(preprocessing.to_tensor(arrays[start : start + batch_size])).to(device)
        chunks.append(scores_from_logits(model(x))[1])
    probs = np.concatenate(chunks)
    bounds = np.cumsum([0] + [len(v.arrays) for v in views])
    return [probs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
