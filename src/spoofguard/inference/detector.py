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
from pathlib import Path

import numpy as np

from spoofguard.errors import SpoofguardError

BACKENDS = ("auto", "torch", "onnx")


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


def scores_from_logits(logits) -> tuple[np.ndarray, np.ndarray]:
    """(bona fide score per row, class probabilities per row); class 0 is bona fide."""
    import torch

    probs = torch.softmax(logits.float(), dim=1)
    return probs[:, 0].cpu().numpy(), probs.cpu().numpy()


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class TorchRunner:
    """Runs a bundle's torch model: ``uint8 (N, H, W, C)`` views -> class probabilities ``(N, K)``."""

    def __init__(self, model, preprocessing, device: str = "cpu"):
        import torch

        self.model, self.preprocessing, self.device = model, preprocessing, torch.device(device)
        self.model.to(self.device).eval()

    def __call__(self, arrays: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = self.preprocessing.normalise(self.preprocessing.to_tensor(arrays)).to(self.device)
            return scores_from_logits(self.model(x))[1]


class OnnxRunner:
    """Runs an exported model on onnxruntime, without torch."""

    def __init__(self, session, preprocessing):
        self.session, self.preprocessing = session, preprocessing
        self.input_name = session.get_inputs()[0].name

    def __call__(self, arrays: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run(None, {self.input_name: self.preprocessing.to_input(arrays)})
        return softmax(np.asarray(logits))


class Detector:
    """``Detector(bundle)`` or ``Detector.from_file(path, backend="auto"|"torch"|"onnx")``.

    A ``.safetensors`` bundle runs on torch; a ``.onnx`` file written by ``spoofguard export`` runs on
    onnxruntime without importing torch (its metadata travels inside the ONNX file). ``backend="onnx"``
    with a ``.safetensors`` bundle exports it to ONNX in memory first.
    """

    def __init__(self, bundle, device: str = "cpu", session=None, metadata: dict | None = None):
        """``bundle``: a Bundle or a path to one (torch); or, with an onnxruntime ``session`` and its
        ``metadata``, the path the ONNX model came from."""
        from spoofguard.modalities import Preprocessing

        if session is None:
            from spoofguard.inference.bundle import Bundle, load_bundle

            bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, device=device)
            metadata = bundle.metadata
        self.bundle = bundle
        self.metadata = metadata
        self.preprocessing = Preprocessing.from_dict(metadata["preprocessing"])
        if session is None:
            self.backend, self.runner = "torch", TorchRunner(bundle.model, self.preprocessing, device)
        else:
            self.backend, self.runner = "onnx", OnnxRunner(session, self.preprocessing)
        self.classes = list(metadata["classes"])
        self.threshold = float(metadata["threshold"])
        self.modality = self.preprocessing.modality
        self.path = str(getattr(bundle, "path", bundle))
        self.architecture = metadata.get("architecture", {}).get("name", "unknown")

    @classmethod
    def from_file(cls, path: str | os.PathLike, backend: str = "auto", device: str = "cpu") -> "Detector":
        if backend not in BACKENDS:
            raise SpoofguardError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}.")
        path = Path(path)  # a run folder resolves to its model.safetensors in load_bundle
        if path.suffix.lower() == ".onnx":
            if backend == "torch":
                raise SpoofguardError(f"{path} is an ONNX model; it runs on the onnx backend (use the .safetensors bundle for torch).")
            from spoofguard.inference.onnx_model import load_onnx

            session, metadata = load_onnx(path)
            return cls(str(path), session=session, metadata=metadata)
        if backend == "onnx":
            from spoofguard.inference.onnx_model import onnx_session_for_bundle

            session, metadata = onnx_session_for_bundle(path)
            return cls(str(path), session=session, metadata=metadata)
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
            probs = run_views(self.runner, [v for _, v in pending], batch_size)
            for (i, views), p in zip(pending, probs):
                chunk[i] = self._result(views, p)
            out.extend(chunk)
        return out

    def _result(self, views, probs: np.ndarray) -> Prediction:
        fused = fuse(probs)
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


def fuse(probs: np.ndarray) -> np.ndarray:
    """One capture's class probabilities from its views' ``(n_views, n_classes)``: their mean."""
    return probs.mean(axis=0)


def view_probabilities(model, preprocessing, views: list, device="cpu", batch_size: int = 32) -> list[np.ndarray]:
    """Class probabilities ``(n_views, n_classes)`` for each capture's views (a torch model)."""
    return run_views(TorchRunner(model, preprocessing, device), views, batch_size)


def run_views(runner, views: list, batch_size: int = 32) -> list[np.ndarray]:
    """Class probabilities ``(n_views, n_classes)`` for each capture's views, batched across captures."""
    if not views:
        return []
    arrays = np.concatenate([v.arrays for v in views])
    chunks = [runner(arrays[start : start + batch_size]) for start in range(0, len(arrays), batch_size)]
    probs = np.concatenate(chunks)
    bounds = np.cumsum([0] + [len(v.arrays) for v in views])
    return [probs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
