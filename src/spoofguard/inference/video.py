"""Videos through a detector: sampled frames -> per-frame predictions -> one score for the video.

Frames are sampled evenly over the video (or every N-th), each goes through the bundle's modality
pipeline (face models: the largest face of the frame), and the video's score is an aggregate of the
scored frames (the mean by default). Frames without a face (fingerprint models: without a finger) are
reported, not scored; a video in which no frame shows one has no score (``verdict="no_face"``, or
``"no_finger"``). Frames that decode but that the model cannot score (a colour video for a fingerprint
model, a broken model) raise :class:`~spoofguard.inference.detector.PredictionFailed`, which a caller
can tell from a video that cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spoofguard.errors import SpoofguardError

AGGREGATES = {"mean": np.mean, "median": np.median, "max": np.max, "min": np.min}


@dataclass
class FramePrediction:
    index: int  # frame number in the video
    time_s: float
    score: float | None  # None: no face in this frame
    verdict: str
    region: tuple[int, int, int, int] | None


@dataclass
class VideoPrediction:
    score: float | None
    verdict: str  # "bona_fide" | "attack" | "no_face" | "no_finger"
    threshold: float
    probabilities: dict[str, float]
    aggregate: str
    frames: list[FramePrediction] = field(default_factory=list)
    frames_without_face: list[int] = field(default_factory=list)  # frame numbers
    video_frames: int = 0  # frames in the video (from its header; 0 if unknown)
    fps: float = 0.0
    note: str = ""

    @property
    def is_bona_fide(self) -> bool:
        return self.verdict == "bona_fide"

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["frames"] = [{**asdict(f), "region": list(f.region) if f.region else None} for f in self.frames]
        return d


def _clip_predictions(detector, frames) -> list:
    """Temporal models: the sampled frames with a face, in consecutive clips of ``clip_frames``; every
    frame carries its clip's prediction (frames without a face their own no-face result)."""
    from spoofguard.inference.detector import _raised, clip_of

    t = detector.preprocessing.clip_frames
    sources = [detector.source(f.rgb) for f in frames]
    views = [detector.capture_views(src) for src in sources]
    with_face = [i for i, v in enumerate(views) if len(v.arrays)]
    preds: list = [detector._no_face(v, src) for v, src in zip(views, sources)]
    chunks = [with_face[k : k + t] for k in range(0, len(with_face), t)]
    if len(chunks) > 1 and len(chunks[-1]) < t // 2:  # a short tail joins the clip before it
        chunks[-2] += chunks.pop()
    for chunk in chunks:
        p = _raised(detector._result(clip_of([views[i] for i in chunk], t), None, sources[chunk[0]]))
        for i in chunk:
            preds[i] = p
    return preds


def predict_video(detector, path, max_frames: int | None = 32, every: int | None = None, aggregate: str = "mean") -> VideoPrediction:
    from spoofguard.modalities.video import read_video

    _check_aggregate(aggregate)  # before decoding anything
    if max_frames is not None and max_frames < 1 or every is not None and every < 1:
        raise SpoofguardError("max_frames and every must be at least 1.")
    info, frames = read_video(path, max_frames=max_frames, every=every)
    return predict_frames(detector, frames, info, aggregate)


def _check_aggregate(aggregate: str) -> None:
    if aggregate not in AGGREGATES:
        raise SpoofguardError(f"aggregate must be one of {', '.join(AGGREGATES)}, not {aggregate!r}.")


def predict_frames(detector, frames: list, info, aggregate: str = "mean") -> VideoPrediction:
    """The :class:`VideoPrediction` for ``frames`` already decoded from a video whose header is ``info``
    (:func:`spoofguard.modalities.video.read_video`)."""
    from spoofguard.inference.detector import PredictionFailed

    _check_aggregate(aggregate)
    try:
        preds = _clip_predictions(detector, frames) if detector.is_temporal else detector.predict_batch([f.rgb for f in frames])
    except PredictionFailed:
        raise
    except SpoofguardError as e:  # the frames decoded: what failed is scoring them (e.g. colour frames for a fingerprint model)
        raise PredictionFailed(f"frames of the video cannot be scored: {e}") from None
    per_frame = [FramePrediction(f.index, round(f.time_s, 4), p.score, p.verdict, p.region) for f, p in zip(frames, preds)]
    scored = [p for p in preds if p.score is not None]
    missing = [f.index for f, p in zip(frames, preds) if p.score is None]
    common = dict(threshold=detector.threshold, aggregate=aggregate, frames=per_frame, frames_without_face=missing,
                  video_frames=info.frames, fps=info.fps)
    if not scored:
        what = "finger" if detector.no_result == "no_finger" else "face"
        return VideoPrediction(None, detector.no_result, probabilities={}, note=f"no {what} in any of the {len(frames)} sampled frame(s)",
                               **common)
    combine = AGGREGATES[aggregate]
    probs = {c: float(combine([p.probabilities[c] for p in scored])) for c in detector.classes}
    score = float(combine([p.score for p in scored]))
    note = f"{len(missing)} of {len(frames)} sampled frame(s) without a {'finger' if detector.no_result == 'no_finger' else 'face'}" if missing else ""
    return VideoPrediction(score, "bona_fide" if score >= detector.threshold else "attack", probabilities=probs, note=note, **common)
