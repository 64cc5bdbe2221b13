"""Reading videos as a handful of evenly spaced RGB frames.

A presentation attack (a replayed screen, a printed photo waved at the camera) is judged on a few
frames spread over the whole capture. :func:`read_frames` decodes a video once, from the start, and
keeps only the frames it wants: ``max_frames`` indices spread evenly over the video, or every
``every``-th frame. Only the kept frames are converted to ``uint8 (H, W, 3)`` RGB arrays; converting
is the costly part, decoding the rest is cheap.

When the container states its frame count (mp4, mov, avi) the wanted indices are known up front and
decoding stops after the last one. When it does not (webm, mkv), frames are kept in a reservoir that
is thinned as it grows (never more than ``4 * max_frames`` arrays in memory) and thinned evenly at
the end, so the result still spans the whole video.

Decoding is done by PyAV; a file PyAV cannot open is tried with OpenCV before giving up. Anything a
user can get wrong (no such file, an empty file, not a video, an audio-only file, a video with no
decodable frame, frames over ``max_pixels``) raises :class:`SpoofguardError` naming the file. A
truncated video gives the frames that decoded. FFmpeg's log is not printed: PyAV ignores it by
default, and OpenCV's copy of FFmpeg is told to be quiet below.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import cv2
import numpy as np

from spoofguard.media.images import MAX_PIXELS, check_file
from spoofguard.errors import SpoofguardError

# OpenCV's bundled FFmpeg prints errors ("moov atom not found") to stderr. It reads this variable
# when its FFmpeg backend starts, at the first cv2.VideoCapture of the process.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")
MAX_VIDEO_FRAMES_DEFAULT = 32

# What a damaged file can make the decoders raise; caught, never shown to the user as such.
_DECODE_ERRORS = (av.FFmpegError, cv2.error, OSError, ValueError)


def is_video_file(path) -> bool:
    return os.fspath(path).lower().endswith(VIDEO_EXTENSIONS)


@dataclass
class Frame:
    index: int  # frame number in the video, 0-based, in the order the decoder gives them
    time_s: float  # presentation time in seconds
    rgb: np.ndarray  # uint8 (H, W, 3)


@dataclass
class VideoInfo:
    frames: int  # as the header states it, else estimated from duration * fps, else 0 (unknown)
    fps: float
    duration_s: float
    width: int
    height: int
    codec: str


def probe(path) -> VideoInfo:
    """The video's size, length and codec, from its header (nothing is decoded)."""
    with contextlib.closing(_open(check_file(path, "a video"))) as source:
        return source.info


def read_frames(
    path,
    max_frames: int | None = MAX_VIDEO_FRAMES_DEFAULT,
    every: int | None = None,
    max_pixels: int = MAX_PIXELS,
    max_decode: int = 100_000,
) -> list[Frame]:
    """Decode ``path`` and return at most ``max_frames`` frames, in order (see :func:`read_video`)."""
    return read_video(path, max_frames, every, max_pixels, max_decode)[1]


def read_video(
    path,
    max_frames: int | None = MAX_VIDEO_FRAMES_DEFAULT,
    every: int | None = None,
    max_pixels: int = MAX_PIXELS,
    max_decode: int = 100_000,
) -> tuple[VideoInfo, list[Frame]]:
    """Decode ``path`` once: its header's :class:`VideoInfo` and at most ``max_frames`` frames, in order.

    ``every=None`` spreads ``max_frames`` frames evenly over the whole video (first frame included);
    ``every=N`` takes frames 0, N, 2N, ... and thins them evenly if there are more than
    ``max_frames``. ``max_frames=None`` keeps them all. At most ``max_decode`` frames are decoded:
    a longer video is read as if it ended there.
    """
    if max_frames is not None and max_frames < 1:
        raise SpoofguardError(f"max_frames must be at least 1 (or None for all frames), not {max_frames}.")
    if every is not None and every < 1:
        raise SpoofguardError(f"every must be at least 1 (or None), not {every}.")
    path = check_file(path, "a video")
    every = every or 1
    with contextlib.closing(_open(path)) as source:
        info = source.info
        if info.width * info.height > max_pixels:
            raise SpoofguardError(
                f"{path}: {info.width}x{info.height} pixels per frame is more than the limit of "
                f"{max_pixels:,} pixels; refusing to decode it (downscale it first if it is genuine)."
            )
        wanted, last = None, None  # the frame indices to keep, when the frame count is known
        if source.exact and max_frames is not None:
            candidates = np.arange(0, min(info.frames, max_decode), every)
            if len(candidates) > max_frames:
                candidates = candidates[_spread(len(candidates), max_frames)]
            wanted, last = set(candidates.tolist()), int(candidates[-1])
        kept: list[Frame] = []
        stride = every  # reservoir: keep multiples of stride, double it when full
        try:
            for index, time_s, to_rgb in source.frames():
                if index >= max_decode:
                    break
                take = index in wanted if wanted is not None else index % stride == 0
                if take:
                    kept.append(Frame(index, time_s, to_rgb()))
                    if wanted is None and max_frames is not None and len(kept) >= 4 * max_frames:
                        stride *= 2
                        kept = [f for f in kept if f.index % stride == 0]
                if last is not None and index >= last:
                    break
        except _DECODE_ERRORS:
            pass  # truncated or damaged from here on: keep what decoded
    if not kept:
        raise SpoofguardError(f"{path}: no decodable video frames (is the file truncated or damaged?).")
    if max_frames is not None and len(kept) > max_frames:
        kept = [kept[i] for i in _spread(len(kept), max_frames)]
    return info, kept


def _spread(n: int, k: int) -> np.ndarray:
    """``k`` positions in ``range(n)`` spread evenly, first and last included (fewer if n < k)."""
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


# A decoded frame on its way out of a source: (index, time_s, convert-to-RGB).
_Decoded = tuple[int, float, Callable[[], np.ndarray]]


def _open(path: str) -> _PyAVSource | _OpenCVSource:
    """Open with PyAV; if PyAV cannot read the container at all, with OpenCV."""
    try:
        container = av.open(path, metadata_errors="ignore")
    except _DECODE_ERRORS as e:
        reason = getattr(e, "strerror", None) or str(e)
        try:
            capture = cv2.VideoCapture(path)
            if capture.isOpened():
                return _OpenCVSource(capture)
            capture.release()
        except cv2.error:
            pass
        raise SpoofguardError(
            f"{path}: not a video file, or its container is unreadable ({reason})."
        ) from None
    if not container.streams.video:
        container.close()
        raise SpoofguardError(f"{path}: has no video stream (is it an audio-only file?).")
    return _PyAVSource(container)


class _PyAVSource:
    def __init__(self, container):
        self.container = container
        self.stream = stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or stream.base_rate or 0)
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / av.time_base
        self.exact = stream.frames > 0
        frames = stream.frames or round(duration * fps)
        if not duration and frames and fps:
            duration = frames / fps
        cc = stream.codec_context
        self.info = VideoInfo(frames, fps, duration, cc.width, cc.height, cc.name)

    def frames(self) -> Iterator[_Decoded]:
        self.stream.thread_type = "AUTO"  # frame threads too: decoding is most of the time
        fps, index = self.info.fps, 0
        for packet in self._packets():
            try:
                decoded = self.stream.decode(packet)
            except av.FFmpegError:
                continue  # one damaged packet: skip it, the next keyframe decodes again
            for frame in decoded:
                time_s = frame.time  # None or nan when the frame has no timestamp
                if time_s is None or math.isnan(time_s):
                    time_s = index / fps if fps else 0.0
                yield index, time_s, lambda frame=frame: frame.to_ndarray(format="rgb24")
                index += 1

    def _packets(self):
        """The stream's packets. The last one (empty) flushes the decoder, which holds a few frames
        back; if the container breaks off (truncated), a ``None`` packet flushes it instead."""
        try:
            yield from self.container.demux(self.stream)
        except av.FFmpegError:
            yield None

    def close(self):
        self.container.close()


class _OpenCVSource:
    def __init__(self, capture):
        self.capture = capture
        get = capture.get
        frames, fps = max(int(get(cv2.CAP_PROP_FRAME_COUNT)), 0), max(get(cv2.CAP_PROP_FPS), 0.0)
        fourcc = (int(get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF).to_bytes(4, "little")
        codec = fourcc.decode("latin-1").strip("\0 ").lower()
        width, height = int(get(cv2.CAP_PROP_FRAME_WIDTH)), int(get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.exact = False  # OpenCV may have estimated the count: use the reservoir
        self.info = VideoInfo(frames, fps, frames / fps if fps else 0.0, width, height, codec)

    def frames(self) -> Iterator[_Decoded]:
        fps, index = self.info.fps, 0
        while self.capture.grab():
            msec = self.capture.get(cv2.CAP_PROP_POS_MSEC)
            time_s = msec / 1000 if msec >= 0 else (index / fps if fps else 0.0)
            yield index, time_s, self._retrieve
            index += 1

    def _retrieve(self) -> np.ndarray:
        ok, bgr = self.capture.retrieve()
        if not ok:
            raise cv2.error("frame grabbed but not retrievable")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self):
        self.capture.release()
