from pathlib import Path

import pytest

import spoofguard.data.importers.msu_mfsd as msu
from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.errors import SpoofguardError
from tests.data.importers.fake_tree import touch


def videos(client: str) -> list[str]:
    return [
        f"scene01/real/real_client{client}_android_SD_scene01.mp4",
        f"scene01/real/real_client{client}_laptop_SD_scene01.mov",
        f"scene01/attack/attack_client{client}_android_SD_printed_photo_scene01.mp4",
        f"scene01/attack/attack_client{client}_laptop_SD_ipad_video_scene01.mov",
        f"scene01/attack/attack_client{client}_laptop_SD_iphone_video_scene01.mov",
    ]


@pytest.fixture
def tree(tmp_path):
    root = touch(tmp_path / "MSU-MFSD", *videos("002"), *videos("013"))
    (root / "train_sub_list.txt").write_text("02\n03\n")
    (root / "test_sub_list.txt").write_text("013\n")
    (root / "scene01/real/real_client002_android_SD_scene01.face").write_text("0 1 2 3 4\n")
    return root


def by_name(result):
    return {Path(s.path).stem: s for s in result.manifest}


def test_fields_and_official_split(tree):
    result = import_dataset(tree, format="msu-mfsd")
    rows = by_name(result)
    assert len(rows) == 10 and result.skipped == []
    s = rows["attack_client002_laptop_SD_ipad_video_scene01"]
    assert (s.label, s.species, s.subject, s.session, s.device, s.split) == ("attack", "replay", "002", "", "laptop", "train")
    assert s.video_id == "scene01/attack/attack_client002_laptop_SD_ipad_video_scene01"
    assert s.path == str((tree / "scene01/attack/attack_client002_laptop_SD_ipad_video_scene01.mov").resolve())
    assert (rows["attack_client013_android_SD_printed_photo_scene01"].species,
            rows["attack_client013_android_SD_printed_photo_scene01"].device) == ("print", "android")
    assert rows["attack_client013_laptop_SD_iphone_video_scene01"].species == "replay"
    real = rows["real_client013_android_SD_scene01"]
    assert (real.label, real.species, real.split, real.subject) == ("bona_fide", "", "test", "013")
    assert {s.split for s in rows.values() if s.subject == "002"} == {"train"}


def test_unlisted_subject_and_missing_lists(tree):
    touch(tree, *videos("042"))
    result = msu.import_msu_mfsd(tree)
    assert len(result.manifest) == 10 and len(result.skipped) == 5
    assert all("client 042 is in neither train_sub_list.txt nor test_sub_list.txt" == why for _, why in result.skipped)
    (tree / "test_sub_list.txt").unlink()
    result = msu.import_msu_mfsd(tree)
    assert len(result.manifest) == 15 and {s.split for s in result.manifest} == {""}
    assert [(Path(p).name, why.split(",")[0]) for p, why in result.skipped] == [("test_sub_list.txt", "missing")]
    (tree / "train_sub_list.txt").unlink()
    result = msu.import_msu_mfsd(tree)
    assert len(result.manifest) == 15 and result.skipped == [] and not result.manifest.has_splits


def test_lists_in_an_information_folder_and_case_variants(tmp_path):
    root = touch(tmp_path, "Scene01/Real/real_client005_android_SD_scene01.MP4",
                 "Scene01/Attack/attack_client006_laptop_SD_printed_photo_scene01.mov")
    (root / "information").mkdir()
    (root / "information/train_sub_list.txt").write_text("5 ")
    (root / "information/test_sub_list.txt").write_text("6\n")
    assert msu.detect(root)
    rows = by_name(msu.import_msu_mfsd(root))
    assert {k: (s.label, s.split) for k, s in rows.items()} == {
        "real_client005_android_SD_scene01": ("bona_fide", "train"),
        "attack_client006_laptop_SD_printed_photo_scene01": ("attack", "test")}


def test_odd_files_are_skipped_with_reasons(tree):
    touch(tree, "scene01/real/attack_client002_android_SD_printed_photo_scene01b.mp4",
          "scene01/attack/attack_client002_android_SD_mask_scene01.mp4",
          "scene01/attack/clip.mp4", "scene01/loose.mp4")
    (tree / "scene01/real/real_client013_laptop_SD_scene01.mov").write_bytes(b"")
    result = msu.import_msu_mfsd(tree, check_images=True)
    reasons = {Path(p).name: why for p, why in result.skipped}
    assert "starts with 'attack' but the file is in real/" in reasons["attack_client002_android_SD_printed_photo_scene01b.mp4"]
    assert "neither printed_photo nor a video" in reasons["attack_client002_android_SD_mask_scene01.mp4"]
    assert "file name is not" in reasons["clip.mp4"] and "scene01/real or scene01/attack" in reasons["loose.mp4"]
    assert "empty" in reasons["real_client013_laptop_SD_scene01.mov"]
    assert len(result.manifest) == 9


def test_errors(tree, tmp_path):
    with pytest.raises(SpoofguardError, match="MSU-MFSD has no protocol '1'"):
        msu.import_msu_mfsd(tree, protocol="1")
    touch(tmp_path / "other", "live/a.mp4")
    with pytest.raises(SpoofguardError, match="no scene01/ folder .* is this MSU-MFSD"):
        msu.import_msu_mfsd(tmp_path / "other")
    touch(tmp_path / "empty", "scene01/real/clip.mp4")
    with pytest.raises(SpoofguardError, match="no MSU-MFSD videos"):
        msu.import_msu_mfsd(tmp_path / "empty")


def test_detect(tree, tmp_path):
    assert msu.detect(tree) and detect_format(tree) == "msu-mfsd"
    others = {
        "folder": ["live/a.avi", "spoof/print/b.avi"],
        "scene_without_classes": ["scene01/clips/real_client002_android_SD_scene01.mp4"],
        "scene_with_other_names": ["scene01/real/a.mp4", "scene01/attack/b.mp4"],
        "oulu": ["Train_files/1_1_01_1.avi", "Test_files/1_3_36_1.avi"],
        "casia": ["train_release/1/1.avi", "test_release/1/HR_1.avi"],
        "replay": ["train/real/client001_session01_webcam_authenticate_adverse_1.mov", "devel/attack/fixed/x.mov"],
        "siw": ["Train/live/006/006-1-1-1-1.mov", "Test/spoof/007/007-2-3-4-1.mov"],
    }
    for name, files in others.items():
        assert not msu.detect(touch(tmp_path / name, *files)), name
