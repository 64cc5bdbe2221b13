from pathlib import Path

import pytest

import spoofguard.data.importers.casia_fasd as casia
from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.errors import SpoofguardError
from tests.data.importers.fake_tree import touch

NAMES = [*(f"{i}.avi" for i in range(1, 9)), *(f"HR_{i}.avi" for i in range(1, 5))]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "CASIA_faceAntisp"
    touch(root, *(f"train_release/1/{n}" for n in NAMES), *(f"test_release/1/{n}" for n in NAMES),
          "test_release/2/1.avi", "test_release/2/HR_4.avi")
    (root / "train_release/1/notes.txt").write_text("not a video")
    return root


def by_id(result):
    return {s.video_id: s for s in result.manifest}


def test_fields_from_names_and_folders(tree):
    """Source of truth: bob.db.casia_fasd (models.py ``File.get_quality``: 1/3/5/7 normal, 2/4/6/8 low,
    HR_x high; ``get_type``: 3/4/HR_2 warped, 5/6/HR_3 cut, 7/8/HR_4 video; __init__.py ``db_mappings``
    ``real_normal`` = 1, ``real_low`` = 2 ...; folders ``<train|test>_release/<n>/``)."""
    result = import_dataset(tree, format="casia-fasd")
    rows = by_id(result)
    assert len(rows) == 26 and result.skipped == []
    table = {Path(k).name: (s.label, s.species, s.device) for k, s in rows.items() if k.startswith("train_release/1/")}
    assert table == {
        "1": ("bona_fide", "", "normal"), "2": ("bona_fide", "", "low"), "HR_1": ("bona_fide", "", "high"),
        "3": ("attack", "print", "normal"), "4": ("attack", "print", "low"), "HR_2": ("attack", "print", "high"),
        "5": ("attack", "cutout", "normal"), "6": ("attack", "cutout", "low"), "HR_3": ("attack", "cutout", "high"),
        "7": ("attack", "replay", "normal"), "8": ("attack", "replay", "low"), "HR_4": ("attack", "replay", "high"),
    }
    s = rows["test_release/2/HR_4"]
    assert (s.subject, s.session, s.split, s.path) == ("test-2", "", "test", str((tree / "test_release/2/HR_4.avi").resolve()))
    assert rows["train_release/1/1"].subject == "train-1" and rows["test_release/1/1"].subject == "test-1"
    assert {s.split for s in rows.values()} == {"train", "test"}


@pytest.mark.parametrize("protocol, kept", [
    ("low", {"2", "4", "6", "8"}),  # bob.db.casia_fasd: objects(qualities='low') -> db_mappings['*_low'] = 2, 4, 6, 8
    ("normal", {"1", "3", "5", "7"}),
    ("HIGH", {"HR_1", "HR_2", "HR_3", "HR_4"}),
    ("cut", {"1", "2", "HR_1", "5", "6", "HR_3"}),
    ("video", {"1", "2", "HR_1", "7", "8", "HR_4"}),
    ("overall", {Path(n).stem for n in NAMES}),
])
def test_test_scenarios(tree, protocol, kept):
    """Source of truth: bob.db.casia_fasd ``Database.objects(qualities=..., types=...)``: a quality keeps
    bona fide and attack videos of that quality; an attack type keeps every bona fide video and that type."""
    result = casia.import_casia_fasd(tree, protocol=protocol)
    train = {Path(s.video_id).name for s in result.manifest if s.split == "train"}
    assert train == kept
    assert all(why == f"not in protocol {protocol.lower()}" for _, why in result.skipped)
    assert len(result.skipped) == 26 - len(result.manifest)


def test_case_variants_and_odd_files(tmp_path):
    root = touch(tmp_path, "Data/Train_Release/3/hr_2.AVI", "Data/Train_Release/3/9.avi", "Data/Test_Release/x.avi")
    (root / "Data/Test_Release/4").mkdir()
    touch(root, "Data/Test_Release/4/2.avi")
    (root / "Data/Test_Release/4/2.avi").write_bytes(b"")
    assert casia.detect(root)
    result = casia.import_casia_fasd(root, check_images=True)
    assert [(s.video_id, s.species, s.device, s.subject) for s in result.manifest] == [
        ("Data/Train_Release/3/hr_2", "print", "high", "train-3")]
    reasons = {Path(p).name: why for p, why in result.skipped}
    assert "1-8.avi or HR_1-HR_4.avi" in reasons["9.avi"] and "subject folder" in reasons["x.avi"]
    assert "empty" in reasons["2.avi"]


def test_errors(tree, tmp_path):
    with pytest.raises(SpoofguardError, match="unknown CASIA-FASD protocol '1'.*low, normal, high, warped, cut"):
        casia.import_casia_fasd(tree, protocol="1")
    touch(tmp_path / "other", "live/a.avi")
    with pytest.raises(SpoofguardError, match="no train_release/test_release folders .* is this CASIA-FASD"):
        casia.import_casia_fasd(tmp_path / "other")
    touch(tmp_path / "empty", "train_release/1/clip.avi")
    with pytest.raises(SpoofguardError, match="no CASIA-FASD videos"):
        casia.import_casia_fasd(tmp_path / "empty")


def test_detect(tree, tmp_path):
    assert casia.detect(tree) and detect_format(tree) == "casia-fasd"
    others = {
        "folder": ["live/a.avi", "spoof/print/b.avi"],
        "oulu": ["Train_files/1_1_01_1.avi", "Test_files/1_3_36_1.avi"],
        "replay": ["train/real/client001_session01_webcam_authenticate_adverse_1.mov", "devel/attack/fixed/x.mov"],
        "msu": ["scene01/real/real_client002_android_SD_scene01.mp4"],
        "siw": ["Train/live/006/006-1-1-1-1.mov", "Test/spoof/007/007-2-3-4-1.mov"],
        "casia_frames": ["train_release/1/1/0001.jpg", "test_release/2/clip.avi"],  # no CASIA-named video
    }
    for name, files in others.items():
        assert not casia.detect(touch(tmp_path / name, *files)), name


def test_a_full_release_tree_by_quality(tmp_path):
    """Source of truth: bob.db.casia_fasd's file naming (``<group>_release/<id>/<stem>.avi``, the 12
    stems of ``db_mappings``): 20 training and 30 test subjects, each with all 12 videos; ``--protocol
    low``/``normal``/``high`` each select a third of them, bona fide and attacks alike, and the three
    thirds partition the set."""
    root = touch(tmp_path / "CASIA_faceAntisp", *(f"train_release/{i}/{n}" for i in range(1, 21) for n in NAMES),
                 *(f"test_release/{i}/{n}" for i in range(1, 31) for n in NAMES))
    everything = import_dataset(root, format="auto").manifest
    assert len(everything) == 50 * 12 and len({s.subject for s in everything}) == 50
    picked = {q: import_dataset(root, format="casia-fasd", protocol=q).manifest for q in ("low", "normal", "high")}
    for quality, m in picked.items():
        assert len(m) == 50 * 4 and {s.device for s in m} == {quality}
        assert sum(s.label == "bona_fide" for s in m) == 50  # one bona fide video per subject and quality
    assert {Path(s.path).stem for s in picked["low"]} == {"2", "4", "6", "8"}
    assert {Path(s.path).stem for s in picked["normal"]} == {"1", "3", "5", "7"}
    assert sorted(s.path for q in picked.values() for s in q) == sorted(s.path for s in everything)
