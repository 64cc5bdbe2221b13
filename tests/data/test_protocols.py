import shutil
from collections import Counter

import pytest

from spoofguard.data.importers import import_dataset
from spoofguard.data.protocols import check_trainable, split_manifest
from spoofguard.errors import SpoofguardError
from tests.conftest import make_dataset


@pytest.fixture(scope="module")
def many_subjects(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("many"), n_live=120, n_per_species=60, subjects=40)
    return import_dataset(root, subject_pattern=r"^(\d+)_").manifest


def test_subject_split_shares_no_subject(many_subjects):
    m, protocol = split_manifest(many_subjects, "auto", seed=3)
    assert protocol == "subject"  # the default when subjects are known
    owners = {}
    for s in m:
        owners.setdefault(s.subject, set()).add(s.split)
    assert all(len(splits) == 1 for splits in owners.values())
    sizes = Counter(s.split for s in m)
    assert set(sizes) == {"train", "dev", "test"}
    assert 0.55 < sizes["train"] / len(m) < 0.85


def test_splits_are_deterministic_given_the_seed(many_subjects):
    a = [s.split for s in split_manifest(many_subjects, "subject", seed=1)[0]]
    b = [s.split for s in split_manifest(many_subjects, "subject", seed=1)[0]]
    c = [s.split for s in split_manifest(many_subjects, "subject", seed=2)[0]]
    assert a == b and a != c


def test_random_split_is_stratified_70_15_15(many_subjects):
    m, _ = split_manifest(many_subjects, "random", seed=0)
    for cls in ("bona_fide", "gelatine", "latex"):
        sizes = Counter(s.split for s in m if s.class_name == cls)
        total = sum(sizes.values())
        assert abs(sizes["train"] / total - 0.70) < 0.05
        assert abs(sizes["dev"] / total - 0.15) < 0.05


def test_random_split_keeps_identical_files_together(dataset_copy):
    for i in range(5):
        shutil.copy(dataset_copy / "live" / f"{i}_{i}.png", dataset_copy / "live" / f"copy_{i}.png")
    m, _ = split_manifest(import_dataset(dataset_copy).manifest, "random", seed=0)
    split_of = {s.path.split("/")[-1]: s.split for s in m}
    assert all(split_of[f"copy_{i}.png"] == split_of[f"{i}_{i}.png"] for i in range(5))


def test_subject_protocol_needs_subjects(tiny_dataset):
    with pytest.raises(SpoofguardError, match="needs a subject"):
        split_manifest(import_dataset(tiny_dataset).manifest, "subject")
    with pytest.raises(SpoofguardError, match="unknown protocol"):
        split_manifest(import_dataset(tiny_dataset).manifest, "leave-it")


def test_a_split_without_a_class_is_refused(tiny_dataset):
    m = import_dataset(tiny_dataset).manifest
    splits = ["train" if s.label == "attack" else "dev" for s in m]
    with pytest.raises(SpoofguardError, match="train split has no bona_fide"):
        check_trainable(m.with_splits(splits))
