"""What a user hands to ``predict``: files, folders and glob patterns, images and videos.

:func:`expand_inputs` turns the arguments into a list of files (folders: the images and videos under
them, sorted; patterns: what they match) and the arguments that name nothing. :func:`predict_inputs`
runs a detector over them and yields one :class:`InputResult` per file (per face with
``all_faces``): a prediction, or the error that stopped that input; the others still run.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from spoofguard.media.images import is_image_file
from spoofguard.errors import SpoofguardError
from spoofguard.media.video import is_video_file

GLOB_CHARS = set("*?[")


@dataclass
class InputResult:
    input: str
    kind: str  # "image" | "video"
    prediction: object = None  # Prediction | VideoPrediction
    error: str = ""
    face: int | None = None  # all_faces: which face (0 = largest)

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def to_dict(self) -> dict:
        d = {"input": self.input, "kind": self.kind}
        if self.face is not None:
            d["face"] = self.face
        if self.error:
            return {**d, "error": self.error}
        return {**d, **self.prediction.to_dict()}


def expand_inputs(args: list, per_folder: int | None = None, videos: bool = True) -> tuple[list[Path], list[tuple[str, str]]]:
    """``(files, problems)``: every image (and video) named by a path, folder or glob pattern, in
    order and without repeats; ``problems`` lists the arguments that name nothing usable."""
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    wanted = (lambda n: is_image_file(n) or is_video_file(n)) if videos else is_image_file
    for arg in map(str, args):
        p = Path(arg)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and wanted(q.name))[:per_folder]
            if not found:
                problems.append((arg, "folder holds no image or video files"))
            files += found
        elif p.exists():
            files.append(p)
        elif GLOB_CHARS & set(arg):
            found = sorted(Path(q) for q in glob.glob(arg, recursive=True) if os.path.isfile(q) and wanted(q))
            if not found:
                problems.append((arg, "no image or video files match this pattern"))
            files += found
        else:
            problems.append((arg, "no such file or folder"))
    seen: set[Path] = set()
    unique = [f for f in files if not (f in seen or seen.add(f))]
    return unique, problems


def naming(path, error) -> str:
    """The error's message, starting with the input it is about (most already do)."""
    text = str(error)
    return text if text.startswith(str(path)) else f"{path}: {text}"


def predict_inputs(detector, files: list[Path], all_faces: bool = False, max_frames: int | None = 32, every: int | None = None,
                   aggregate: str = "mean", batch_size: int = 32):
    """Yield an :class:`InputResult` per file (images in batches, videos one by one), in order."""
    pending: list[Path] = []

    def flush():
        for p, r in zip(pending, detector.predict_batch([str(q) for q in pending], batch_size=batch_size, errors="collect")):
            yield InputResult(str(p), "image", error=naming(p, r)) if isinstance(r, SpoofguardError) else InputResult(str(p), "image", r)
        pending.clear()

    for f in files:
        if is_video_file(f.name):
            yield from flush()
            try:
                yield InputResult(str(f), "video", detector.predict_video(f, max_frames=max_frames, every=every, aggregate=aggregate))
            except SpoofguardError as e:
                yield InputResult(str(f), "video", error=naming(f, e))
        elif all_faces and detector.uses_faces:
            yield from flush()
            try:
                src = detector.source(str(f))  # decoded and searched for faces once
                preds = detector.predict_faces(src)
            except SpoofguardError as e:
                yield InputResult(str(f), "image", error=naming(f, e))
                continue
            if not preds:
                yield InputResult(str(f), "image", detector.predict(src))  # the no-face result
            for i, p in enumerate(preds):
                yield InputResult(str(f), "image", p, face=i)
        else:
            pending.append(f)
            if len(pending) >= batch_size:
                yield from flush()
    yield from flush()
