"""extract_frames: real tiny videos (PyAV, mpeg4) to a frame manifest and a frame cache folder."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import write_video
from PIL import Image

import spoofguard.data.frames as frames_module
from spoofguard.data.frames import extract_frames
from spoofguard.data.manifest import Manifest, Sample
from spoofguard.errors import SpoofguardError


def _video(path: Path, n: int, fps: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(n)], fps)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("media")
    _video(d / "live" / "v1.mp4", 8)
    _video(d / "replay" / "v2.mp4", 5)
    (d / "replay" / "broken.mp4").write_bytes(b"\0\0\0\x18ftypmp42 this is not a video")
    Image.new("RGB", (16, 16), (50, 60, 70)).save(d / "still.png")
    return d


@pytest.fixture()
def manifest(media) -> Manifest:
    return Manifest([
        Sample(str(media / "live/v1.mp4"), "bona_fide", "", "1", "s1", "cam1", "live/v1", "train"),
        Sample(str(media / "still.png"), "attack", "print", "3", "", "", "", "train"),
        Sample(str(media / "replay/v2.mp4"), "attack", "replay", "2", "s2", "cam2", "", "test"),  # no video_id
        Sample(str(media / "replay/broken.mp4"), "attack", "replay", "2", "s2", "cam2", "replay/broken", "test"),
    ])


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*.jpg")}


def test_frame_rows_files_and_broken_videos(manifest, media, tmp_path):
    out = tmp_path / "frames"
    calls = []
    m, failed = extract_frames(manifest, out, max_frames=3, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert len(m) == 3 + 1 + 3  # v1: 3 of 8 frames, the image, v2: 3 of 5 frames
    v1 = [s for s in m if s.video_id == "live/v1"]
    assert [Path(s.path).name for s in v1] == ["000000.jpg", "000004.jpg", "000007.jpg"]
    assert all((s.label, s.species, s.subject, s.session, s.device, s.split) == ("bona_fide", "", "1", "s1", "cam1", "train")
               for s in v1)
    assert m[3] == manifest[1]  # the image passes through unchanged, in its place
    v2 = [s for s in m if s.subject == "2"]
    assert {s.video_id for s in v2} == {"replay/v2"}  # from the path below the videos' common folder
    assert all((s.label, s.species, s.session, s.device, s.split) == ("attack", "replay", "s2", "cam2", "test") for s in v2)
    assert [Path(s.path).name for s in v2] == ["000000.jpg", "000002.jpg", "000004.jpg"]
    assert all(Path(s.path).is_absolute() and Path(s.path).parent == out.resolve() / s.video_id for s in v1 + v2)
    with Image.open(out / "live/v1/000007.jpg") as img:
        assert img.size == (64, 48) and abs(np.asarray(img).mean() - 140) < 8  # frame 7 is grey 140
    assert sorted(_mtimes(out)) == sorted(f"{v}/{n}" for v, ns in (("live/v1", (0, 4, 7)), ("replay/v2", (0, 2, 4)))
                                          for n in (f"{i:06d}.jpg" for i in ns))
    assert [p for p, _ in failed] == [str(media / "replay/broken.mp4")]
    assert "not a video" in failed[0][1] and not failed[0][1].startswith(str(media))
    assert (out / "index.json").is_file()


def test_again_decodes_nothing_done_and_rewrites_nothing(manifest, media, tmp_path, monkeypatch):
    out = tmp_path / "frames"
    first, _ = extract_frames(manifest, out, max_frames=3)
    before = _mtimes(out)
    decoded = []
    real = frames_module.read_frames
    monkeypatch.setattr(frames_module, "read_frames", lambda path, **kw: decoded.append(Path(path).name) or real(path, **kw))
    again, failed = extract_frames(manifest, out, max_frames=3)
    assert decoded == ["broken.mp4"]  # only the video with no frames is tried again
    assert [s.path for s in again] == [s.path for s in first] and len(failed) == 1
    assert _mtimes(out) == before
    (out / "replay/v2/000002.jpg").unlink()  # a lost frame: only that video is decoded, only that file written
    decoded.clear()
    extract_frames(manifest, out, max_frames=3)
    assert decoded == ["v2.mp4", "broken.mp4"]
    after = _mtimes(out)
    assert set(after) == set(before) and {k for k in after if after[k] != before[k]} == {"replay/v2/000002.jpg"}


def test_other_settings_in_the_same_folder_are_refused_unless_overwrite(manifest, tmp_path):
    out = tmp_path / "frames"
    extract_frames(manifest, out, max_frames=3)
    with pytest.raises(SpoofguardError, match="other settings .*max_frames=3.*another folder, or --overwrite"):
        extract_frames(manifest, out, max_frames=2)
    with pytest.raises(SpoofguardError, match="other settings"):
        extract_frames(manifest, out, max_frames=3, every=2)
    (out / "notes.txt").write_text("the user's own file")
    m, _ = extract_frames(manifest, out, max_frames=2, overwrite=True)
    assert sorted(_mtimes(out)) == ["live/v1/000000.jpg", "live/v1/000007.jpg", "replay/v2/000000.jpg", "replay/v2/000004.jpg"]
    assert (out / "notes.txt").is_file() and len(m) == 5
    m, _ = extract_frames(manifest, tmp_path / "every", every=3, max_frames=16)
    assert [Path(s.path).name for s in m if s.video_id == "live/v1"] == ["000000.jpg", "000003.jpg", "000006.jpg"]


def test_refusals_before_anything_is_written(manifest, media, tmp_path, monkeypatch):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.pdf").write_bytes(b"%PDF")
    with pytest.raises(SpoofguardError, match="not a frames folder"):
        extract_frames(manifest, busy)
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(SpoofguardError, match=r"up to 8 frames from each of 3 videos needs about 0\.0 MB .* only 0\.0 MB is free"):
        extract_frames(manifest, tmp_path / "full", max_frames=16)  # 3 videos x 8 frames x 64x48x0.15 B > 5000 B
    assert not (tmp_path / "full").exists()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 0, 10**9))
    extract_frames(manifest, tmp_path / "ok", max_frames=2)
    with pytest.raises(SpoofguardError, match="same video_id"):
        extract_frames(Manifest([manifest[0], Sample(str(media / "replay/v2.mp4"), "attack", video_id="live/v1")]), tmp_path / "dup")
    with pytest.raises(SpoofguardError, match="no video samples"):
        extract_frames(Manifest([manifest[1]]), tmp_path / "images")
    with pytest.raises(SpoofguardError, match="image format"):
        extract_frames(manifest, tmp_path / "x", image_format="gif")
