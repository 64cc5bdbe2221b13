"""Uploads, distrusted: size limits while reading, type by content, pixels counted before decoding.

Every check raises :class:`ApiError` with an HTTP status and a stable error code, so the server
answers every bad upload with a JSON body a client can act on:

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
====================  ======  ===============================================================

Images are decoded from memory. Videos are written to the server's private temporary folder (mode
0700) only while they are read, and deleted after the request.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png", b"GIF87a": "gif", b"GIF89a": "gif", b"BM": "bmp",
               b"II*\x00": "tiff", b"MM\x00*": "tiff"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


@dataclass
class Limits:
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 25_000_000
    max_video_frames: int = 32
    max_video_seconds: float = 120.0
    max_batch_files: int = 16


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


def decode_image(data: bytes, limits: Limits) -> np.ndarray:
    """RGB uint8 from an image's bytes; the pixel count is checked from the header first."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError(422, "unreadable_image", "the image header cannot be read; the file is damaged.") from None
    w, h = img.size
    if w * h > limits.max_pixels:
        raise ApiError(413, "too_many_pixels", f"the image declares {w}x{h} pixels, more than the limit of {limits.max_pixels:,}; "
                       "it was not decoded.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            img = ImageOps.exif_transpose(img)
        from spoofguard.data.images import to_array

        return to_array(img, 3)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ApiError(422, "unreadable_image", f"the image cannot be decoded ({e}); it is truncated or corrupt.") from None


class PrivateFolder:
    """The server's own temporary folder (0700); uploads that need a file live there during a request."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="spoofguard-serve-")
        os.chmod(self.path, 0o700)

    @contextmanager
    def file(self, data: bytes, suffix: str = ".bin"):
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

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)


def video_prediction(detector, data: bytes, folder: PrivateFolder, limits: Limits):
    """Predict on a video held in memory: written to the private folder for the decoder, then deleted."""
    from spoofguard.errors import SpoofguardError
    from spoofguard.modalities.video import probe

    with folder.file(data, ".video") as path:
        try:
            info = probe(path)
        except SpoofguardError as e:
            raise ApiError(422, "unreadable_video", _strip_path(str(e), path)) from None
        if info.width * info.height > limits.max_pixels:
            raise ApiError(413, "too_many_pixels", f"the video's frames are {info.width}x{info.height} pixels, more than the limit.")
        if info.duration_s > limits.max_video_seconds:
            raise ApiError(413, "video_too_long", f"the video lasts {info.duration_s:.0f} s; the limit is {limits.max_video_seconds:.0f} s.")
        try:
            return detector.predict_video(path, max_frames=limits.max_video_frames)
        except SpoofguardError as e:
            raise ApiError(422, "unreadable_video", _strip_path(str(e), path)) from None


def _strip_path(message: str, path: str) -> str:
    """Messages name the file; the server's temporary name means nothing to a client."""
    return message.replace(f"{path}: ", "").replace(path, "the video")
