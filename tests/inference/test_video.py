"""Videos through a detector (spoofguard.inference.video): sampled frames, per-frame predictions, one
score per video; only the Detector's public API is used."""

from types import SimpleNamespace

import numpy as np
import pytest

from spoofguard.errors import PredictionFailed, SpoofguardError
from spoofguard.inference.detector import Detector, Prediction
from spoofguard.inference.video import predict_frames
from tests.conftest import face_frame, write_video

av = pytest.importorskip("av")


def _video(path, frames, fps=10):
    return write_video(path, frames, fps)


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    d = tmp_path_factory.mktemp("captures")
    face = face_frame(size=(240, 320), at=(80, 20), face_width=140)
    blank = np.full((240, 320, 3), 90, np.uint8)
    _video(d / "clip.mp4", [face] * 6 + [blank] * 2 + [face] * 4)
    return d


def test_predict_video_scores_frames_and_reports_those_without_a_face(face_bundle, captures):
    v = Detector.from_file(face_bundle).predict_video(captures / "clip.mp4", max_frames=12)
    assert len(v.frames) == 12 and v.video_frames == 12
    assert v.frames_without_face == [6, 7]
    scored = [f.score for f in v.frames if f.score is not None]
    assert v.score == pytest.approx(np.mean(scored), abs=1e-6) and "2 of 12" in v.note
    assert Detector.from_file(face_bundle).predict_video(captures / "clip.mp4", max_frames=3).frames[-1].index == 11
    assert [f.index for f in Detector.from_file(face_bundle).predict_video(captures / "clip.mp4", every=5).frames] == [0, 5, 10]
    with pytest.raises(SpoofguardError, match="aggregate"):
        Detector.from_file(face_bundle).predict_video(captures / "clip.mp4", aggregate="mode")


def test_a_video_without_faces_has_no_score(face_bundle, tmp_path):
    path = _video(tmp_path / "room.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 4)
    v = Detector.from_file(face_bundle).predict_video(path)
    assert v.score is None and v.verdict == "no_face" and v.frames_without_face == [0, 1, 2, 3]


class _Public:
    """Just the public face of a Detector that video aggregation reads."""

    threshold, classes, no_result, is_temporal = 0.5, ["bona_fide", "attack"], "no_face", False

    def __init__(self, scores):
        self.scores = scores

    def predict_batch(self, images):
        return [Prediction(None, "no_face", 0.5, {}) if s is None else
                Prediction(s, "bona_fide" if s >= 0.5 else "attack", 0.5, {"bona_fide": s, "attack": 1 - s}) for s in self.scores]


def test_frames_are_aggregated_through_the_public_api_only():
    frames = [SimpleNamespace(index=i, time_s=i / 10, rgb=None) for i in range(4)]
    info = SimpleNamespace(frames=4, fps=10.0)
    v = predict_frames(_Public([0.2, None, 0.8, 0.9]), frames, info, "median")
    assert v.score == pytest.approx(0.8) and v.verdict == "bona_fide" and v.frames_without_face == [1] and "1 of 4" in v.note
    assert predict_frames(_Public([0.2, None, 0.3, 0.4]), frames, info, "max").verdict == "attack"
    assert predict_frames(_Public([None] * 4), frames, info).verdict == "no_face"

    class Broken(_Public):
        def predict_batch(self, images):
            raise SpoofguardError("a colour picture for a fingerprint model")

    with pytest.raises(PredictionFailed, match="cannot be scored"):
        predict_frames(Broken([]), frames, info)
