"""The temporal (recurrent) model: trained on clips of frames grouped by video_id, used on clips and videos."""

import numpy as np
import pytest
from PIL import Image

from spoofguard.data.manifest import Manifest, Sample, read_manifest, write_manifest
from spoofguard.inference.bundle import load_bundle
from spoofguard.inference.detector import Detector


def _frame_videos(root, videos=8, frames=5):
    """Frame manifest: bona fide videos move (every frame differs), attack videos are still (one picture)."""
    rng = np.random.default_rng(0)
    rows = []
    for v in range(videos):
        label = "bona_fide" if v % 2 == 0 else "attack"
        still = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        for f in range(frames):
            img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) if label == "bona_fide" else still
            path = root / f"v{v}" / f"{f:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(path)
            rows.append(Sample(str(path), label, "" if label == "bona_fide" else "replay", subject=str(v), video_id=f"v{v}"))
    write_manifest(Manifest(rows), root / "manifest.csv")
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def temporal_run(tmp_path_factory):
    from spoofguard.training.train import train

    root = tmp_path_factory.mktemp("clips")
    manifest = _frame_videos(root)
    r = train(data=str(manifest), out=str(root / "run"), model="temporal", modality="face", precropped=True, input_size=32,
              epochs=2, model_kwargs={"frames": 4}, protocol="random", progress=False)
    return r, root


def test_a_temporal_bundle_knows_its_clip_length(temporal_run):
    r, _ = temporal_run
    b = load_bundle(r.bundle)
    assert b.preprocessing.clip_frames == 4 and b.architecture == "temporal"


def test_it_predicts_on_a_clip_a_still_image_and_a_video(temporal_run, tmp_path):
    pytest.importorskip("av")
    from tests.conftest import write_video

    r, root = temporal_run
    d = Detector.from_file(r.bundle)
    frames = sorted(str(p) for p in (root / "v0").glob("*.png"))
    clip = d.predict_clip(frames)
    assert 0 <= clip.score <= 1 and clip.views == 1
    still = d.predict(frames[0])  # a still image is a clip of one repeated frame
    assert 0 <= still.score <= 1
    onnx = Detector.from_file(r.bundle, backend="onnx")
    assert abs(onnx.predict_clip(frames).score - clip.score) < 1e-4
    path = write_video(tmp_path / "clip.mp4", [np.random.default_rng(i).integers(0, 256, (48, 48, 3), dtype=np.uint8) for i in range(10)])
    v = d.predict_video(path, max_frames=8)
    assert len(v.frames) == 8 and v.score is not None
    assert len({f.score for f in v.frames}) <= 2  # frames share their clip's score: 8 frames, clips of 4


def test_evaluation_scores_one_row_per_video(temporal_run, tmp_path):
    from spoofguard.evaluation.evaluate import evaluate

    r, _ = temporal_run
    ev = evaluate(r.bundle, r.out / "split.csv", tmp_path / "ev", split="test", bootstrap=0)
    import csv

    rows = list(csv.DictReader(open(tmp_path / "ev" / "scores.csv")))
    test_videos = {s.video_id for s in read_manifest(r.out / "split.csv").split("test")}
    assert rows and sorted(row["video_id"] for row in rows) == sorted(test_videos)  # one row per video, every video


def test_the_server_scores_an_uploaded_video_as_clips(temporal_run, tmp_path):
    pytest.importorskip("av")
    pytest.importorskip("fastapi")
    import io

    from fastapi.testclient import TestClient

    from spoofguard.serve.app import ServeSettings, create_app
    from tests.conftest import write_video

    r, _ = temporal_run
    frames = [np.random.default_rng(i).integers(0, 256, (48, 48, 3), dtype=np.uint8) for i in range(8)]
    video = write_video(io.BytesIO(), frames, container="mp4").getvalue()
    with TestClient(create_app(ServeSettings(str(r.bundle), ui=False))) as client:
        assert client.get("/api/v1/model").json()["id"].startswith("temporal:")
        body = client.post("/api/v1/predict", files={"file": ("clip.mp4", video, "video/mp4")}).json()
    (tmp_path / "clip.mp4").write_bytes(video)
    want = Detector.from_file(r.bundle).predict_video(tmp_path / "clip.mp4", max_frames=len(body["frames"]))
    assert body["kind"] == "video" and len(body["frames"]) == 8
    assert body["score"] == pytest.approx(want.score, abs=1e-4)  # the clip model's answer, not per-frame single images
    assert len({f["score"] for f in body["frames"]}) <= 2  # 8 frames in clips of 4


def test_a_temporal_model_needs_videos(tiny_dataset, tmp_path):
    from spoofguard.errors import SpoofguardError
    from spoofguard.training.train import train

    with pytest.raises(SpoofguardError, match="video_id"):
        train(data=str(tiny_dataset), out=str(tmp_path / "r"), model="temporal", epochs=1, input_size=32, progress=False)
