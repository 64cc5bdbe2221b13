"""Detector: a bundle put to work on images.

``Detector(bundle).predict(image)`` runs the bundle's own preprocessing, the model, and the bundle's
threshold, and returns a :class:`Prediction`: the score (probability of bona fide, higher = more
bona fide), the verdict (``bona_fide`` when score >= threshold, else ``attack``), the threshold and
the probability of every class.

A capture is looked at through the bundle's views (the whole image, native-resolution fingerprint
patches of the foreground, or a face at its context scales); the views' class probabilities are fused
by their mean, and the prediction keeps where each view was and its score, for
:meth:`Prediction.heatmap`. A capture with nothing to look at is a result without a score, never a
made-up one: a face capture without a face gives ``verdict="no_face"``, a fingerprint capture without
any finger foreground (blank, flat: no ridge texture anywhere) ``verdict="no_finger"``.

A score is always a finite number in [0, 1]: a model whose output is not (NaN, infinite, a
"probability" outside [0, 1]) raises :class:`PredictionFailed` for that capture.

A bundle has one model; an imported ONNX ensemble (``spoofguard import-onnx``) has several
*members*, each with its own input contract, whose bona fide probabilities are averaged.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from spoofguard.errors import SpoofguardError

BACKENDS = ("auto", "torch", "onnx")
NO_FACE = "no_face"
NO_FINGER = "no_finger"
NO_RESULT = (NO_FACE, NO_FINGER)  # verdicts without a score: nothing to look at in the capture
# the most values (views x side x side x channels) one forward pass is given: 32 views of 128 px RGB or 362 px grey fit,
# so the usual batches run as they always did; a model file with huge views is fed fewer at a time instead of exhausting
# memory (one 1182 px RGB view through spoofnet: 0.7 GB peak; two at once were 1.15 GB)
RUN_VALUES = 2**22


class PredictionFailed(SpoofguardError):
    """The capture was read, but the model could not score it (e.g. a colour picture for a fingerprint
    model, or a model whose output is not a finite probability). A video's frames that decode but
    cannot be scored raise this too, so a caller can tell it from an unreadable file."""


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
        return self.verdict == "bona_fide"

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


def scores_from_logits(logits) -> tuple[np.ndarray, np.ndarray]:
    """(bona fide score per row, class probabilities per row); class 0 is bona fide."""
    import torch

    probs = torch.softmax(logits.float(), dim=1)
    return probs[:, 0].cpu().numpy(), probs.cpu().numpy()


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Member:
    """One model of a bundle: its input contract and how to read its output. Our own bundles have
    one member whose outputs are the bundle's classes (``bona_fide_index=None``)."""

    preprocessing: object  # Preprocessing
    input: str = "input"
    output: str | None = None  # None: the model's first output
    bona_fide_index: int | None = None
    output_kind: str = "logits"  # "logits" | "probabilities"


def members_of(metadata: dict) -> list[Member]:
    from spoofguard.modalities import Preprocessing

    if "members" not in metadata:
        return [Member(Preprocessing.from_dict(metadata["preprocessing"]))]
    return [Member(Preprocessing.from_dict(m["preprocessing"]), m["input"], m["output"], int(m["bona_fide_index"]),
                   m.get("output_kind", "logits")) for m in metadata["members"]]


def ensemble_probabilities(member_probabilities: list[np.ndarray], members: list[Member]) -> np.ndarray:
    """``(N, 2)`` [bona fide, attack] of an ensemble: the mean of its members' bona fide probabilities
    (each member's own ``(N, K)`` class probabilities, bona fide at its ``bona_fide_index``)."""
    bona = np.mean([p[:, m.bona_fide_index] for p, m in zip(member_probabilities, members)], axis=0)
    return np.stack([bona, 1.0 - bona], axis=1).astype(np.float32)


class TorchRunner:
    """Runs a bundle's torch model: ``uint8 (N, H, W, C)`` views -> class probabilities ``(N, K)``."""

    def __init__(self, model, preprocessing, device: str = "cpu"):
        import torch

        self.model, self.preprocessing, self.device = model, preprocessing, torch.device(device)
        self.model.to(self.device).eval()

    def __call__(self, arrays) -> np.ndarray:
        import torch

        arrays = arrays if isinstance(arrays, np.ndarray) else arrays[0]
        with torch.inference_mode():
            x = self.preprocessing.normalise(self.preprocessing.to_tensor(arrays)).to(self.device)
            return scores_from_logits(self.model(x))[1]


class OnnxRunner:
    """Runs an exported or imported model on onnxruntime, without torch: one array of views per
    member (all with the same number of views) -> class probabilities ``(N, K)``."""

    def __init__(self, session, members: list[Member], batch_size: int | None = None):
        self.session, self.members, self.batch_size = session, members, batch_size
        self.preprocessing = members[0].preprocessing
        if len(members) == 1 and members[0].bona_fide_index is None:
            members[0].input = session.get_inputs()[0].name

    def __call__(self, arrays) -> np.ndarray:
        arrays = [arrays] if isinstance(arrays, np.ndarray) else list(arrays)
        if self.batch_size and len(arrays[0]) > self.batch_size:  # a model that only takes batches of its own size
            step = self.batch_size
            return np.concatenate([self([a[i : i + step] for a in arrays]) for i in range(0, len(arrays[0]), step)])
        feeds = {m.input: m.preprocessing.to_input(a) for m, a in zip(self.members, arrays)}
        outputs = self.session.run([m.output for m in self.members] if self.members[0].output else None, feeds)
        if self.members[0].bona_fide_index is None:
            return softmax(np.asarray(outputs[0]))
        return ensemble_probabilities([softmax(np.asarray(o)) if m.output_kind == "logits" else np.asarray(o, np.float32)
                                       for m, o in zip(self.members, outputs)], self.members)


class Detector:
    """``Detector(bundle)`` or ``Detector.from_file(path, backend="auto"|"torch"|"onnx")``.

    A ``.safetensors`` bundle runs on torch; a ``.onnx`` file written by ``spoofguard export`` or
    ``spoofguard import-onnx`` runs on onnxruntime without importing torch (its metadata travels
    inside the ONNX file). ``backend="onnx"`` with a ``.safetensors`` bundle exports it in memory.

    Face models find faces with the bundle's face detector; ``face_finder`` puts another in its place
    (e.g. ``FaceFinder("yunet", "yunet.onnx")``) and ``precropped=True`` takes every input as a face
    crop already.
    """

    def __init__(self, bundle, device: str = "cpu", session=None, metadata: dict | None = None,
                 face_finder=None, precropped: bool = False):
        """``bundle``: a Bundle or a path to one (torch); or, with an onnxruntime ``session`` and its
        ``metadata``, the path the ONNX model came from."""
        if session is None:
            from spoofguard.inference.bundle import Bundle, load_bundle

            bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, device=device)
            metadata = bundle.metadata
        self.bundle = bundle
        self.metadata = metadata
        self.members = members_of(metadata)
        self.preprocessing = self.members[0].preprocessing
        if session is None and metadata.get("architecture", {}).get("name") == "ensemble":
            from spoofguard.inference.ensemble import TorchEnsembleRunner

            self.backend, self.runner = "torch", TorchEnsembleRunner(bundle.model, self.members, device)
        elif session is None:
            self.backend, self.runner = "torch", TorchRunner(bundle.model, self.preprocessing, device)
        else:
            self.backend, self.runner = "onnx", OnnxRunner(session, self.members, metadata.get("batch_size"))
        self.classes = list(metadata["classes"])
        self.threshold = float(metadata["threshold"])
        self.modality = self.preprocessing.modality
        self.path = str(getattr(bundle, "path", bundle))
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
            return cls(str(path), session=session, metadata=metadata, **options)
        if backend == "onnx":
            from spoofguard.inference.onnx_model import onnx_session_for_bundle

            session, metadata = onnx_session_for_bundle(path)
            return cls(str(path), session=session, metadata=metadata, **options)
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
            verdict="bona_fide" if score >= self.threshold else "attack",
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


def fuse(probs: np.ndarray) -> np.ndarray:
    """One capture's class probabilities from its views' ``(n_views, n_classes)``: their mean."""
    return probs.mean(axis=0)


def view_probabilities(model, preprocessing, views: list, device="cpu", batch_size: int = 32) -> list[np.ndarray]:
    """Class probabilities ``(n_views, n_classes)`` for each capture's views (a torch model)."""
    return run_views(TorchRunner(model, preprocessing, device), views, batch_size)


def run_views(runner, views: list, batch_size: int = 32) -> list[np.ndarray]:
    """Class probabilities ``(n_views, n_classes)`` for each capture's views, batched across captures.
    An entry is a capture's Views, or a list of them (one per member of an ensemble)."""
    if not views:
        return []
    per_member = [v if isinstance(v, list) else [v] for v in views]
    arrays = [np.concatenate([v[m].arrays for v in per_member]) for m in range(len(per_member[0]))]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise SpoofguardError("the members of this ensemble cut different numbers of views; each member needs exactly one face scale.")
    per_view = max(1, sum(int(a[0].size) for a in arrays))
    step = max(1, min(batch_size, RUN_VALUES // per_view))  # huge views: fewer per forward pass
    probs = np.concatenate([runner([a[start : start + step] for a in arrays]) for start in range(0, n, step)])
    bounds = np.cumsum([0] + [len(v[0].arrays) for v in per_member])
    return [probs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
