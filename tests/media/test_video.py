"""Video decoding: which frames come back, what they hold, and clean errors for broken files.

Every clip is made here with PyAV: 40 frames of 64x48 at 25 fps whose picture spells the frame
number in binary (8 vertical stripes, white = 1), so each returned frame can be checked against its
index even through lossy codecs.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import av
import numpy as np
import pytest

from spoofguard.errors import SpoofguardError
from spoofguard.media import video
from spoofguard.media.video import (
    MAX_VIDEO_FRAMES_DEFAULT,
    VIDEO_EXTENSIONS,
    Frame,
    VideoInfo,
    is_video_file,
    probe,
    read_frames,
)

N, FPS, W, H = 40, 25, 64, 48

# name, encoder, pixel format, encoder options, frame count in the header (else estimated)
CLIPS = [
    ("h264.mp4", "libx264", "yuv420p", {"crf": "12"}, True),
    ("mpeg4.mp4", "mpeg4", "yuv420p", {"qscale": "2"}, True),
    ("mpeg4.avi", "mpeg4", "yuv420p", {"qscale": "2"}, True),
    ("mjpeg.avi", "mjpeg", "yuvj420p", {"qscale": "2"}, True),
    ("h264.mov", "libx264", "yuv420p", {"crf": "12"}, True),
    ("vp8.webm", "libvpx", "yuv420p", {"crf": "4", "b": "1M"}, False),
    ("vp9.webm", "libvpx-vp9", "yuv420p", {"crf": "10", "b": "0"}, False),
    ("h264.mkv", "libx264", "yuv420p", {"crf": "12"}, False),
]


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def numbered(i: int) -> np.ndarray:
    """A frame whose 8 vertical stripes spell ``i`` in binary."""
    img = np.full((H, W, 3), 16, np.uint8)
    for bit in range(8):
        if i >> bit & 1:
            img[:, 8 * bit : 8 * bit + 8] = 235
    return img


def number_in(rgb: np.ndarray) -> int:
    stripes = [rgb[4:-4, 8 * bit + 2 : 8 * bit + 6].mean() > 128 for bit in range(8)]
    return sum(1 << bit for bit, on in enumerate(stripes) if on)


def write_clip(path: Path, encoder: str, pix_fmt="yuv420p", options=None, frames=None, **container_options):
    frames = [numbered(i) for i in range(N)] if frames is None else frames
    with av.open(str(path), "w", options=container_options) as container:
        stream = container.add_stream(encoder, rate=FPS, options=options or {})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="module", params=CLIPS, ids=[c[0] for c in CLIPS])
def clip(request, folder):
    name, encoder, pix_fmt, options, exact = request.param
    if not has_encoder(encoder):
        pytest.skip(f"this PyAV build has no {encoder} encoder")
    return write_clip(folder / name, encoder, pix_fmt, options), exact


@pytest.fixture(scope="module")
def mp4(folder) -> Path:
    return write_clip(folder / "plain.mp4", "libx264", options={"crf": "12"})


@pytest.fixture(scope="module")
def webm(folder) -> Path:
    if not has_encoder("libvpx"):
        pytest.skip("this PyAV build has no libvpx encoder")
    return write_clip(folder / "plain.webm", "libvpx", options={"crf": "4", "b": "1M"})


@pytest.fixture(scope="module")
def red_mp4(folder) -> Path:
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 255
    return write_clip(folder / "red.mp4", "libx264", frames=[red] * 4)


def indices(frames: list[Frame]) -> list[int]:
    return [f.index for f in frames]


def assert_content_matches(frames: list[Frame]):
    for f in frames:
        assert f.rgb.dtype == np.uint8 and f.rgb.shape == (H, W, 3)
        assert number_in(f.rgb) == f.index


# --- which frames come back -------------------------------------------------------------------------


def test_evenly_spread_frames(clip):
    path, exact = clip
    frames = read_frames(path, max_frames=8)
    got = indices(frames)
    assert len(got) == 8 and got[0] == 0 and got == sorted(set(got))
    if exact:  # the header states 40 frames: exactly np.linspace(0, 39, 8) rounded
        assert got == [0, 6, 11, 17, 22, 28, 33, 39]
    else:  # count unknown: reservoir, thinned evenly at the end
        assert got[-1] >= N - 3
        assert max(np.diff(got)) <= 2 * min(np.diff(got)) + 1
    assert_content_matches(frames)
    times = [f.time_s for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert np.allclose(times, np.array(got) / FPS, atol=0.1)


def test_default_is_32_frames(clip):
    path, _ = clip
    got = indices(read_frames(path))
    assert len(got) == MAX_VIDEO_FRAMES_DEFAULT == 32
    assert got[0] == 0 and got[-1] >= N - 2


def test_every(clip):
    path, _ = clip
    assert indices(read_frames(path, every=5, max_frames=None)) == list(range(0, N, 5))
    assert indices(read_frames(path, every=5, max_frames=4)) == [0, 10, 25, 35]  # 4 of the 8, evenly
    assert indices(read_frames(path, every=100)) == [0]


def test_all_frames(clip):
    path, _ = clip
    frames = read_frames(path, max_frames=None)
    assert indices(frames) == list(range(N))
    assert_content_matches(frames)
    assert indices(read_frames(path, max_frames=1000)) == list(range(N))


def test_max_decode_cuts_the_video_short(clip):
    path, _ = clip
    assert indices(read_frames(path, max_frames=None, max_decode=10)) == list(range(10))
    assert indices(read_frames(path, max_frames=4, max_decode=10)) == [0, 3, 6, 9]


def test_probe(clip):
    path, exact = clip
    info = probe(path)
    assert isinstance(info, VideoInfo)
    assert info.frames == N  # from the header, or duration * fps for webm / mkv
    assert info.fps == pytest.approx(FPS)
    assert info.duration_s == pytest.approx(N / FPS, abs=0.05)
    assert (info.width, info.height) == (W, H)
    assert info.codec in {"h264", "mpeg4", "mjpeg", "vp8", "vp9"}


def test_rgb_order(red_mp4):
    for f in read_frames(red_mp4):
        r, g, b = (f.rgb[..., c].mean() for c in range(3))
        assert r > 200 and g < 50 and b < 50


def test_only_kept_frames_are_converted(mp4, monkeypatch):
    converted = count_conversions(monkeypatch)
    read_frames(mp4, max_frames=4)
    assert converted() == 4


def test_reservoir_stays_bounded(webm, monkeypatch):
    """Frame count unknown (webm): never more than 4 * max_frames arrays alive at once."""
    alive: list[weakref.ref] = []
    peak = 0
    frames_of = video._PyAVSource.frames

    def watched(self):
        nonlocal peak
        for index, time_s, to_rgb in frames_of(self):
            peak = max(peak, sum(ref() is not None for ref in alive))

            def convert(to_rgb=to_rgb):
                rgb = to_rgb()
                alive.append(weakref.ref(rgb))
                return rgb

            yield index, time_s, convert

    monkeypatch.setattr(video._PyAVSource, "frames", watched)
    got = indices(read_frames(webm, max_frames=2))
    assert got[0] == 0 and got[-1] >= N - 8 and len(got) == 2
    assert 0 < peak <= 8


def count_conversions(monkeypatch):
    calls = []
    frames_of = video._PyAVSource.frames

    def counted(self):
        for index, time_s, to_rgb in frames_of(self):
            yield index, time_s, lambda to_rgb=to_rgb: calls.append(1) or to_rgb()

    monkeypatch.setattr(video._PyAVSource, "frames", counted)
    return lambda: len(calls)


def test_opencv_fallback(mp4, red_mp4, monkeypatch):
    def refuse(*args, **kwargs):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(av, "open", refuse)
    info = probe(mp4)
    assert (info.frames, info.width, info.height, info.codec) == (N, W, H, "h264")
    assert info.fps == pytest.approx(FPS)
    frames = read_frames(mp4, max_frames=8)
    got = indices(frames)
    assert len(got) == 8 and got[0] == 0 and got[-1] >= N - 3
    assert_content_matches(frames)
    assert indices(read_frames(mp4, every=10, max_frames=None)) == [0, 10, 20, 30]
    r, g, b = (read_frames(red_mp4)[0].rgb[..., c].mean() for c in range(3))
    assert r > 200 and g < 50 and b < 50


def test_is_video_file():
    assert all(is_video_file("clip" + ext) for ext in VIDEO_EXTENSIONS)
    assert is_video_file("CLIP.MP4") and is_video_file(Path("a/b.WebM"))
    assert not is_video_file("face.png") and not is_video_file("clip.mp4.txt")


# --- errors a user can cause ----------------------------------------------------------------------


def assert_refused(path: Path, words: str, capfd):
    for call in (read_frames, probe):
        with pytest.raises(SpoofguardError, match=words) as e:
            call(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert capfd.readouterr().err == ""  # FFmpeg (PyAV's or OpenCV's) printed nothing


def test_missing_file(tmp_path, capfd):
    assert_refused(tmp_path / "nope.mp4", "no such file", capfd)


def test_empty_file(tmp_path, capfd):
    (tmp_path / "empty.mp4").touch()
    assert_refused(tmp_path / "empty.mp4", "empty", capfd)


def test_folder(tmp_path, capfd):
    (tmp_path / "dir.mp4").mkdir()
    assert_refused(tmp_path / "dir.mp4", "folder", capfd)


def test_text_file(tmp_path, capfd):
    (tmp_path / "notes.mp4").write_text("not a video\n" * 50)
    assert_refused(tmp_path / "notes.mp4", "not a video", capfd)


def test_audio_only(tmp_path, capfd):
    if not has_encoder("aac"):
        pytest.skip("this PyAV build has no aac encoder")
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for k in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, k * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert_refused(path, "no video stream", capfd)


def test_header_without_frames(tmp_path, capfd):
    """A video stream is declared but no packet was ever written."""
    for name, words in (("nothing.avi", "no decodable video frames"), ("nothing.mp4", "no video stream")):
        path = tmp_path / name
        with av.open(str(path), "w") as container:
            stream = container.add_stream("mpeg4", rate=FPS)
            stream.width, stream.height = W, H
            container.start_encoding()
        with pytest.raises(SpoofguardError, match=words):
            read_frames(path)
    assert capfd.readouterr().err == ""


def test_truncated_mp4_is_a_clean_error(mp4, tmp_path, capfd):
    """A plain mp4 keeps its index at the end: cut in half, nothing can be read."""
    cut = tmp_path / "cut.mp4"
    data = mp4.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert_refused(cut, "not a video", capfd)


@pytest.mark.parametrize(
    "name, encoder, pix_fmt, container_options, header_count",
    [
        ("cut.mkv", "libx264", "yuv420p", {}, False),
        ("cut.webm", "libvpx", "yuv420p", {}, False),
        ("cut.mp4", "libx264", "yuv420p", {"movflags": "frag_keyframe+empty_moov"}, False),  # fragmented
        ("cut.avi", "mjpeg", "yuvj420p", {}, True),  # the header at the start still says 40 frames
    ],
)
def test_truncated_stream_gives_the_frames_that_decoded(
    name, encoder, pix_fmt, container_options, header_count, tmp_path, capfd
):
    if not has_encoder(encoder):
        pytest.skip(f"this PyAV build has no {encoder} encoder")
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 60, (N, H, W, 3), dtype=np.uint8)  # big packets: half the file is many frames
    frames = [np.maximum(numbered(i), noise[i]) for i in range(N)]
    full = tmp_path / ("full_" + name)
    write_clip(full, encoder, pix_fmt, {"g": "5"}, frames, **container_options)  # a keyframe every 5
    data = full.read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) // 2])
    got = read_frames(cut, max_frames=None)
    assert 5 <= len(got) < N and indices(got) == list(range(len(got)))
    assert_content_matches(got[:-1])  # the last one may be half there: FFmpeg conceals the rest
    sampled = indices(read_frames(cut, max_frames=4))
    if header_count:  # planned over the 40 frames the header promised: only the early ones came
        assert sampled == [i for i in (0, 13, 26, 39) if i < len(got)]
    else:  # count unknown: spread over what there is
        assert len(sampled) == 4 and sampled[0] == 0 and sampled[-1] >= len(got) - 4
    assert capfd.readouterr().err == ""


def test_container_breaking_off_keeps_the_frames_in_the_decoder(mp4, monkeypatch):
    """The demuxer fails after 20 packets: the frames the decoder still holds come out too."""
    real_open = av.open

    class BreaksOff:
        def __init__(self, container):
            self.container = container

        def __getattr__(self, name):
            return getattr(self.container, name)

        def demux(self, stream):
            for k, packet in enumerate(self.container.demux(stream)):
                if k == 20:
                    raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
                yield packet

    monkeypatch.setattr(av, "open", lambda *args, **kwargs: BreaksOff(real_open(*args, **kwargs)))
    frames = read_frames(mp4, max_frames=None)
    assert indices(frames) == list(range(20))
    # 20 packets in decode order: with B-frames the last one out may be a later frame (20, not 19)
    assert_content_matches(frames[:-1])
    assert np.isfinite([f.time_s for f in frames]).all()


def test_too_many_pixels(mp4):
    with pytest.raises(SpoofguardError, match="64x48 pixels per frame is more than the limit"):
        read_frames(mp4, max_pixels=W * H - 1)
    assert len(read_frames(mp4, max_pixels=W * H)) == 32


def test_bad_options(mp4):
    with pytest.raises(SpoofguardError, match="max_frames"):
        read_frames(mp4, max_frames=0)
    with pytest.raises(SpoofguardError, match="every"):
        read_frames(mp4, every=0)
