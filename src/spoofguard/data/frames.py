"""Turning a manifest of videos into a manifest of frames, cached on disk.

Video datasets are imported as one row per video. Training reads images, so
:func:`extract_frames` decodes each video once, keeps a few frames
(:func:`spoofguard.media.video.read_frames`: ``max_frames`` spread over the video, or every
``every``-th frame) and writes them as ``OUT/<video_id>/<frame index:06d>.jpg``. The frame manifest
it returns has one row per frame carrying its video's label, species, subject, session, device,
split and ``video_id``, so scores can be pooled per video again (``metrics --per-video``).

The output folder is a cache: ``OUT/index.json`` records the settings and which frames each video
gave. Running again with the same settings decodes only videos whose frames are not all there and
never rewrites a frame file; running with other settings into the same folder is refused (pass
another folder, or ``overwrite=True`` to delete the frames listed in the index first). Before any
work the disk space needed is estimated from the first video's size and compared with the free
space: a dataset of thousands of videos is not silently copied onto a full disk.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Callable

from PIL import Image

from spoofguard.data.manifest import Manifest, Sample
from spoofguard.errors import SpoofguardError
from spoofguard.media.video import is_video_file, probe, read_frames

INDEX = "index.json"
FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG"}
BYTES_PER_PIXEL = {"JPEG": 0.15, "PNG": 2.0}  # rough sizes of natural frames on disk
SAVE_EVERY_S = 10.0  # how often the index is written while extracting (and always at the end)


def video_key(sample: Sample, root: str) -> str:
    """The folder below OUT for a video sample: its ``video_id`` (made safe), else its path below
    the videos' common folder, without extension."""
    vid = sample.video_id
    if not vid:
        vid = os.path.splitext(os.path.relpath(sample.path, root) if root else os.path.basename(sample.path))[0]
    parts = [p for p in vid.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if not parts:
        raise SpoofguardError(f"{sample.path}: video_id {sample.video_id!r} gives no folder name.")
    return PurePosixPath(*parts).as_posix()


def _free_space(folder: Path) -> int:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def extract_frames(
    manifest: Manifest,
    out: str | Path,
    every: int | None = None,
    max_frames: int = 16,
    image_format: str = "jpg",
    quality: int = 95,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> tuple[Manifest, list[tuple[str, str]]]:
    """Write frames of every video sample under ``out``; return (frame manifest, unreadable videos).

    Frames are sampled with :func:`read_frames(path, max_frames=max_frames, every=every)
    <spoofguard.media.video.read_frames>` and written to ``out/<video_id>/<index:06d>.jpg``.
    The returned manifest has one row per frame with its video's label, species, subject, session,
    device, split and video_id; image samples pass through unchanged, in their place. Videos that
    cannot be read come back as ``(path, reason)`` and have no rows. ``progress(done, total)`` is
    called after each video. Idempotent: existing frame files are not rewritten and videos whose
    frames are all present are not decoded again. Other settings than the folder's ``index.json``
    -> :class:`SpoofguardError` (``overwrite=True`` deletes the frames the index lists and starts afresh).
    More space needed than is free -> :class:`SpoofguardError` before anything is written.
    """
    fmt, ext = _check_options(image_format, quality, max_frames, every)
    out = Path(out)
    keys = _video_folders(manifest)
    settings = {"every": every, "max_frames": max_frames, "image_format": ext, "quality": quality}
    index = _open_index(out, settings, overwrite)
    videos: dict[str, list[str]] = index["videos"]  # key -> frame file names, for videos done
    todo = {p for p, k in keys.items() if not _complete(out / k, videos.get(k))}
    _check_space([p for p in keys if p in todo], out, max_frames, every, fmt)

    frames: dict[str, list[str]] = {}  # video path -> frame paths (absolute)
    failed: list[tuple[str, str]] = []
    out.mkdir(parents=True, exist_ok=True)
    if todo or not (out / INDEX).is_file():
        _save_index(out, index)  # first, so a folder with frames always says how they were made
    last_save = time.monotonic()
    try:
        for n, (path, key) in enumerate(keys.items(), start=1):
            folder = out / key
            if path in todo:
                try:
                    decoded = read_frames(path, max_frames=max_frames, every=every)
                except SpoofguardError as e:
                    failed.append((path, str(e).removeprefix(f"{path}: ")))
                    videos.pop(key, None)
                else:
                    videos[key] = _write(decoded, folder, fmt, ext, quality)
                    if time.monotonic() - last_save > SAVE_EVERY_S:
                        _save_index(out, index)
                        last_save = time.monotonic()
            if key in videos:
                frames[path] = [str((folder / f).resolve()) for f in videos[key]]
            if progress is not None:
                progress(n, len(keys))
    finally:
        if todo:
            _save_index(out, index)

    rows: list[Sample] = []
    for s in manifest:
        if not is_video_file(s.path):
            rows.append(s)
        elif s.path in frames:
            rows.extend(replace(s, path=f, video_id=keys[s.path]) for f in frames[s.path])
    return Manifest(rows), failed


def _check_options(image_format: str, quality: int, max_frames: int | None, every: int | None) -> tuple[str, str]:
    """(PIL format, file extension) of ``image_format``, after refusing options out of range."""
    fmt = FORMATS.get(image_format.lower().lstrip("."))
    if fmt is None:
        raise SpoofguardError(f"image format {image_format!r} is not one of {', '.join(FORMATS)}.")
    if not 1 <= quality <= 100:
        raise SpoofguardError(f"JPEG quality must be between 1 and 100, not {quality}.")
    if max_frames is not None and max_frames < 1:
        raise SpoofguardError(f"max_frames must be at least 1, not {max_frames}.")
    if every is not None and every < 1:
        raise SpoofguardError(f"every must be at least 1 (or left out), not {every}.")
    return fmt, "png" if fmt == "PNG" else "jpg"


def _video_folders(manifest: Manifest) -> dict[str, str]:
    """Video path -> the folder (key) its frames go to; two different videos may not share one."""
    video_samples = [s for s in manifest if is_video_file(s.path)]
    if not video_samples:
        raise SpoofguardError("the manifest has no video samples: there are no frames to extract.")
    root = _common_folder([s.path for s in video_samples])
    keys: dict[str, str] = {}  # video path -> key
    owner: dict[str, str] = {}  # key -> video path
    for s in video_samples:
        if s.path in keys:
            continue
        key = video_key(s, root)
        if owner.setdefault(key, s.path) != s.path:
            raise SpoofguardError(
                f"two videos have the same video_id {key!r} ({owner[key]} and {s.path}); "
                "video ids must be unique to keep their frames apart."
            )
        keys[s.path] = key
    return keys


def _common_folder(paths: list[str]) -> str:
    if not paths:
        return ""
    try:
        return os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:
        return ""


def _open_index(out: Path, settings: dict, overwrite: bool) -> dict:
    """The folder's index (settings + videos done); a fresh one for a new or empty folder."""
    fresh = {"settings": settings, "videos": {}}
    if out.exists() and not out.is_dir():
        raise SpoofguardError(f"{out} is a file; pass a folder for the frames.")
    index_path = out / INDEX
    if not index_path.is_file():
        if out.is_dir() and any(out.iterdir()):
            raise SpoofguardError(
                f"{out} is not empty and holds no {INDEX}: it is not a frames folder; pass a new or empty folder."
            )
        return fresh
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        index["settings"], index["videos"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SpoofguardError(f"{index_path} is damaged; delete the folder {out} or pass another one.") from None
    if index["settings"] == settings and not overwrite:
        return index
    if not overwrite:
        old = ", ".join(f"{k}={v}" for k, v in index["settings"].items())
        raise SpoofguardError(
            f"{out} holds frames extracted with other settings ({old}); pass another folder, "
            "or --overwrite to delete them and extract again."
        )
    for key, names in index["videos"].items():  # delete only what the index says we wrote
        if Path(key).is_absolute() or ".." in Path(key).parts:
            continue  # not a name we write: never delete outside the folder
        folder = out / key
        for name in names:
            if Path(name).name == name and name.endswith((".jpg", ".png")):
                (folder / name).unlink(missing_ok=True)
        _remove_empty_dirs(folder, out)
    index_path.unlink()
    return fresh


def _remove_empty_dirs(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _save_index(out: Path, index: dict) -> None:
    tmp = out / (INDEX + ".tmp")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, out / INDEX)


def _complete(folder: Path, names: list[str] | None) -> bool:
    return bool(names) and all((folder / n).is_file() for n in names)


def _check_space(todo: list[str], out: Path, max_frames: int | None, every: int | None, fmt: str) -> None:
    """Refuse when the frames of the videos still to do would not fit on ``out``'s disk."""
    for path in todo[:5]:  # the first video that can be probed gives the frame size
        try:
            info = probe(path)
        except SpoofguardError:
            continue
        per_video = max_frames if max_frames else max(info.frames // (every or 1), 1)
        if info.frames and max_frames:
            per_video = min(per_video, -(-info.frames // (every or 1)))
        needed = len(todo) * per_video * info.width * info.height * BYTES_PER_PIXEL[fmt]
        free = _free_space(out)
        if needed > free:
            raise SpoofguardError(
                f"extracting up to {per_video} frames from each of {len(todo)} videos needs about "
                f"{_size(needed)} in {out}, but only {_size(free)} is free there; free some space, pass a "
                "folder on another disk, or extract fewer frames (--max-frames)."
            )
        return


def _write(decoded: list, folder: Path, fmt: str, ext: str, quality: int) -> list[str]:
    """Write a video's decoded frames (those not already on disk); their file names, in order."""
    names = []
    options = {"quality": quality} if fmt == "JPEG" else {}
    for frame in decoded:
        name = f"{frame.index:06d}.{ext}"
        names.append(name)
        target = folder / name
        if target.is_file():
            continue
        tmp = folder / f".{name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame.rgb).save(tmp, format=fmt, **options)
            os.replace(tmp, target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise SpoofguardError(f"cannot write {target} ({e.strerror or e}).") from None
    return names
