"""Detector: a bundle put to work on images.

``Detector(bundle).predict(image)`` runs the bundle's own preprocessing, the model, and the bundle's
threshold, and returns a :class:`Prediction`: the score (probability of bona fide, higher = more
bona fide), the verdict (``bona_fide`` when the score is at or above the threshold, else ``attack``:
:func:`spoofguard.verdict.verdict`), the threshold and the probability of every class.

A capture is looked at through the bundle's views (the whole image, native-resolution fingerprint
patches of the foreground, or a face at its context scales); the views' class probabilities are fused
by their mean, and the prediction keeps where each view was and its score, for
:meth:`Prediction.heatmap`. A capture with nothing to look at is a result without a score, never a
made-up one: a face capture without a face gives ``verdict="no_face"``, a fingerprint capture without
any finger foreground (blank, flat: no ridge texture anywhere) ``verdict="no_finger"``.

A score is always a finite number in [0, 1]: a model whose output is not (NaN, infinite, a
"probability" outside [0, 1]) raises :class:`PredictionFailed` for that capture.

A bundle has one model; an imported ONNX ensemble (``spoofguard import-onnx``) has several
*members*, each with its own input contract, whose bona fide probabilities are averaged. How views
become class probabilities on each backend is :mod:`spoofguard.inference.runners`' job.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from spoofguard.errors import PredictionFailed, SpoofguardError
from spoofguard.inference.runners import RUN_VALUES, OnnxRunner, TorchRunner, fuse, members_of, run_views
from spoofguard.verdict import BONA_FIDE, NO_FACE, NO_FINGER, NO_RESULT, verdict

__all__ = ["BACKENDS", "NO_FACE", "NO_FINGER", "NO_RESULT", "Detector", "Prediction", "PredictionFailed", "clip_of"]

BACKENDS = ("auto", "torch", "onnx")


@dataclass
class Prediction:
    score: float | None  # None when there was nothing to score (no face, no finger)
    verdict: str  # "bona_fide" | "attack" | "no_face" | "no_finger"
    threshold: float
    probabilities: dict[str, float]
    region: tuple[int, int, int, int] | None = None  # (x, y, w, h) of what was looked at
    views: int = 1  # how many views (patches) were scored and fused
    view_scores: list[float] = field(default_factory=list)
    view_corners: list[tuple[int, int]] = field(default_factory=list)  # (y, x) of each view
    view_size: int = 0  # side of a view in capture pixels
    image_shape: tuple[int, int] = (0, 0)  # (H, W) of the capture
    faces: int | None = None  # face models: faces found in the capture (the largest is scored)
    note: str = ""  # e.g. why there is no score

    @property
    def is_bona_fide(self) -> bool:
        return self.verdict == BONA_FIDE

    def heatmap(self) -> np.ndarray:
        """``float32 (H, W)`` over the capture: mean score of the views covering each pixel (NaN where
        no view looked; low = looks like an attack). A face's score covers its box."""
        from spoofguard.modalities.fingerprint import patch_heatmap

        if self.faces is not None:
            heat = np.full(self.image_shape, np.nan, np.float32)
            if self.region and self.score is not None:
                x, y, w, h = self.region
                heat[y : y + h, x : x + w] = self.score
            return heat
        return patch_heatmap(self.image_shape, self.view_corners, self.view_size, self.view_scores)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["region"] = list(self.region) if self.region else None
        d["view_corners"] = [list(c) for c in self.view_corners]
        d["image_shape"] = list(self.image_shape)
        return d


class Detector:
    """``Detector(bundle)``, ``Detector.from_file(path, backend="auto"|"torch"|"onnx")`` or
    ``Detector.from_session(session, metadata, path)`` (an ONNX model already opened on onnxruntime).

    A ``.safetensors`` bundle runs on torch; a ``.onnx`` file written by ``spoofguard export`` or
    ``spoofguard import-onnx`` runs on onnxruntime without importing torch (its metadata travels
    inside the ONNX file). ``backend="onnx"`` with a ``.safetensors`` bundle exports it in memory.

    Face models find faces with the bundle's face detector; ``face_finder`` puts another in its place
    (e.g. ``FaceFinder("yunet", "yunet.onnx")``) and ``precropped=True`` takes every input as a face
    crop already.
    """

    def __init__(self, bundle, device: str = "cpu", face_finder=None, precropped: bool = False):
        """``bundle``: a Bundle or the path of one, run on torch (on ``device``). An ONNX model opened on
        onnxruntime becomes a Detector through :meth:`from_session` (or :meth:`from_file`)."""
        from spoofguard.inference.bundle import Bundle, load_bundle

        bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, device=device)
        members = members_of(bundle.metadata)
        if bundle.architecture == "ensemble":
            from spoofguard.inference.ensemble import TorchEnsembleRunner

            runner = TorchEnsembleRunner(bundle.model, members, device)
        else:
            runner = TorchRunner(bundle.model, members[0].preprocessing, device)
        self._take(bundle.metadata, members, "torch", runner, bundle.path, face_finder, precropped)
        self.bundle = bundle

    @classmethod
    def from_session(cls, session, metadata: dict, path: str, face_finder=None, precropped: bool = False) -> "Detector":
        """An ONNX model opened on onnxruntime (``session``) with its spoofguard ``metadata``; ``path``
        is where it came from. No torch is imported."""
        members = members_of(metadata)
        detector = cls.__new__(cls)
        detector._take(metadata, members, "onnx", OnnxRunner(session, members, metadata.get("batch_size")), path, face_finder, precropped)
        detector.bundle = str(path)
        return detector

    def _take(self, metadata: dict, members: list, backend: str, runner, path, face_finder, precropped: bool) -> None:
        """What every detector holds, whatever its backend."""
        self.metadata, self.members, self.backend, self.runner = metadata, members, backend, runner
        self.preprocessing = members[0].preprocessing
        self.classes = list(metadata["classes"])
        self.threshold = float(metadata["threshold"])
        self.modality = self.preprocessing.modality
        self.path = str(path)
        self.architecture = metadata.get("architecture", {}).get("name", "unknown")
        self.face_finder = face_finder
        self.precropped = precropped
        self.is_temporal = self.preprocessing.clip_frames > 0  # a temporal model scores clips of frames

    @classmethod
    def from_file(cls, path: str | os.PathLike, backend: str = "auto", device: str = "cpu", **options) -> "Detector":
        """``options``: ``face_finder``, ``precropped`` (see the class)."""
        if backend not in BACKENDS:
            raise SpoofguardError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}.")
        from spoofguard.zoo import resolve

        path = Path(resolve(os.fspath(path)))  # a zoo name (e.g. "silent-face") means its pulled bundle; a run folder its model.safetensors
        if path.suffix.lower() == ".onnx":
            if backend == "torch":
                raise SpoofguardError(f"{path} is an ONNX model; it runs on the onnx backend (use the .safetensors bundle for torch).")
            from spoofguard.inference.onnx_model import load_onnx

            session, metadata = load_onnx(path)
            return cls.from_session(session, metadata, str(path), **options)
        if backend == "onnx":
            from spoofguard.inference.onnx_model import onnx_session_for_bundle

            session, metadata = onnx_session_for_bundle(path)
            return cls.from_session(session, metadata, str(path), **options)
        return cls(path, device=device, **options)

    @property
    def uses_faces(self) -> bool:
        return self.preprocessing.crop == "face"

    def source(self, image):
        """Decode a capture (and find its faces) once, for every member's views."""
        from spoofguard.modalities import Source

        if isinstance(image, Source):
            return image
        if self.modality == "fingerprint" and self.preprocessing.one_view:
            # whether there is a finger is judged at the capture's own resolution: a whole view resized to a small
            # input averages ridges away (a 500 px print at 32 px would look flat)
            from spoofguard.modalities.fingerprint import foreground_mask

            a = self.preprocessing.decode(image)
            src = self.preprocessing.source(a, finder=self.face_finder, precropped=self.precropped)
            src.has_finger = bool(foreground_mask(a).any())
            return src
        return self.preprocessing.source(image, finder=self.face_finder, precropped=self.precropped)

    def predict(self, image) -> Prediction:
        """One capture -> one :class:`Prediction` (face models: the largest face)."""
        return self.predict_batch([image])[0]

    def predict_faces(self, image) -> list[Prediction]:
        """Face models: one prediction per face found, largest first (``[]`` when there is none)."""
        src = self.source(image)
        if not self.uses_faces or not src.faces:
            return [] if self.uses_faces else [_raised(self._predict_sources([src])[0])]
        return [_raised(p) for p in self._predict_sources([src] * len(src.faces), faces=list(range(len(src.faces))))]

    def predict_batch(self, images, batch_size: int = 32, errors: str = "raise") -> list:
        """Predictions for many images. ``errors="collect"`` puts the SpoofguardError of an input that
        cannot be read in its place (the rest still run); ``"raise"`` stops at the first one."""
        images = list(images)
        out: list = []
        for start in range(0, len(images), batch_size):  # a chunk of captures at a time: bounded memory
            chunk: list = []
            for im in images[start : start + batch_size]:
                try:
                    chunk.append(self.source(im))
                except SpoofguardError as e:
                    if errors == "raise":
                        raise
                    chunk.append(e)
            pending = [i for i, c in enumerate(chunk) if not isinstance(c, SpoofguardError)]
            for i, p in zip(pending, self._predict_sources([chunk[i] for i in pending], batch_size=batch_size)):
                if isinstance(p, SpoofguardError) and errors == "raise":
                    raise p
                chunk[i] = p
            out.extend(chunk)
        return out

    def predict_video(self, path, max_frames: int | None = 32, every: int | None = None, aggregate: str = "mean"):
        """Frames sampled evenly (or ``every`` N-th), each through the modality pipeline; the video's
        score is the ``aggregate`` (mean | median | max | min) of the frames that could be scored."""
        from spoofguard.inference.video import predict_video

        return predict_video(self, path, max_frames=max_frames, every=every, aggregate=aggregate)

    def predict_clip(self, frames: list) -> Prediction:
        """Temporal models: one prediction for a clip, from the frames of one video (paths, images or
        arrays, in order): the first view of each frame (the largest face), ``clip_frames`` of them
        evenly spaced (repeated when there are fewer). No face in any frame: ``no_face``."""
        sources = [self.source(f) for f in frames]
        views = [v for v in (self.capture_views(src) for src in sources) if len(v.arrays)]
        if not views:
            return self._no_face(self.preprocessing.views(sources[0]), sources[0]) if sources else \
                Prediction(None, self.no_result, self.threshold, {}, note="no frames")
        return _raised(self._result(clip_of(views, self.preprocessing.clip_frames), None, sources[0]))

    def predict_clips(self, frames: list) -> list[Prediction]:
        """Temporal models: one prediction per frame of a video (images or arrays, in order). The frames
        with a face are cut into consecutive clips of ``clip_frames`` (a short tail joins the clip before
        it) and every such frame carries its clip's prediction; a frame without a face has its own
        ``no_face`` (``no_finger``) result."""
        t = self.preprocessing.clip_frames
        sources = [self.source(f) for f in frames]
        views = [self.capture_views(src) for src in sources]
        with_face = [i for i, v in enumerate(views) if len(v.arrays)]
        preds: list = [self._no_face(v, src) for v, src in zip(views, sources)]
        chunks = [with_face[k : k + t] for k in range(0, len(with_face), t)]
        if len(chunks) > 1 and len(chunks[-1]) < t // 2:
            chunks[-2] += chunks.pop()
        for chunk in chunks:
            p = _raised(self._result(clip_of([views[i] for i in chunk], t), None, sources[chunk[0]]))
            for i in chunk:
                preds[i] = p
        return preds

    @property
    def no_result(self) -> str:
        """The verdict of a capture with nothing to look at: ``no_finger`` (fingerprint models) or ``no_face``."""
        return NO_FINGER if self.modality == "fingerprint" else NO_FACE

    def capture_views(self, src, face: int = 0, member=None):
        """The views of a decoded capture (``member``: that member's preprocessing; default the first).
        No face, or no finger foreground at all (fingerprint models): no views, region None."""
        pre = (member or self.members[0]).preprocessing
        views = pre.views(src, face=face)
        if self.modality == "fingerprint" and len(views.arrays) and not _has_finger(src):
            from spoofguard.modalities import Views

            return Views(views.arrays[:0], [], 0, None, views.shape)
        return views

    def _predict_sources(self, sources: list, faces: list[int] | None = None, batch_size: int = 32) -> list:
        """A Prediction (or the PredictionFailed of that capture) per source. Views are cut and run a
        group of captures at a time, a group holding at most about RUN_VALUES x 4 values: memory stays
        bounded whatever the views' size."""
        faces = faces or [0] * len(sources)
        out: list = []
        group: list = []
        held = 0

        def flush():
            probs = run_views(self.runner, [v for _, v in group if len(v[0].arrays)], batch_size)
            k = 0
            for src, v in group:
                if len(v[0].arrays):
                    out.append(self._result(v[0], probs[k], src))
                    k += 1
                else:
                    out.append(self._no_face(v[0], src))
            group.clear()

        for src, f in zip(sources, faces):
            v = [self.capture_views(src, face=f, member=m) for m in self.members]
            if self.is_temporal and len(v[0].arrays):  # a still capture: its one view repeated as a clip
                v = [clip_of([v[0]], self.preprocessing.clip_frames)]
            size = sum(int(x.arrays.size) for x in v)
            if group and held + size > 4 * RUN_VALUES:
                flush()
                held = 0
            group.append((src, v))
            held += size
        if group:
            flush()
        return out

    def _result(self, views, probs: np.ndarray | None = None, src=None):
        """The Prediction of one capture's views, or PredictionFailed when the model's output for them
        is not a finite probability (returned, not raised: the other captures of a batch still count)."""
        if probs is None:  # a clip prepared by clip_of: run it
            probs = run_views(self.runner, [views])[0]
        probs = np.asarray(probs)
        if probs.size == 0 or not np.isfinite(probs).all() or probs.min() < -1e-4 or probs.max() > 1 + 1e-4:
            bad = "NaN or infinite" if probs.size and not np.isfinite(probs).all() else "outside [0, 1]"
            return PredictionFailed(f"the model's output for this capture is {bad}, not a probability; the model file "
                                    f"{Path(self.path).name} is broken (retrain or re-export it).")
        if probs.min() < 0 or probs.max() > 1:  # rounding of an imported model's probabilities
            probs = np.clip(probs, 0.0, 1.0)
        fused = fuse(probs)
        score = float(fused[0])
        return Prediction(
            score=score,
            verdict=verdict(score, self.threshold),
            threshold=self.threshold,
            probabilities={c: float(p) for c, p in zip(self.classes, fused)},
            region=views.region,
            views=len(views.arrays),
            view_scores=[float(s) for s in probs[:, 0]],
            view_corners=[tuple(c) for c in views.corners],
            view_size=views.size,
            image_shape=tuple(views.shape),
            faces=len(src.faces) if src is not None and src.faces is not None else None,
        )

    def _no_face(self, views, src) -> Prediction:
        """The result of a capture with nothing to look at: no face (face models), no finger (fingerprint models)."""
        if self.modality == "fingerprint":
            return Prediction(score=None, verdict=NO_FINGER, threshold=self.threshold, probabilities={}, region=None, views=0,
                              image_shape=tuple(views.shape), note="no finger found (no ridge texture anywhere: a blank or flat capture)")
        grey = src.array is not None and _is_grey(src.array)
        note = "no face found" + (" (the input is a grey picture: is it a fingerprint? this is a face model)" if grey else "")
        return Prediction(score=None, verdict=NO_FACE, threshold=self.threshold, probabilities={}, region=None, views=0,
                          image_shape=tuple(views.shape), faces=0, note=note)


def clip_of(views: list, frames: int):
    """A temporal model's input from per-frame Views: the first view of ``frames`` of them, evenly
    spaced (repeated when fewer), as one Views whose ``arrays`` is ``(1, T, H, W, C)``."""
    from spoofguard.modalities import Views

    pick = [int(round(i)) for i in np.linspace(0, len(views) - 1, frames)]
    first = views[pick[0]]
    clip = np.stack([views[i].arrays[0] for i in pick])[None]
    return Views(clip, first.corners[:1], first.size, first.region, first.shape)


def _raised(p):
    """``p``, raising it when it is an error (the single-capture calls raise, batches collect)."""
    if isinstance(p, SpoofguardError):
        raise p
    return p


def _has_finger(src) -> bool:
    """Whether a decoded fingerprint capture shows any finger foreground (ridge texture) at all."""
    from spoofguard.modalities.fingerprint import foreground_mask

    known = getattr(src, "has_finger", None)  # set by Detector.source from the capture at its own resolution
    if known is not None:
        return known
    mask = src.mask if src.mask is not None else foreground_mask(src.array) if src.array is not None else None
    return mask is None or bool(mask.any())


def _is_grey(a: np.ndarray) -> bool:
    from spoofguard.modalities.preprocessing import colourfulness

    return a.shape[2] == 1 or colourfulness(a) < 2.0
