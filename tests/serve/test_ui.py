"""The Gradio UI's handlers called directly (no browser), the Blocks it builds, and mounting it under
FastAPI: offline, nothing reaches for the network."""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported, or it calls home

import math  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

gr = pytest.importorskip("gradio")
av = pytest.importorskip("av")
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from gradio.data_classes import FileData  # noqa: E402

from spoofguard.errors import SpoofguardError  # noqa: E402
from spoofguard.inference.detector import Detector  # noqa: E402
from spoofguard.serve import ui  # noqa: E402
from tests.conftest import face_frame, ridge_image, write_video  # noqa: E402


def _video(path, frames, fps=10):
    return write_video(path, frames, fps)


@pytest.fixture(scope="module")
def detector(face_bundle):
    return Detector.from_file(face_bundle)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """8 frames: a face, then 2 frames of an empty room, then the face again."""
    face = face_frame(size=(240, 320), at=(80, 20), face_width=140)
    blank = np.full((240, 320, 3), 90, np.uint8)
    return _video(tmp_path_factory.mktemp("ui") / "clip.mp4", [face] * 3 + [blank] * 2 + [face] * 3)


def _classes(label):
    """The class names behind the bars (the bars show them in words: "bona fide", not "bona_fide")."""
    words = {w: c for c, w in ui.WORDS.items()}
    return [words.get(c["label"], c["label"]) for c in label["confidences"]]


def test_verdict_at():
    assert ui.verdict_at(0.7, 0.5) == "bona_fide" and ui.verdict_at(0.5, 0.5) == "bona_fide"
    assert ui.verdict_at(0.3, 0.5) == "attack" and ui.verdict_at(None, 0.5) == "no_face"
    assert ui.verdict_at(None, 0.5, "no_finger") == "no_finger"


def test_the_bars_and_heading_are_words_not_identifiers(detector):
    label = ui.label_value("bona_fide", {"bona_fide": 0.8, "attack": 0.2}, ["bona_fide", "attack"])
    assert label["label"] == "bona fide" and [c["label"] for c in label["confidences"]] == ["bona fide", "attack"]


def test_a_blank_capture_for_a_fingerprint_model_says_no_finger(trained_run):
    det = Detector.from_file(trained_run.bundle)
    label, picture, text, plot, state = ui.analyse_image(det, np.full((64, 64, 3), 128, np.uint8), None)
    assert label["label"] == "no finger found" and "No finger found" in text and "face" not in text


def test_a_colour_video_for_a_fingerprint_model_is_prediction_failed(tmp_path):
    from spoofguard.inference.detector import PredictionFailed
    from spoofguard.serve.uploads import ApiError, Limits, PrivateFolder, video_prediction

    class Refusing:
        def predict_video(self, path, max_frames=None):
            raise PredictionFailed(f"{path}: a colour picture given to a fingerprint model")

    folder = PrivateFolder(parent=str(tmp_path))
    clip = tmp_path / "c.avi"
    write_video(clip, [face_frame() for _ in range(3)])
    with pytest.raises(ApiError) as e:
        video_prediction(Refusing(), clip.read_bytes(), folder, Limits())
    assert (e.value.status, e.value.code) == (422, "prediction_failed") and "colour picture" in e.value.message


def test_an_image_with_a_face_gives_verdict_probabilities_and_overlay(detector):
    frame = face_frame()
    label, picture, text, plot, state = ui.analyse_image(detector, frame, None)
    assert _classes(label) == ["bona_fide", "attack"]
    assert math.isclose(sum(c["confidence"] for c in label["confidences"]), 1.0, abs_tol=1e-5)
    assert label["label"] == ui.WORDS[ui.verdict_at(state.score, detector.threshold)]
    assert isinstance(picture, Image.Image) and picture.size == (frame.shape[1], frame.shape[0])
    assert "Verdict" in text and "threshold 0.500" in text and "1 face(s)" in text
    assert plot is None and state.kind == "image"


def test_an_image_without_a_face_is_a_message_not_a_crash(detector):
    label, picture, text, plot, state = ui.analyse_image(detector, np.full((240, 320, 3), 90, np.uint8), None)
    assert "No face found" in text and label["label"] == "no face found" and label["confidences"] is None
    assert "grey picture" in text  # the detector's hint that a fingerprint went to a face model
    # nothing to re-label: the slider leaves the message alone
    assert "No face found" in ui.relabel(state, 0.1)[2]


def test_no_input_asks_for_one(detector):
    label, picture, text, plot, state = ui.analyse_image(detector, None, 0.5)
    assert label is None and picture is None and state is None and "Analyse" in text
    assert ui.relabel(None, 0.3)[2] == text


def test_the_slider_relabels_the_page_only(detector):
    before = detector.threshold
    *_, state = ui.analyse_image(detector, face_frame(), None)
    s = state.score
    low, high = max(0.0, s - 0.01), min(1.0, s + 0.01)
    label_low, picture_low, text_low, _ = ui.relabel(state, low)
    label_high, picture_high, text_high, _ = ui.relabel(state, high)
    assert label_low["label"] == "bona fide" and label_high["label"] == "attack"
    assert "Verdict: bona fide" in text_low and "Verdict: attack" in text_high
    assert "model's own threshold 0.500" in text_high and "this page only" in text_high
    assert not np.array_equal(np.asarray(picture_low), np.asarray(picture_high))  # the verdict written on it
    assert _classes(label_low) == _classes(label_high)  # probabilities are the model's, whatever the slider
    assert detector.threshold == before and state.model_threshold == before
    assert detector.predict(face_frame()).threshold == before


def test_a_fingerprint_model_shows_its_region(trained_run):
    det = Detector.from_file(trained_run.bundle)
    image = np.repeat(ridge_image(np.random.default_rng(1), attack=False)[..., None], 3, axis=2)
    label, picture, text, plot, state = ui.analyse_image(det, image, None)
    assert _classes(label) == det.classes and picture.size == (image.shape[1], image.shape[0])
    assert "Verdict" in text and "face" not in text and state.prediction.faces is None


def test_a_video_gives_one_point_per_sampled_frame(detector, clip):
    label, picture, text, fig, state = ui.analyse_video(detector, clip, None, max_frames=8)
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "frame_scores")
    ys = np.asarray(line.get_ydata(), dtype=float)
    assert len(ys) == len(state.video.frames) == 8
    assert np.isnan(ys).sum() == len(state.video.frames_without_face) == 2  # gaps where there is no face
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-2:] == ["no face", "threshold 0.500"]
    assert _classes(label) == ["bona_fide", "attack"]
    assert picture is not None and picture.size == (320, 240)  # the frame with the lowest score
    assert "8 frame(s) sampled" in text and "2 frame(s) without a face" in text
    # the slider redraws the threshold line
    fig2 = ui.relabel(state, 0.25)[3]
    assert any(t.get_text() == "threshold 0.250" for t in fig2.axes[0].get_legend().get_texts())


def test_a_broken_video_is_a_readable_message(detector, tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    label, picture, text, plot, state = ui.analyse_video(detector, str(path), 0.5)
    assert text.startswith("### Could not analyse this video") and "Traceback" not in text
    assert str(tmp_path) not in text and "broken.mp4" in text.replace("\\", "")
    assert state is None and picture is None and plot is None


class _Failing:
    """A detector that breaks in a way nobody planned for, and checks the lock is held."""

    threshold, classes, uses_faces = 0.5, ["bona_fide", "attack"], True

    def __init__(self, lock):
        self.lock, self.held = lock, None

    def predict(self, image):
        self.held = self.lock.locked()
        raise RuntimeError("CUDA out of memory at /secret/path")


def test_unexpected_errors_are_short_and_the_lock_is_held(caplog):
    lock = threading.Lock()
    det = _Failing(lock)
    label, picture, text, plot, state = ui.analyse_image(det, np.zeros((8, 8, 3), np.uint8), None, lock=lock)
    assert det.held is True and not lock.locked()
    assert "RuntimeError" in text and "/secret/path" not in text and state is None
    assert "/secret/path" in caplog.text  # the details go to the server log


def test_user_errors_show_their_message(detector, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    text = ui.analyse_image(detector, str(bad), None)[2]
    assert "Could not analyse this image" in text and "notes.png" in text.replace("\\", "")
    with pytest.raises(SpoofguardError):  # the same error the handler turned into that message
        detector.predict(str(bad))


def test_build_ui_wires_the_handlers(detector, clip):
    blocks = ui.build_ui(detector, max_video_frames=8)
    assert isinstance(blocks, gr.Blocks)
    fns = {f.api_name: f for f in blocks.fns.values() if f.api_name}
    assert {"analyse_image", "analyse_webcam", "analyse_video", "relabel"} <= set(fns)
    webcam = [c for c in fns["analyse_webcam"].inputs if isinstance(c, gr.Image)][0]
    assert webcam.sources == ["webcam"]
    video = [c for c in fns["analyse_video"].inputs if isinstance(c, gr.Video)][0]
    assert video.sources == ["upload"]
    # an upload reaches the handler as it is: no ffmpeg re-encoding (there is no ffmpeg executable here)
    assert video.preprocess(FileData(path=str(clip), orig_name="clip.mp4")) == str(clip)
    *_, plot, state = fns["analyse_video"].fn(str(clip), 0.5)
    assert plot["visible"] is True and len(state.video.frames) == 8
    slider = [c for c in fns["relabel"].inputs if isinstance(c, gr.Slider)][0]
    assert slider.value == detector.threshold and (slider.minimum, slider.maximum) == (0, 1)
    # the page's handler through the components' own postprocessing, as gradio would run it
    label, picture, text, plot, state = fns["analyse_image"].fn(face_frame(), 0.0)
    verdict, shown = fns["analyse_image"].outputs[:2]
    data = verdict.postprocess(label)
    assert data.label == "bona fide" and [c.label for c in data.confidences] == ["bona fide", "attack"]  # words, not identifiers
    assert shown.postprocess(picture) is not None and plot["visible"] is False
    out = fns["relabel"].fn(state, 1.0)
    assert verdict.postprocess(out[0]).label == "attack" and detector.threshold == 0.5
    assert verdict.postprocess({"bona_fide": 0.2, "attack": 0.8}).label == "attack"  # plain dicts still work
    assert "padnet" in blocks.title


def test_mounted_under_fastapi_without_touching_the_network(detector, monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("no network in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    app = FastAPI()
    ui.mount_ui(app, detector, path="/ui")
    with TestClient(app) as client:
        page = client.get("/ui/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        config = client.get("/ui/config").json()
    assert config["analytics_enabled"] is False and config["run_history"] is False
    assert {"label", "plot", "slider", "video", "image"} <= {c["type"] for c in config["components"]}
    assert attempts == []
    app2 = gr.mount_gradio_app(FastAPI(), ui.build_ui(detector), path="/ui")  # the plain way works too
    with TestClient(app2) as client:
        assert client.get("/ui/").status_code == 200
    assert attempts == []
