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

from spoofguard.errors import SpoofguardError
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

    def predict_batch(self, images, batch_size: int = 32, errors: str = "raise") -> list:
        """Predictions for many images. ``errors="collect"`` puts the SpoofguardError of an input that
        cannot be read in its place (the rest still run); ``"raise"`` stops at the first one."""
        images = list(images)
        prepared: list = []
        for im in images:
            try:
                prepared.append(self.preprocessing.prepare(im))
            except SpoofguardError as e:
                if errors == "raise":
                    raise
                prepared.append(e)
        good = [i for i, a in enumerate(prepared) if not isinstance(a, SpoofguardError)]
        out: list = list(prepared)
        for start in range(0, len(good), batch_size):
            idx = good[start : start + batch_size]
            for i, pred in zip(idx, self._run(np.stack([prepared[i] for i in idx]))):
                out[i] = pred
        return out

    @torch.inference_mode()
    def _run(self, arrays: np.ndarray) -> list[Prediction]:
        x = self.preprocessing.normalise(self.preprocessing.to_tensor(arrays)).to(self.device)
        scores, probs = scores_from_logits(self.bundle.model(x))
        return [self._result(float(s), p) for s, p in zip(scores, probs)]

    def _result(self, score: float, probs: np.ndarray) -> Prediction:
        verdict = "bona_fide" if score >= self.threshold else "attack"
        return Prediction(
            score=score,
            verdict=verdict,
            threshold=self.threshold,
            probabilities={c: float(p) for c, p in zip(self.classes, probs)},
        )
