"""Detector: a bundle put to work on images.

``Detector(bundle).predict(image)`` runs the bundle's own preprocessing, the model, and the bundle's
threshold, and returns a :class:`Prediction`: the score (probability of bona fide, higher = more
bona fide), the verdict (``bona_fide`` when score >= threshold, else ``attack``), the threshold and
the probability of every class.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import torch

from spoofguard.inference.bundle import Bundle, load_bundle


@dataclass
class Prediction:
    score: float
    verdict: str
    threshold: float
    probabilities: dict[str, float]

    @property
    def is_bona_fide(self) -> bool:
        return self.verdict == "bona_fide"

    def to_dict(self) -> dict:
        return asdict(self)


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

    @torch.inference_mode()
    def predict_batch(self, images, batch_size: int = 32) -> list[Prediction]:
        out: list[Prediction] = []
        images = list(images)
        for start in range(0, len(images), batch_size):
            arrays = np.stack([self.preprocessing.prepare(im) for im in images[start : start + batch_size]])
            x = self.preprocessing.normalise(self.preprocessing.to_tensor(arrays)).to(self.device)
            scores, probs = scores_from_logits(self.bundle.model(x))
            for s, p in zip(scores, probs):
                out.append(self._result(float(s), p))
        return out

    def _result(self, score: float, probs: np.ndarray) -> Prediction:
        verdict = "bona_fide" if score >= self.threshold else "attack"
        return Prediction(
            score=score,
            verdict=verdict,
            threshold=self.threshold,
            probabilities={c: float(p) for c, p in zip(self.classes, probs)},
        )
