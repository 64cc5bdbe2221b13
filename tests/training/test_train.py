import csv
import json

import numpy as np
import pytest
import torch

from spoofguard import Detector, load_bundle
from spoofguard.data.manifest import read_manifest
from spoofguard.errors import SpoofguardError
from spoofguard.training.train import resume, train


def test_run_folder_holds_everything(trained_run):
    out = trained_run.out
    for name in ("model.safetensors", "curves.png", "samples.png", "history.csv", "split.csv", "config.json"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "dev_loss", "train_acc", "dev_acc", "dev_eer"} <= set(rows[0])


def test_bundle_metadata_records_contract_and_provenance(trained_run):
    meta = load_bundle(trained_run.bundle).metadata
    assert meta["architecture"]["name"] == "padnet"
    assert meta["preprocessing"]["input_size"] == 32 and meta["preprocessing"]["channels"] == 1
    assert meta["classes"] == ["bona_fide", "attack"]
    assert meta["threshold"] == pytest.approx(trained_run.threshold)
    assert meta["threshold_source"].startswith("dev split")
    assert meta["training"]["protocol"] == "subject"
    assert len(meta["training"]["manifest_sha256"]) == 16
    assert meta["versions"]["torch"].startswith("2.")


def test_split_written_to_the_run_is_subject_disjoint(trained_run):
    m = read_manifest(trained_run.out / "split.csv")
    owners = {}
    for s in m:
        owners.setdefault(s.subject, set()).add(s.split)
    assert all(len(v) == 1 for v in owners.values())


def test_reloaded_bundle_reproduces_dev_scores_and_threshold(trained_run):
    """The threshold in the bundle is the EER point of the dev scores the reloaded model gives, centred
    in the gap of thresholds that make the same dev decisions."""
    from spoofguard.evaluation import eer
    from spoofguard.evaluation.thresholds import centred_threshold

    m = read_manifest(trained_run.out / "split.csv").split("dev")
    det = Detector(trained_run.bundle)
    preds = det.predict_batch([s.path for s in m])
    scores = np.array([p.score for p in preds])
    labels = np.array([s.label for s in m])
    assert centred_threshold("eer", scores, labels) == pytest.approx(trained_run.threshold, abs=1e-6)
    edge = eer(scores, labels)[1]
    assert ((scores >= edge) == (scores >= trained_run.threshold)).all()  # the same decisions as the EER point
    again = Detector(trained_run.bundle).predict_batch([s.path for s in m])
    assert [p.score for p in again] == [p.score for p in preds]


def test_existing_run_is_refused_and_overwrite_keeps_it(trained_run, tiny_dataset, tmp_path):
    kw = dict(data=str(tiny_dataset), out=str(trained_run.out), epochs=1, input_size=32, progress=False)
    before = trained_run.bundle.read_bytes()
    with pytest.raises(SpoofguardError, match="already holds a finished run"):
        train(**kw)
    assert trained_run.bundle.read_bytes() == before
    with pytest.raises(SpoofguardError, match="nothing to resume"):
        resume(trained_run.out)


def test_overwrite_moves_the_old_run_aside(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"old run")
    result = train(data=str(tiny_dataset), out=str(out), epochs=1, input_size=32, progress=False, overwrite=True)
    aside = list(tmp_path.glob("run.replaced-*"))
    assert len(aside) == 1 and (aside[0] / "model.safetensors").read_bytes() == b"old run"
    assert result.bundle.is_file()


def test_interrupted_run_resumes(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    train(data=str(tiny_dataset), out=str(out), epochs=1, input_size=32, progress=False, model="seed-cnn")
    # simulate an interruption after epoch 1: the bundle was never written
    (out / "model.safetensors").unlink()
    with pytest.raises(SpoofguardError, match="unfinished run"):
        train(data=str(tiny_dataset), out=str(out), epochs=2, input_size=32, progress=False, model="seed-cnn")
    result = resume(out, epochs=2, progress=False)
    assert result.epochs_run == 2
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert json.loads((out / "config.json").read_text())["config"]["model"] == "seed-cnn"


def test_resume_refuses_other_training_settings_and_takes_new_resources(tiny_dataset, tmp_path, capsys):
    from spoofguard.cli import main

    out = tmp_path / "run"
    train(data=str(tiny_dataset), out=str(out), epochs=1, input_size=32, progress=False, model="seed-cnn")
    (out / "model.safetensors").unlink()
    before = sorted(p.name for p in out.rglob("*"))
    # the command typed again with --resume: the same settings pass; another model or data is refused, nothing touched
    assert main(["train", "--resume", "--out", str(out), "--model", "padnet", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "model: run 'seed-cnn', now 'padnet'" in err and "data:" in err and "Traceback" not in err
    assert sorted(p.name for p in out.rglob("*")) == before
    with pytest.raises(SpoofguardError, match="input_size"):
        resume(out, input_size=64)
    # what the run runs on may change; the same data named by another spelling of its path is the same data
    result = resume(out, epochs=2, progress=False, data=str(tiny_dataset / ".." / tiny_dataset.name), model="seed-cnn", workers=0)
    assert result.epochs_run == 2
    assert json.loads((out / "config.json").read_text())["config"]["workers"] == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "--epochs must be at least 1"),
        ({"model": "nope"}, "unknown model"),
        ({"modality": "iris"}, "--modality"),
        ({"threshold_rule": "median"}, "threshold"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(tiny_dataset, tmp_path, kwargs, message):
    out = tmp_path / "run"
    with pytest.raises(SpoofguardError, match=message):
        train(data=str(tiny_dataset), out=str(out), input_size=32, progress=False, **{"epochs": 1, **kwargs})
    assert not out.exists()


def test_single_class_dataset_is_refused(tiny_dataset, tmp_path):
    with pytest.raises(SpoofguardError, match="both bona fide and attack"):
        train(data=str(tiny_dataset / "live" / ".."/ "Fake"), out=str(tmp_path / "r"), epochs=1, input_size=32, progress=False)
    assert not (tmp_path / "r").exists()


def test_corrupt_images_are_skipped_with_a_warning(dataset_copy, tmp_path, capsys):
    good = (dataset_copy / "live" / "0_0.png").read_bytes()
    (dataset_copy / "live" / "9_truncated.png").write_bytes(good[:80])
    result = train(data=str(dataset_copy), out=str(tmp_path / "r"), epochs=1, input_size=32, progress=False, model="seed-cnn")
    assert "skipped 1 unreadable image" in capsys.readouterr().out
    assert any(p.endswith("9_truncated.png") for p, _ in result.skipped)
    assert "9_truncated.png" not in (tmp_path / "r" / "split.csv").read_text()


def test_species_as_classes_trains_a_multiclass_bundle(tiny_dataset, tmp_path):
    result = train(data=str(tiny_dataset), out=str(tmp_path / "r"), epochs=1, input_size=32, progress=False,
                   model="seed-cnn", species_as_classes=True)
    b = load_bundle(result.bundle)
    assert b.classes == ["bona_fide", "gelatine", "latex"]
    from tests.conftest import ridge_image

    p = Detector(b).predict(ridge_image(np.random.default_rng(0), attack=True))  # a blank picture is "no finger": no probabilities
    assert set(p.probabilities) == set(b.classes)
    with torch.no_grad():
        assert b.model(torch.zeros(1, 1, 32, 32)).shape == (1, 3)


@pytest.mark.parametrize("modality", ["fingerprint", "face"])
def test_images_of_different_modes_train_together(dataset_copy, tmp_path, modality):
    """Grey, RGB, RGBA, palette and 16-bit files in one dataset all reach the model in its own format."""
    from PIL import Image

    modes = ["RGB", "RGBA", "P", "I;16"]
    for i, path in enumerate(sorted((dataset_copy / "live").glob("*.png"))[:8]):
        img = Image.open(path)
        mode = modes[i % len(modes)]
        converted = Image.fromarray(np.asarray(img).astype(np.uint16) * 257) if mode == "I;16" else img.convert(mode)
        converted.save(path)
    result = train(data=str(dataset_copy), out=str(tmp_path / "r"), epochs=1, input_size=32, progress=False,
                   model="seed-cnn", modality=modality, precropped=modality == "face")
    assert result.skipped == []
    assert load_bundle(result.bundle).preprocessing.channels == (1 if modality == "fingerprint" else 3)


def test_the_same_seed_gives_the_same_weights(tiny_dataset, tmp_path):
    """Issue 18: augmentation was drawn from albumentations' unseeded generator, so two runs differed from epoch 1."""
    digests = []
    for name in ("a", "b"):
        r = train(data=str(tiny_dataset), out=str(tmp_path / name), model="padnet", epochs=2, input_size=32, seed=3,
                  subject_pattern=r"^(\d+)_", deterministic=True, progress=False)
        digests.append(load_bundle(r.bundle).metadata["weights_sha256"])
    assert digests[0] == digests[1]
    other = train(data=str(tiny_dataset), out=str(tmp_path / "c"), model="padnet", epochs=2, input_size=32, seed=4,
                  subject_pattern=r"^(\d+)_", deterministic=True, progress=False)
    assert load_bundle(other.bundle).metadata["weights_sha256"] != digests[0]
