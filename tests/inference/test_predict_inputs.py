"""`spoofguard predict` over files, folders, patterns and videos; exit codes; bad inputs; `export --int8`;
`bench`. (A detector's video predictions: tests/inference/test_video.py.)"""

import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from spoofguard.cli import main
from spoofguard.inference.detector import Detector
from tests.conftest import face_frame, write_video

av = pytest.importorskip("av")


def _video(path, frames, fps=10):
    return write_video(path, frames, fps)


def _png_header(path, w, h):
    """A PNG whose header claims w x h pixels (a decompression bomb's first bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 64)))
    return path


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    d = tmp_path_factory.mktemp("captures")
    Image.fromarray(face_frame()).save(d / "face.jpg")
    Image.new("RGB", (320, 240), (90, 90, 90)).save(d / "empty.jpg")
    face = face_frame(size=(240, 320), at=(80, 20), face_width=140)
    blank = np.full((240, 320, 3), 90, np.uint8)
    _video(d / "clip.mp4", [face] * 6 + [blank] * 2 + [face] * 4)
    return d


def test_predict_cli_images_videos_folders_and_patterns(face_bundle, captures, capsys):
    code = main(["predict", str(face_bundle), str(captures / "*.jpg"), str(captures / "clip.mp4"), "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0  # a capture without a face is a result, not a failure
    by_name = {r["input"].rsplit("/", 1)[-1]: r for r in rows}
    assert set(by_name) == {"empty.jpg", "face.jpg", "clip.mp4"}
    assert by_name["empty.jpg"]["verdict"] == "no_face" and by_name["empty.jpg"]["score"] is None
    assert by_name["face.jpg"]["faces"] == 1 and by_name["clip.mp4"]["kind"] == "video"
    assert by_name["clip.mp4"]["frames_without_face"] == [6, 7]
    # a folder expands to its images and videos
    assert main(["predict", str(face_bundle), str(captures), "--json"]) == 0
    assert sorted(json.loads(line)["input"].rsplit("/", 1)[-1] for line in capsys.readouterr().out.splitlines()) == ["clip.mp4", "empty.jpg", "face.jpg"]
    assert main(["predict", str(face_bundle), str(captures)]) == 0  # the table
    assert "no_face" in capsys.readouterr().out


def test_predict_cli_exit_1_names_the_inputs_that_failed(face_bundle, captures, tmp_path, capsys):
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello, not a picture")
    data = (captures / "face.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 3])
    _png_header(tmp_path / "bomb.png", 30000, 30000)
    _video(tmp_path / "ok.mp4", [face_frame(size=(240, 320), at=(80, 20), face_width=140)] * 2)
    (tmp_path / "noframes.mp4").write_bytes((tmp_path / "ok.mp4").read_bytes()[:48])
    args = ["predict", str(face_bundle), str(captures / "face.jpg"), str(tmp_path / "missing.jpg"), str(tmp_path / "nothing*.png")]
    args += [str(tmp_path / n) for n in ("zero.jpg", "text.jpg", "truncated.jpg", "bomb.png", "noframes.mp4")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "7 input(s) failed" in err
    for what in ("missing.jpg: no such file", "nothing*.png: no image or video files match", "empty (0 bytes)",
                 "text.jpg: not an image", "truncated", "30000x30000", "noframes.mp4"):
        assert what in err, what


def test_predict_cli_usage_errors_exit_2(face_bundle, captures, tmp_path):
    assert main(["predict", str(tmp_path / "no-model.safetensors"), str(captures / "face.jpg")]) == 2
    assert main(["predict", str(face_bundle), str(captures / "face.jpg"), "--backend", "tpu"]) == 2
    assert main(["predict", str(face_bundle), str(captures / "face.jpg"), "--face-detector", "yunet"]) == 2  # no --face-model
    assert main(["predict", str(face_bundle)]) == 2


def test_predict_cli_all_faces_and_heatmaps(face_bundle, tmp_path, capsys):
    from tests.conftest import face_photo

    canvas = Image.new("RGB", (640, 480), (30, 30, 30))
    canvas.paste(Image.fromarray(face_photo()).resize((110, 129)), (20, 40))
    canvas.paste(Image.fromarray(face_photo()).resize((200, 234)), (380, 150))
    canvas.save(tmp_path / "two.jpg")
    assert main(["predict", str(face_bundle), str(tmp_path / "two.jpg"), "--all-faces", "--json", "--heatmaps", str(tmp_path / "h")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["face"] for r in rows] == [0, 1]
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == ["two-face1.png", "two.png"]


def test_export_int8_reports_agreement(trained_run, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(trained_run.bundle), "--onnx", str(out), "--int8"]) == 2  # no calibration images
    assert main(["export", str(trained_run.bundle), "--onnx", str(out), "--int8", "--check", str(tiny_dataset)]) == 0
    text = capsys.readouterr().out
    assert "verdicts agree on" in text and (tmp_path / "m.int8.onnx").is_file()
    p = Detector.from_file(tmp_path / "m.int8.onnx").predict(str(next(tiny_dataset.rglob("*.png"))))
    assert 0 <= p.score <= 1


def test_bench_measures_every_backend_and_the_face_pipeline(face_bundle):
    from spoofguard.inference.bench import bench

    rows = bench(face_bundle, runs=3, seconds=0.05)
    assert [r.backend for r in rows] == ["torch", "onnx"]
    for r in rows:
        assert 0 < r.latency_p50_ms <= r.latency_p95_ms and r.throughput > 0 and r.views_per_capture == 2
        assert r.pipeline_fps > 0 and r.face_detector == "mtcnn"
