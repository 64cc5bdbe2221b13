"""Held-out protocols: leave-one-species-out, cross-device, cross-dataset, official splits without dev."""

from collections import Counter
from dataclasses import replace

import pytest

from spoofguard.data.importers import import_dataset
from spoofguard.data.manifest import Manifest, write_manifest
from spoofguard.data.protocols import parse_protocol, split_manifest
from spoofguard.errors import SpoofguardError
from tests.conftest import make_dataset


@pytest.fixture(scope="module")
def three_species(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("loso"), n_live=60, species=("gelatine", "latex", "silicone"), n_per_species=30, subjects=20)
    return import_dataset(root, subject_pattern=r"^(\d+)_").manifest


def test_leave_one_species_out_keeps_the_species_out_of_training(three_species):
    m, protocol = split_manifest(three_species, "leave-one-species-out:latex", seed=0)
    assert protocol == "leave-one-species-out:latex (subject)"
    by_split = {sp: Counter(s.class_name for s in m if s.split == sp) for sp in ("train", "dev", "test")}
    assert "latex" not in by_split["train"] and "latex" not in by_split["dev"]
    assert set(by_split["test"]) == {"bona_fide", "latex"}  # judged on the unseen attack only
    assert {"gelatine", "silicone", "bona_fide"} <= set(by_split["train"])
    subjects = {sp: {s.subject for s in m if s.split == sp} for sp in ("train", "dev", "test")}
    assert not subjects["train"] & subjects["test"]


def test_leave_one_species_out_refusals(three_species):
    with pytest.raises(SpoofguardError, match="no attack species 'mask'.*gelatine, latex, silicone"):
        split_manifest(three_species, "leave-one-species-out:mask")
    one = Manifest([s for s in three_species if s.species in ("", "latex")])
    with pytest.raises(SpoofguardError, match="at least two attack species"):
        split_manifest(one, "leave-one-species-out:latex")
    with pytest.raises(SpoofguardError, match="needs what to hold out"):
        parse_protocol("leave-one-species-out")
    with pytest.raises(SpoofguardError, match="unknown protocol"):
        parse_protocol("leave-two-out:latex")


def test_cross_device_tests_on_the_held_out_device(three_species):
    devices = Manifest([replace(s, device="sensorA" if int(s.subject) % 2 else "sensorB") for s in three_species])
    m, protocol = split_manifest(devices, "cross-device:sensorA", seed=0)
    assert protocol == "cross-device:sensorA"
    assert {s.device for s in m if s.split == "test"} == {"sensorA"}
    assert {s.device for s in m if s.split != "test"} == {"sensorB"} and {s.split for s in m} == {"train", "dev", "test"}
    with pytest.raises(SpoofguardError, match="devices are sensorA, sensorB"):
        split_manifest(devices, "cross-device:sensorC")


def test_cross_dataset_tests_on_the_other_manifest(three_species, tmp_path):
    other_root = make_dataset(tmp_path / "other", n_live=8, n_per_species=4, subjects=4, seed=7)
    other = import_dataset(other_root).manifest
    write_manifest(other, tmp_path / "other.csv")
    m, protocol = split_manifest(three_species, f"cross-dataset:{tmp_path / 'other.csv'}", seed=0)
    test = [s for s in m if s.split == "test"]
    assert len(test) == len(other) and {s.path for s in test} == {s.path for s in other}
    assert Counter(s.split for s in m if s.path not in {t.path for t in test}).keys() == {"train", "dev"}
    write_manifest(three_species, tmp_path / "same.csv")
    with pytest.raises(SpoofguardError, match="in both datasets"):
        split_manifest(three_species, f"cross-dataset:{tmp_path / 'same.csv'}")


def test_an_official_split_without_dev_gets_dev_from_train(three_species):
    official = Manifest([replace(s, split="test" if int(s.subject) < 5 else "train") for s in three_species])
    m, protocol = split_manifest(official, "auto", seed=0)
    assert protocol.startswith("manifest (dev carved from train")
    assert [s.split for s in m if s.split == "test"] == [s.split for s in official if s.split == "test"]  # test untouched
    dev_subjects = {s.subject for s in m if s.split == "dev"}
    assert dev_subjects and all(int(x) >= 5 for x in dev_subjects)


def test_train_and_evaluate_with_a_held_out_species(tmp_path):
    from spoofguard.cli import main
    from spoofguard.inference.bundle import read_metadata
    from spoofguard.training.train import train

    root = make_dataset(tmp_path / "d", n_live=24, species=("gelatine", "latex", "silicone"), n_per_species=12, subjects=6)
    r = train(data=str(root), out=str(tmp_path / "run"), model="seed-cnn", input_size=32, epochs=1, subject_pattern=r"^(\d+)_",
              protocol="leave-one-species-out:latex", progress=False)
    assert read_metadata(r.bundle)["training"]["protocol"].startswith("leave-one-species-out:latex")
    assert main(["evaluate", str(r.bundle), "--data", str(r.out / "split.csv"), "--split", "test", "--out", str(tmp_path / "ev"),
                 "--bootstrap", "0"]) == 0
    import json

    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(m["apcer_per_species"]) == {"latex"}


def _nuaa_with_lists(root, subjects=6, per=6):
    """A NUAA-style tree (noise pictures) whose official lists put subjects 1-4 in train, 5-6 in test."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    lists = {"client_train_raw.txt": [], "imposter_train_raw.txt": [], "client_test_raw.txt": [], "imposter_test_raw.txt": []}
    for kind in ("Client", "Imposter"):
        for sub in range(1, subjects + 1):
            for i in range(per):
                rel = f"{sub:04d}/{sub:04d}_00_00_01_{i}.jpg"
                path = root / f"{kind}Raw" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path)
                part = "train" if sub <= 4 else "test"
                lists[f"{kind.lower()}_{part}_raw.txt"].append(rel.replace("/", "\\"))
    for name, rels in lists.items():
        (root / name).write_text("\r\n".join(rels) + "\r\n")
    return root


def test_official_protocol_lists_from_the_dataset_folder(tmp_path):
    from spoofguard.data.sources import load_samples

    root = _nuaa_with_lists(tmp_path / "NUAA")
    m = load_samples(root, format="nuaa", protocol="official:nuaa").manifest
    split, protocol = split_manifest(m, "official:nuaa", seed=0)
    assert protocol == "official:nuaa (dev carved from train)"
    subjects = {sp: {s.subject for s in split if s.split == sp} for sp in ("train", "dev", "test")}
    assert subjects["test"] == {"0005", "0006"} and subjects["dev"] and subjects["dev"] <= {"0001", "0002", "0003", "0004"}
    (tmp_path / "m.csv").write_text("path,label\n")
    with pytest.raises(SpoofguardError, match="pass the dataset folder"):
        load_samples(tmp_path / "m.csv", protocol="official:nuaa")


def test_train_on_an_official_protocol(tmp_path):
    from spoofguard.inference.bundle import read_metadata
    from spoofguard.training.train import train

    root = _nuaa_with_lists(tmp_path / "NUAA")
    r = train(data=str(root), format="nuaa", protocol="official:nuaa", out=str(tmp_path / "run"), modality="face", precropped=True,
              model="seed-cnn", input_size=32, epochs=1, progress=False)
    assert read_metadata(r.bundle)["training"]["protocol"] == "official:nuaa (dev carved from train)"
