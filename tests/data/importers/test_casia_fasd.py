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
    result = import_dataset(tree, format="casia-fasd")
    rows = by_id(result)
    assert len(rows) == 26 and result.skipped == []
    table = {Path(k).name: (s.label, s.species, s.device) for k, s in rows.items() if k.startswith("train_release/1/")}
    assert table == {
        "1": ("bona_fide", "", "low"), "2": ("bona_fide", "", "normal"), "HR_1": ("bona_fide", "", "high"),
        "3": ("attack", "print", "low"), "4": ("attack", "print", "normal"), "HR_2": ("attack", "print", "high"),
        "5": ("attack", "cutout", "low"), "6": ("attack", "cutout", "normal"), "HR_3": ("attack", "cutout", "high"),
        "7": ("attack", "replay", "low"), "8": ("attack", "replay", "normal"), "HR_4": ("attack", "replay", "high"),
    }
    s = rows["test_release/2/HR_4"]
    assert (s.subject, s.session, s.split, s.path) == ("test-2", "", "test", str((tree / "test_release/2/HR_4.avi").resolve()))
    assert rows["train_release/1/1"].subject == "train-1" and rows["test_release/1/1"].subject == "test-1"
    assert {s.split for s in rows.values()} == {"train", "test"}


@pytest.mark.parametrize("protocol, kept", [
    ("low", {"1", "3", "5", "7"}),
    ("HIGH", {"HR_1", "HR_2", "HR_3", "HR_4"}),
    ("cut", {"1", "2", "HR_1", "5", "6", "HR_3"}),
    ("video", {"1", "2", "HR_1", "7", "8", "HR_4"}),
    ("overall", {Path(n).stem for n in NAMES}),
])
def test_test_scenarios(tree, protocol, kept):
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
