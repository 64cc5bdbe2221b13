"""`data check`: leakage across splits (subjects, videos, identical and near-identical files) and warnings."""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from spoofguard.cli import main
from spoofguard.data.check import check_manifest
from spoofguard.data.importers import import_dataset
from spoofguard.data.manifest import Manifest, write_manifest
from spoofguard.data.protocols import split_manifest
from tests.conftest import make_dataset


def _textures(root, n_live=24, n_attack=12, subjects=6):
    """Distinct smooth random textures (unlike ridge gratings of similar angle, no two look alike)."""
    rng = np.random.default_rng(0)
    for folder, n in (("live", n_live), ("Fake/Latex", n_attack)):
        (root / folder).mkdir(parents=True)
        for i in range(n):
            small = rng.integers(0, 256, (6, 6), dtype=np.uint8)
            Image.fromarray(small).resize((72, 64), Image.Resampling.BICUBIC).save(root / folder / f"{i % subjects}_{i}.png")
    return root


@pytest.fixture()
def clean(tmp_path):
    root = _textures(tmp_path / "d")
    m, _ = split_manifest(import_dataset(root, subject_pattern=r"^(\d+)_").manifest, "subject", seed=0)
    return m


def _kinds(report):
    return {f.kind: f.leak for f in report.findings}


def test_a_subject_disjoint_split_is_clean(clean):
    assert not check_manifest(clean).leaks


def test_a_subject_in_two_splits_leaks(clean):
    moved = Manifest([replace(s, split="test") if s.subject == "0" and s.split != "test" and i % 2 else s for i, s in enumerate(clean)])
    kinds = _kinds(check_manifest(moved))
    assert kinds.get("subjects_across_splits") is True


def test_identical_and_near_identical_files_across_splits_leak(clean, tmp_path):
    train = next(s for s in clean if s.split == "train")
    copy = tmp_path / "copy.png"
    copy.write_bytes(open(train.path, "rb").read())
    img = Image.open(train.path)
    near = tmp_path / "near.jpg"
    img.crop((1, 1, img.width - 1, img.height - 1)).convert("L").save(near, quality=80)  # re-encoded, slightly cropped
    extra = [replace(train, path=str(copy), split="test", subject="99"), replace(train, path=str(near), split="dev", subject="98")]
    report = check_manifest(Manifest(list(clean) + extra))
    kinds = _kinds(report)
    assert kinds.get("identical_across_splits") is True and kinds.get("near_duplicates_across_splits") is True
    near_finding = next(f for f in report.findings if f.kind == "near_duplicates_across_splits")
    assert any("near.jpg" in e for e in near_finding.examples)


def test_video_frames_in_two_splits_leak(clean):
    one_train = next(s.path for s in clean if s.split == "train")
    one_test = next(s.path for s in clean if s.split == "test")
    tagged = Manifest([replace(s, video_id="v1") if s.path in (one_train, one_test) else s for s in clean])
    assert _kinds(check_manifest(tagged)).get("videos_across_splits") is True


def test_warnings_duplicates_tiny_images_imbalance_without_splits(tmp_path):
    root = make_dataset(tmp_path / "d", n_live=40, n_per_species=2, species=("latex",), subjects=4)
    first = sorted((root / "Fake" / "Latex").glob("*.png"))[0]
    (root / "Fake" / "Latex" / "dup_copy1.png").write_bytes(first.read_bytes())
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / "live" / "tiny.png")
    report = check_manifest(import_dataset(root).manifest, min_side=32)
    kinds = _kinds(report)
    assert kinds == {"identical_files": False, "tiny_images": False, "class_imbalance": False}
    assert not report.leaks  # no splits, nothing can leak


def test_cli_exit_status_says_whether_it_leaks(clean, tmp_path, capsys):
    write_manifest(clean, tmp_path / "ok.csv")
    assert main(["data", "check", str(tmp_path / "ok.csv")]) == 0
    leaky = Manifest([replace(s, split="test") if i == 0 and s.split != "test" else s for i, s in enumerate(clean)])
    leaky = Manifest(list(leaky) + [replace(list(clean)[0], split="dev" if list(clean)[0].split != "dev" else "train")])
    write_manifest(leaky, tmp_path / "leaky.csv")
    assert main(["data", "check", str(tmp_path / "leaky.csv")]) == 1
    assert "LEAK" in capsys.readouterr().out
