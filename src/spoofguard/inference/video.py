"""Videos through a detector: sampled frames -> per-frame predictions -> one score for the video.

Frames are sampled evenly over the video (or every N-th), each goes through the bundle's modality
pipeline (face models: the largest face of the frame), and the video's score is an aggregate of the
scored frames (the mean by default). Frames without a face (fingerprint models: without a finger) are
reported, not scored; a video in which no frame shows one has no score (``verdict="no_face"``, or
``"no_finger"``). Frames that decode but that the model cannot score (a colour video for a fingerprint
model, a broken model) raise :class:`~spoofguard.errors.PredictionFailed`, which a caller
can tell from a video that cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spoofguard.errors import PredictionFailed, SpoofguardError
from spoofguard.verdict import AGGREGATIONS, BONA_FIDE, NO_FINGER, aggregate as combine, verdict


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
        return self.verdict == BONA_FIDE

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["frames"] = [{**asdict(f), "region": list(f.region) if f.region else None} for f in self.frames]
        return d


def predict_video(detector, path, max_frames: int | None = 32, every: int | None = None, aggregate: str = "mean") -> VideoPrediction:
    from spoofguard.media.video import read_video

    _check_aggregate(aggregate)  # before decoding anything
    if max_frames is not None and max_frames < 1 or every is not None and every < 1:
        raise SpoofguardError("max_frames and every must be at least 1.")
    info, frames = read_video(path, max_frames=max_frames, every=every)
    return predict_frames(detector, frames, info, aggregate)


def _check_aggregate(aggregate: str) -> None:
    if aggregate not in AGGREGATIONS:
        raise SpoofguardError(f"aggregate must be one of {', '.join(AGGREGATIONS)}, not {aggregate!r}.")


def predict_frames(detector, frames: list, info, aggregate: str = "mean") -> VideoPrediction:
    """The :class:`VideoPrediction` for ``frames`` already decoded from a video whose header is ``info``
    (:func:`spoofguard.media.video.read_video`), through the detector's public API."""
    _check_aggregate(aggregate)
    images = [f.rgb for f in frames]
    try:
        preds = detector.predict_clips(images) if detector.is_temporal else detector.predict_batch(images)
    except PredictionFailed:
        raise
    except SpoofguardError as e:  # the frames decoded: what failed is scoring them (e.g. colour frames for a fingerprint model)
        raise PredictionFailed(f"frames of the video cannot be scored: {e}") from None
    per_frame = [FramePrediction(f.index, round(f.time_s, 4), p.score, p.verdict, p.region) for f, p in zip(frames, preds)]
    scored = [p for p in preds if p.score is not None]
    missing = [f.index for f, p in zip(frames, preds) if p.score is None]
    common = dict(threshold=detector.threshold, aggregate=aggregate, frames=per_frame, frames_without_face=missing,
                  video_frames=info.frames, fps=info.fps)
    what = "finger" if detector.no_result == NO_FINGER else "face"
    if not scored:
        return VideoPrediction(None, detector.no_result, probabilities={}, note=f"no {what} in any of the {len(frames)} sampled frame(s)",
                               **common)
    probs = {c: combine([p.probabilities[c] for p in scored], aggregate) for c in detector.classes}
    score = combine([p.score for p in scored], aggregate)
    note = f"{len(missing)} of {len(frames)} sampled frame(s) without a {what}" if missing else ""
    return VideoPrediction(score, verdict(score, detector.threshold), probabilities=probs, note=note, **common)
