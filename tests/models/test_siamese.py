"""The siamese (prototype) model: trained prototypes, calibrated scores, enrolment without retraining."""

import numpy as np
import pytest
import torch

from spoofguard.cli import main
from spoofguard.errors import SpoofguardError
from spoofguard.inference.bundle import load_bundle, read_metadata
from spoofguard.inference.detector import Detector
from spoofguard.inference.enroll import enroll


@pytest.fixture(scope="module")
def siamese_run(tiny_dataset, tmp_path_factory):
    from spoofguard.training.train import train

    return train(data=str(tiny_dataset), out=str(tmp_path_factory.mktemp("siamese") / "run"), model="siamese", epochs=2,
                 input_size=32, subject_pattern=r"^(\d+)_", progress=False)


def test_siamese_trains_one_prototype_per_class(siamese_run):
    b = load_bundle(siamese_run.bundle)
    assert b.classes == ["bona_fide", "gelatine", "latex"]  # the species are the classes
    m = b.model
    assert m.prototypes.shape == (3, 128) and m.prototype_class.tolist() == [0, 1, 2]
    assert torch.allclose(m.prototypes.norm(dim=1), torch.ones(3), atol=1e-5)
    assert float(m.temperature) != 1.0  # calibrated on dev
    assert b.metadata["architecture"]["kwargs"]["prototypes"] == 3


def test_siamese_scores_like_every_model_and_exports(siamese_run, tiny_dataset):
    path = str(next(tiny_dataset.rglob("*.png")))
    t = Detector.from_file(siamese_run.bundle).predict(path)
    o = Detector.from_file(siamese_run.bundle, backend="onnx").predict(path)
    assert 0 <= t.score <= 1 and set(t.probabilities) == {"bona_fide", "gelatine", "latex"}
    assert abs(sum(t.probabilities.values()) - 1) < 1e-5 and abs(t.score - o.score) < 1e-4  # the export gate


def test_enrolling_a_species_adds_a_class_and_a_prototype(siamese_run, tiny_dataset, tmp_path):
    examples = sorted(str(p) for p in (tiny_dataset / "Fake" / "Latex").glob("*.png"))[:5]
    r = enroll(siamese_run.bundle, examples, tmp_path / "e.safetensors", species="Silicone")
    assert r.new_class and r.class_name == "silicone" and r.images == 5 and r.views >= 5
    b = load_bundle(r.bundle)
    assert b.classes == ["bona_fide", "gelatine", "latex", "silicone"]
    assert b.model.prototypes.shape[0] == 4 and b.model.prototype_class.tolist() == [0, 1, 2, 3]
    before = load_bundle(siamese_run.bundle).model.prototypes
    assert torch.equal(b.model.prototypes[:3], before)  # the old prototypes (and backbone) are untouched
    assert read_metadata(r.bundle)["enrolled"][0]["class"] == "silicone"
    p = Detector.from_file(r.bundle).predict(examples[0])
    assert "silicone" in p.probabilities
    assert load_bundle(siamese_run.bundle).classes == ["bona_fide", "gelatine", "latex"]  # the original bundle is unchanged


def test_enrolling_bona_fide_adds_a_prototype_to_class_zero(siamese_run, tiny_dataset, tmp_path):
    examples = sorted(str(p) for p in (tiny_dataset / "live").glob("*.png"))[:6]
    r = enroll(siamese_run.bundle, examples, tmp_path / "b.safetensors", bona_fide=True)
    b = load_bundle(r.bundle)
    assert not r.new_class and b.classes == ["bona_fide", "gelatine", "latex"]
    assert b.model.prototype_class.tolist() == [0, 1, 2, 0]
    assert Detector.from_file(r.bundle, backend="onnx").predict(examples[0]).score is not None


def test_enrolment_refusals(siamese_run, trained_run, tiny_dataset, tmp_path):
    examples = [str(next(tiny_dataset.rglob("*.png")))]
    with pytest.raises(SpoofguardError, match="only prototype models"):
        enroll(trained_run.bundle, examples, tmp_path / "x.safetensors", species="silicone")
    with pytest.raises(SpoofguardError, match="one at a time"):
        enroll(siamese_run.bundle, examples, tmp_path / "x.safetensors", species="silicone", bona_fide=True)
    with pytest.raises(SpoofguardError, match="could be used"):
        enroll(siamese_run.bundle, [str(tmp_path / "missing.png")], tmp_path / "x.safetensors", species="silicone")
    with pytest.raises(SpoofguardError, match="new file"):
        enroll(siamese_run.bundle, examples, siamese_run.bundle, species="silicone")
    assert main(["enroll", str(siamese_run.bundle), "--images", str(tiny_dataset / "Fake" / "Latex"), "--species", "playdoh",
                 "-o", str(tmp_path / "cli.safetensors")]) == 0
    assert main(["enroll", str(siamese_run.bundle), "--images", str(tmp_path / "nothing*.png"), "--species", "playdoh",
                 "-o", str(tmp_path / "cli2.safetensors")]) == 2


def test_a_held_out_species_is_not_a_class(tmp_path):
    """Leave-one-species-out with species as classes: the unseen species must not get a (never trained) class."""
    from spoofguard.training.train import train
    from tests.conftest import make_dataset

    root = make_dataset(tmp_path / "d", n_live=24, species=("gelatine", "latex", "silicone"), n_per_species=12, subjects=6)
    r = train(data=str(root), out=str(tmp_path / "run"), model="siamese", epochs=1, input_size=32, subject_pattern=r"^(\d+)_",
              protocol="leave-one-species-out:latex", progress=False)
    assert load_bundle(r.bundle).classes == ["bona_fide", "gelatine", "silicone"]


def test_a_single_attack_species_is_a_class_of_its_own(tmp_path):
    """Species as classes with one species (e.g. a plain spoof/ folder): its class is the species."""
    from spoofguard.training.train import train
    from tests.conftest import make_dataset

    root = make_dataset(tmp_path / "d", n_live=12, species=("spoof",), n_per_species=12, subjects=6)
    r = train(data=str(root), out=str(tmp_path / "run"), model="siamese", epochs=1, input_size=32, subject_pattern=r"^(\d+)_",
              progress=False)
    assert load_bundle(r.bundle).classes == ["bona_fide", "spoof"]
