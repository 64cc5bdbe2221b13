"""Uploads, distrusted: size limits while reading, type by content, pixels counted before decoding.

Every check raises :class:`ApiError` with an HTTP status and a stable error code, so the server
answers every bad upload with a JSON body a client can act on. The same checks run for every way
in: the JSON API, the upload page and the Gradio UI (:func:`read_image_upload`,
:func:`check_video_file`), so a file gets one answer whichever route it took.

====================  ======  ===============================================================
code                  status  when
====================  ======  ===============================================================
upload_too_large      413     the request body is larger than ``max_upload_bytes``
empty_file            400     a file part with no bytes
unsupported_type      415     the bytes are neither an image (JPEG, PNG, GIF, BMP, TIFF, WebP)
                              nor a video (MP4/MOV, WebM/MKV, AVI), whatever the file's name
too_many_pixels       413     the image header declares more than ``max_pixels`` (checked before
                              decoding: decompression bombs)
unreadable_image      422     the image is truncated or corrupt
unreadable_video      422     the video cannot be opened, has no video stream or no frames
video_too_long        413     the video is longer than ``max_video_seconds``
storage_full          507     the server's private folder would grow past ``max_temp_bytes``
====================  ======  ===============================================================

The server's own limits (bytes in flight, concurrent uploads, slow bodies, the prediction queue)
are enforced by :mod:`spoofguard.serve.gate` and :class:`spoofguard.serve.app.Service`; their codes
are listed there.

Images are decoded from memory. Videos are written to the server's private temporary folder (mode
0700) only while they are read, and deleted after the request. The folder is bounded in bytes, and
folders that a killed server left behind are removed when the next one starts (:class:`PrivateFolder`).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png", b"GIF87a": "gif", b"GIF89a": "gif", b"BM": "bmp",
               b"II*\x00": "tiff", b"MM\x00*": "tiff"}
MiB = 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


@dataclass
class Limits:
    """Every bound the server keeps, one place (they travel to worker processes as JSON)."""

    max_upload_bytes: int = 20 * MiB  # one file (a request body: this + multipart framing)
    max_pixels: int = 25_000_000  # an image's or a video frame's declared width x height
    max_video_frames: int = 32  # frames scored per video
    max_video_seconds: float = 120.0
    max_batch_files: int = 16
    max_inflight_bytes: int = 256 * MiB  # request bodies held at once (all routes, per worker process)
    max_uploads: int = 16  # request bodies being received at once (per worker process)
    body_timeout_s: float = 30.0  # a request body must arrive within this (slow clients are cut off)
    header_timeout_s: float = 10.0  # a request's headers must arrive within this
    max_temp_bytes: int = 1024 * MiB  # the private folder (UI uploads, videos being read)
    max_queue: int = 16  # predictions waiting or running (per worker process); more: 503


def sniff(data: bytes) -> str:
    """``"image"`` or ``"video"`` from the first bytes; ApiError 415 for anything else."""
    head = data[:16]
    if any(head.startswith(m) for m in IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp" or head[:4] == b"\x1a\x45\xdf\xa3" or (head[:4] == b"RIFF" and head[8:12] == b"AVI "):
        return "video"
    raise ApiError(415, "unsupported_type", "the file is neither an image (JPEG, PNG, GIF, BMP, TIFF, WebP) nor a video "
                   "(MP4, MOV, WebM, MKV, AVI); its type is read from its content, not its name.")


def check_upload(data: bytes, name: str, limits: Limits) -> str:
    if not data:
        raise ApiError(400, "empty_file", f"{name or 'the upload'} is empty (0 bytes).")
    if len(data) > limits.max_upload_bytes:
        raise ApiError(413, "upload_too_large", f"{name} is {len(data):,} bytes; the limit is {limits.max_upload_bytes:,}.")
    return sniff(data)


def _too_many_pixels(w: int, h: int, limits: Limits) -> ApiError:
    size = f"{w}x{h} pixels" if w and h else "more pixels than Pillow opens"
    return ApiError(413, "too_many_pixels", f"the image declares {size}, more than the limit of {limits.max_pixels:,}; "
                    "it was not decoded.")


def decode_image(data: bytes, limits: Limits) -> np.ndarray:
    """RGB uint8 from an image's bytes; the pixel count is checked from the header first."""
    from spoofguard.media.images import declared_size, to_array

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:  # Pillow's own bound (far above ours) refused the header
        w, h = declared_size(io.BytesIO(data)) or (0, 0)
        raise _too_many_pixels(w, h, limits) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError(422, "unreadable_image", "the image header cannot be read; the file is damaged.") from None
    w, h = img.size
    if w * h > limits.max_pixels:
        raise _too_many_pixels(w, h, limits)
    if w < 1 or h < 1:
        raise ApiError(422, "unreadable_image", f"the image has no pixels ({w}x{h}).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            img = ImageOps.exif_transpose(img)
        return to_array(img, 3)
    except Image.DecompressionBombError:  # an animated GIF frame larger than its screen
        raise _too_many_pixels(0, 0, limits) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ApiError(422, "unreadable_image", f"the image cannot be decoded ({e}); it is truncated or corrupt.") from None


def read_upload_file(path: str | os.PathLike, limits: Limits) -> bytes:
    """The bytes of an uploaded file (the UI's uploads arrive as files): the size is checked before
    anything is read."""
    try:
        size = os.path.getsize(path)
        if size > limits.max_upload_bytes:
            raise ApiError(413, "upload_too_large", f"the file is {size:,} bytes; the limit is {limits.max_upload_bytes:,}.")
        with open(path, "rb") as f:
            return f.read(limits.max_upload_bytes + 1)
    except OSError:
        raise ApiError(422, "unreadable_image", "the uploaded file is gone or cannot be read; upload it again.") from None


def read_image_upload(source, limits: Limits, name: str = "the upload") -> np.ndarray:
    """An uploaded image (a file path or its bytes) -> RGB uint8, through exactly the checks the API
    runs: size, content type (a video is refused here), pixels from the header, then decoding."""
    data = source if isinstance(source, (bytes, bytearray)) else read_upload_file(source, limits)
    kind = check_upload(bytes(data), name, limits)
    if kind != "image":
        raise ApiError(415, "unsupported_type", "this is a video; use the Video tab (or the API) for videos.")
    return decode_image(bytes(data), limits)


def check_video_file(path: str | os.PathLike, limits: Limits):
    """The :class:`~spoofguard.media.video.VideoInfo` of an uploaded video file after the server's
    checks (size, content type, frame pixels, duration); ApiError otherwise."""
    from spoofguard.errors import SpoofguardError
    from spoofguard.media.video import probe

    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        raise ApiError(422, "unreadable_video", "the uploaded file is gone or cannot be read; upload it again.") from None
    if size == 0:
        raise ApiError(400, "empty_file", "the video is empty (0 bytes).")
    if size > limits.max_upload_bytes:
        raise ApiError(413, "upload_too_large", f"the video is {size:,} bytes; the limit is {limits.max_upload_bytes:,}.")
    if sniff(head) != "video":
        raise ApiError(415, "unsupported_type", "this is an image, not a video; use the Image tab for images.")
    try:
        info = probe(path)
    except SpoofguardError as e:
        raise ApiError(422, "unreadable_video", _strip_path(str(e), path)) from None
    if info.width * info.height > limits.max_pixels:
        raise ApiError(413, "too_many_pixels", f"the video's frames are {info.width}x{info.height} pixels, more than the limit "
                       f"of {limits.max_pixels:,}.")
    if not (info.duration_s <= limits.max_video_seconds):  # also NaN
        raise ApiError(413, "video_too_long", f"the video lasts {info.duration_s:.0f} s; the limit is {limits.max_video_seconds:.0f} s.")
    return info


# --------------------------------------------------------------------------- the private folder

PREFIX = "spoofguard-serve-"
LEFTOVER_MIN_AGE_S = 2.0  # a folder this young may belong to a server that is starting


def _lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # not POSIX: no sweeping of leftovers
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def sweep_leftovers(parent: str | None = None, prefix: str = PREFIX) -> list[str]:
    """Remove the private folders of servers that are gone (killed, crashed): every ``prefix*`` folder
    in ``parent`` (the temp folder) that this user owns and no live process holds locked. A live
    server holds an exclusive ``flock`` on its folder for its whole life; the kernel drops it when the
    process ends, even by SIGKILL. Returns the folders removed."""
    parent = parent or tempfile.gettempdir()
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or (uid is not None and st.st_uid != uid):
                continue
            if time.time() - st.st_mtime < LEFTOVER_MIN_AGE_S:
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if _lock(fd):  # nobody holds it: its server is gone
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
        finally:
            os.close(fd)
    return removed


def folder_bytes(path: str) -> int:
    """Bytes of the regular files under ``path`` (symlinks not followed)."""
    total, stack = 0, [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        elif e.is_file(follow_symlinks=False):
                            total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        pass
        except OSError:
            pass
    return total


class PrivateFolder:
    """The server's own temporary folder (0700): the UI's uploads and videos being read live there.

    Bounded by ``max_bytes``: :meth:`reserve` says whether ``n`` more bytes fit (files the UI
    uploaded more than ``evict_after_s`` ago are removed first when it is full). Locked for the life
    of the process, so the next server's start-up (:func:`sweep_leftovers`, run here) can tell a
    leftover of a killed server from a folder in use."""

    def __init__(self, max_bytes: int | None = None, parent: str | None = None, evict_after_s: float = 60.0):
        parent = parent or tempfile.gettempdir()
        self.swept = sweep_leftovers(parent)
        self.path = tempfile.mkdtemp(prefix=PREFIX, dir=parent)
        os.chmod(self.path, 0o700)
        self._fd: int | None = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        _lock(self._fd)
        self.max_bytes = max_bytes
        self.evict_after_s = evict_after_s
        self._reserved = 0
        self._measured, self._measured_at = 0, 0.0
        self._mutex = threading.Lock()

    def usage(self, fresh: bool = False) -> int:
        """Bytes in the folder now (measured at most once a second unless ``fresh``) plus reserved."""
        now = time.monotonic()
        if fresh or now - self._measured_at > 1.0:
            self._measured, self._measured_at = folder_bytes(self.path), now
        return self._measured + self._reserved

    def reserve(self, n: int) -> bool:
        """Room for ``n`` more bytes? If so they are counted until :meth:`release`."""
        if self.max_bytes is None:
            return True
        with self._mutex:
            if self.usage() + n > self.max_bytes:
                self._evict()
                if self.usage(fresh=True) + n > self.max_bytes:
                    return False
            self._reserved += n
            return True

    def release(self, n: int) -> None:
        with self._mutex:
            self._reserved = max(0, self._reserved - n)
            self._measured_at = 0.0  # what was reserved is now on disk (or gone): measure again

    def _evict(self) -> None:
        """Remove UI uploads older than ``evict_after_s`` (Gradio would sweep them a little later)."""
        ui = os.path.join(self.path, "ui")
        cutoff = time.time() - self.evict_after_s
        for root, dirs, files in os.walk(ui):
            for name in files:
                p = os.path.join(root, name)
                try:
                    if os.lstat(p).st_mtime < cutoff:
                        os.remove(p)
                except OSError:
                    pass

    @contextmanager
    def file(self, data: bytes, suffix: str = ".bin"):
        if not self.reserve(len(data)):
            raise ApiError(507, "storage_full", "the server's temporary space is full; try again in a minute.",
                           headers={"Retry-After": "60"})
        try:
            fd, path = tempfile.mkstemp(dir=self.path, suffix=suffix)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                yield path
            finally:
                try:
                    os.remove(path)
                except OSError:
                    pass
        finally:
            self.release(len(data))

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def video_prediction(detector, data: bytes, folder: PrivateFolder, limits: Limits):
    """Predict on a video held in memory: written to the private folder for the decoder, then deleted."""
    from spoofguard.errors import SpoofguardError

    with folder.file(data, ".video") as path:
        check_video_file(path, limits)
        from spoofguard.inference.detector import PredictionFailed

        try:
            return detector.predict_video(path, max_frames=limits.max_video_frames)
        except PredictionFailed as e:  # decoded, but the model cannot score it (e.g. colour frames for a fingerprint model)
            raise ApiError(422, "prediction_failed", _strip_path(str(e), path)) from None
        except SpoofguardError as e:
            raise ApiError(422, "unreadable_video", _strip_path(str(e), path)) from None


def _strip_path(message: str, path: str) -> str:
    """Messages name the file; the server's temporary name means nothing to a client."""
    return message.replace(f"{path}: ", "").replace(path, "the video")

