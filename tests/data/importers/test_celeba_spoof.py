"""CelebA-Spoof importer: a fake Data/ + metas/intra_test tree."""

import json
from pathlib import Path

import pytest
from PIL import Image

from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.data.importers.celeba_spoof import detect
from spoofguard.errors import SpoofguardError


def img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (120, 90, 60)).save(path, format="PNG" if path.suffix == ".png" else "JPEG")
    return path


def label(kind=0, light=0, place=0, spoof=0):
    return [0] * 40 + [kind, light, place, spoof]


TRAIN = {
    "Data/train/4980/live/000001.jpg": label(),
    "Data/train/4980/spoof/000002.jpg": label(2, 2, 2, 1),       # poster, strong, outdoor
    "Data/train/5000/spoof/000003.jpg": label(),                 # says live, lies in spoof/
    "Data/train/5000/spoof/000004.jpg": label(9, 1, 1, 1),       # phone: listed, not on disk
}
TEST = {
    "Data/test/6000/live/000005.jpg": label(),
    "Data/test/6000/spoof/000006.png": label(10, 4, 1, 1),       # 3d mask, dark, indoor
}


def celeba(root: Path, labels: bool = True) -> Path:
    for key in list(TRAIN)[:3] + list(TEST):
        img(root / key)
    (root / "Data/train/4980/live/000001_BB.txt").write_text("10 10 50 50 0.9")
    img(root / "Data/test/6000/spoof/000007.jpg")                # not in test_label.json
    if labels:
        meta = root / "metas" / "intra_test"
        meta.mkdir(parents=True)
        (meta / "train_label.json").write_text(json.dumps(TRAIN))
        (meta / "test_label.json").write_text(json.dumps(TEST))
    return root


def by_name(manifest):
    return {Path(s.path).name: s for s in manifest}


def test_fields_from_label_files(tmp_path):
    result = import_dataset(celeba(tmp_path), format="celeba-spoof")
    s = by_name(result.manifest)
    assert set(s) == {"000001.jpg", "000002.jpg", "000005.jpg", "000006.png"}
    live = s["000001.jpg"]
    assert (live.label, live.species, live.subject, live.session, live.device, live.video_id, live.split) == (
        "bona_fide", "", "4980", "", "", "", "train")
    poster = s["000002.jpg"]
    assert (poster.label, poster.species, poster.session, poster.split) == ("attack", "poster", "strong-outdoor", "train")
    mask = s["000006.png"]
    assert (mask.species, mask.session, mask.subject, mask.split) == ("3d_mask", "dark-indoor", "6000", "test")
    why = {Path(p).name: w for p, w in result.skipped}
    assert set(why) == {"000003.jpg", "000004.jpg", "000007.jpg"}
    assert "says live" in why["000003.jpg"] and "not on disk" in why["000004.jpg"] and "not in test_label.json" in why["000007.jpg"]
    assert len(import_dataset(tmp_path, format="celeba-spoof", protocol="intra_test").manifest) == 4


def test_without_label_files_uses_folders(tmp_path):
    result = import_dataset(celeba(tmp_path, labels=False), format="celeba-spoof")
    s = by_name(result.manifest)
    assert len(s) == 6
    assert (s["000003.jpg"].label, s["000003.jpg"].species, s["000003.jpg"].split) == ("attack", "unknown", "train")
    assert (s["000005.jpg"].label, s["000005.jpg"].split, s["000005.jpg"].subject) == ("bona_fide", "test", "6000")
    assert sorted(Path(p).name for p, _ in result.skipped) == ["test_label.json", "train_label.json"]
    with pytest.raises(SpoofguardError, match="train_label.json"):
        import_dataset(tmp_path, format="celeba-spoof", protocol="intra_test")


def test_user_errors(tmp_path):
    with pytest.raises(SpoofguardError, match="intra_test"):
        import_dataset(celeba(tmp_path / "c"), format="celeba-spoof", protocol="2")
    (tmp_path / "c" / "metas" / "intra_test" / "test_label.json").write_text("{not json")
    with pytest.raises(SpoofguardError, match="not a CelebA-Spoof label file"):
        import_dataset(tmp_path / "c", format="celeba-spoof")
    img(tmp_path / "x" / "live" / "a.jpg")
    with pytest.raises(SpoofguardError, match="is this CelebA-Spoof"):
        import_dataset(tmp_path / "x", format="celeba-spoof")


def test_detect(tmp_path):
    assert detect(celeba(tmp_path / "a")) and detect_format(tmp_path / "a") == "celeba-spoof"
    assert detect(celeba(tmp_path / "b", labels=False))
    img(tmp_path / "generic" / "train" / "live" / "1.jpg"), img(tmp_path / "generic" / "train" / "spoof" / "2.jpg")
    img(tmp_path / "data-only" / "Data" / "train" / "x" / "1.jpg")
    img(tmp_path / "nuaa" / "ClientRaw" / "0001" / "0001_00_00_01_0.jpg")
    img(tmp_path / "nuaa" / "ImposterRaw" / "0001" / "0001_00_00_01_0.jpg")
    img(tmp_path / "livdet" / "Training" / "Live" / "1_1.png"), img(tmp_path / "livdet" / "Training" / "Fake" / "Latex" / "1_1.png")
    for name in ("generic", "data-only", "nuaa", "livdet"):
        assert not detect(tmp_path / name), name
