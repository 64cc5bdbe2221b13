"""The stages of a training run (spoofguard.training.stages), each on its own: the data (faces found
once, refusals before the run folder exists), the model build, the threshold and its dev figures."""

import numpy as np
import pytest
from PIL import Image

from spoofguard.errors import SpoofguardError
from spoofguard.modalities import Preprocessing
from spoofguard.training.config import DataSpec, FitSpec, ModelSpec
from spoofguard.training.stages import build, calibrate, dev_metrics, prepare_data, separation_warning
from tests.conftest import face_frame


def test_prepare_data_splits_usable_samples_and_names_the_classes(dataset_copy):
    (dataset_copy / "live" / "9_truncated.png").write_bytes(b"not a png")
    lines = []
    split = prepare_data(DataSpec(data=str(dataset_copy), subject_pattern=r"^(\d+)_"), Preprocessing("fingerprint", 32), seed=0,
                         say=lines.append)
    assert split.protocol == "subject" and {s.split for s in split.manifest} == {"train", "dev", "test"}
    assert [p for p, _ in split.skipped] == [str(dataset_copy / "live" / "9_truncated.png")] and "skipped 1 unreadable" in lines[0]
    assert split.classes(False) == ["bona_fide", "attack"] and split.classes(True) == ["bona_fide", "gelatine", "latex"]
    assert set(split.summary()) == {"train", "dev", "test"}


def test_prepare_data_refuses_one_class(tiny_dataset):
    with pytest.raises(SpoofguardError, match="both bona fide and attack"):
        prepare_data(DataSpec(data=str(tiny_dataset / "Fake")), Preprocessing("fingerprint", 32))


def test_build_fine_tunes_at_a_hundredth_of_the_learning_rate(trained_run):
    from spoofguard.inference.bundle import load_bundle
    from spoofguard.training.config import FINE_TUNE_LR_FACTOR
    from spoofguard.training.recipes import recipe_for

    start = load_bundle(trained_run.bundle)
    net = build(ModelSpec(model="padnet", init=str(trained_run.out)), start.preprocessing, FitSpec(), ["bona_fide", "attack"], start)
    assert net.recipe.lr == pytest.approx(recipe_for("padnet").lr * FINE_TUNE_LR_FACTOR) and not net.fitted
    assert net.model.arch_kwargs == start.model.arch_kwargs
    fresh = build(ModelSpec(model="seed-cnn"), Preprocessing("fingerprint", 48), FitSpec(lr=0.5), ["bona_fide", "attack"])
    assert fresh.recipe.lr == 0.5 and fresh.model.arch_kwargs["input_size"] == 48  # told the size its dense layer depends on


def test_calibrate_centres_the_threshold_and_reports_through_evaluation():
    from spoofguard.evaluation import error_rates

    scores = np.array([0.9, 0.8, 0.6, 0.4, 0.2, 0.1])
    labels = np.array(["bona_fide"] * 3 + ["attack"] * 3)
    cal = calibrate(scores, labels, np.array([""] * 3 + ["print"] * 3), "eer")
    assert 0.4 < cal.threshold < 0.6 and cal.source == "dev split (eer, centred)"
    rates = error_rates(scores, labels, threshold=cal.threshold)
    assert (cal.metrics["apcer_pooled"], cal.metrics["bpcer"], cal.metrics["accuracy"]) == (rates["apcer_pooled"], rates["bpcer"], 1.0)


def test_a_perfectly_separated_dev_is_warned_about():
    labels = np.array(["bona_fide"] * 3 + ["attack"] * 3)
    sep = dev_metrics(np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), labels, 0.5)
    assert sep["separated_gap"] == [0.3, 0.7] and "perfectly separated" in separation_warning(sep)
    mixed = dev_metrics(np.array([0.9, 0.8, 0.2, 0.3, 0.25, 0.1]), labels, 0.5)
    assert "separated_gap" not in mixed and separation_warning(mixed) == ""


def _face_dataset(root, n=8):
    """Bona fide: the portrait at different places; attacks: a washed-out, blurred 'print' of it."""
    from PIL import ImageFilter

    rng = np.random.default_rng(0)
    for i in range(n):
        for label in ("live", "print"):
            frame = Image.fromarray(face_frame(size=(240, 320), at=(int(rng.integers(0, 150)), int(rng.integers(0, 40))), face_width=140))
            if label == "print":
                frame = Image.blend(frame.filter(ImageFilter.GaussianBlur(2)), Image.new("RGB", frame.size, (230, 220, 200)), 0.3)
            (root / label).mkdir(parents=True, exist_ok=True)
            frame.save(root / label / f"{i}_{label}.jpg", quality=92)
    Image.new("RGB", (320, 240), (50, 60, 70)).save(root / "live" / "empty_room.jpg")
    return root


def test_training_uses_face_crops_found_once(tmp_path, monkeypatch):
    from spoofguard.inference.bundle import load_bundle
    from spoofguard.modalities import face
    from spoofguard.training.train import train

    data = _face_dataset(tmp_path / "faces")
    calls = []
    real = face.FaceFinder.detect
    monkeypatch.setattr(face.FaceFinder, "detect", lambda self, rgb: calls.append(1) or real(self, rgb))
    r = train(data=str(data), out=str(tmp_path / "run"), modality="face", model="padnet", epochs=2, input_size=32,
              face_scales=[1.0, 2.7], subject_pattern=r"^(\w+?)_", progress=False)
    assert len(calls) == 17  # every image once, for two epochs (the empty room included)
    assert [p for p, why in r.skipped] == [str(data / "live" / "empty_room.jpg")]
    pre = load_bundle(r.bundle).preprocessing
    assert pre.crop == "face" and pre.face_scales == [1.0, 2.7]
    # a second run reads the detections from the on-disk cache: the detector does not run again
    calls.clear()
    train(data=str(data), out=str(tmp_path / "run2"), modality="face", model="padnet", epochs=1, input_size=32,
          face_scales=[1.0, 2.7], progress=False)
    assert calls == []


def test_training_without_any_face_says_to_use_precropped(tmp_path):
    from spoofguard.training.train import train

    for label in ("live", "print"):
        (tmp_path / "d" / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (64, 64), (i * 20, 50, 60)).save(tmp_path / "d" / label / f"{i}.png")
    with pytest.raises(SpoofguardError, match="--precropped"):
        train(data=str(tmp_path / "d"), out=str(tmp_path / "run"), modality="face", epochs=1, progress=False)


def test_one_class_face_data_is_refused_before_any_face_is_looked_for(tmp_path, monkeypatch):
    """The class check runs before the face detector (which takes minutes on a real dataset)."""
    import numpy as np
    import pytest
    from PIL import Image

    import spoofguard.data.dataset as dataset
    from spoofguard.errors import SpoofguardError
    from spoofguard.training.train import train

    (tmp_path / "d" / "spoof").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((64, 64, 3), 40 * i, np.uint8)).save(tmp_path / "d" / "spoof" / f"{i}.png")

    def no_detector(*a, **k):
        raise AssertionError("the face detector ran before the class check")

    monkeypatch.setattr(dataset, "face_sources", no_detector)
    with pytest.raises(SpoofguardError, match="all 4 usable samples are attack"):
        train(data=str(tmp_path / "d"), out=str(tmp_path / "run"), modality="face", model="padnet", format="folder", progress=False)
    assert not (tmp_path / "run").exists()
