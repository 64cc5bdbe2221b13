from pathlib import Path

import pytest

import spoofguard.data.importers.oulu_npu as oulu
from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.errors import SpoofguardError
from tests.data.importers.fake_tree import touch


def write(root: Path, name: str, text: str) -> None:
    p = root / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "OULU-NPU"
    touch(root, *(f"Train_files/1_1_01_{a}.avi" for a in range(1, 6)), "Train_files/2_3_02_4.avi",
          "Dev_files/1_2_21_1.avi", "Dev_files/1_2_21_2.avi", "Test_files/6_3_36_1.avi", "Test_files/6_3_36_5.avi")
    write(root, "Train_files/1_1_01_1.txt", "0, 1, 2, 3, 4\n")  # eye positions: not a sample
    write(root, "Protocols/Protocol_1/Train.txt", "+1,1_1_01_1\n-1,1_1_01_2\n-1,1_1_01_4\n")
    write(root, "Protocols/Protocol_1/Dev.txt", "+1,1_2_21_1\n")
    write(root, "Protocols/Protocol_1/Test.txt", "+1,6_3_36_1\n-1,6_3_36_5\n")
    write(root, "Protocols/Protocol_3/Train_1.txt", "+1,1_1_01_1\n-1,2_3_02_4\n")
    write(root, "Protocols/Protocol_3/Dev_1.txt", "-1,1_2_21_2\n")
    write(root, "Protocols/Protocol_3/Test_1.txt", "-1,6_3_36_5\n")
    return root


def by_id(result):
    return {s.video_id: s for s in result.manifest}


def test_fields_from_names_and_folders(tree):
    result = oulu.import_oulu_npu(tree)
    rows = by_id(result)
    assert len(rows) == 10 and result.skipped == []
    s = rows["Train_files/2_3_02_4"]
    assert (s.label, s.species, s.subject, s.session, s.device, s.split) == ("attack", "replay", "02", "3", "phone2", "train")
    assert s.path == str((tree / "Train_files/2_3_02_4.avi").resolve())
    kinds = [(rows[f"Train_files/1_1_01_{a}"].label, rows[f"Train_files/1_1_01_{a}"].species) for a in range(1, 6)]
    assert kinds == [("bona_fide", ""), ("attack", "print"), ("attack", "print"), ("attack", "replay"), ("attack", "replay")]
    assert rows["Dev_files/1_2_21_1"].split == "dev" and rows["Test_files/6_3_36_1"].split == "test"
    assert rows["Test_files/6_3_36_1"].device == "phone6" and rows["Test_files/6_3_36_1"].subject == "36"


def test_protocol_1_takes_membership_and_split_from_its_lists(tree):
    write(tree, "Protocols/Protocol_1/Train.txt", "+1,1_1_01_1\n-1,1_1_01_2\n+1,1_1_01_4\n-1,1_1_01_9\nnonsense\n\n")
    result = import_dataset(tree, format="oulu-npu", protocol="1")
    rows = by_id(result)
    assert set(rows) == {"Train_files/1_1_01_1", "Train_files/1_1_01_2", "Dev_files/1_2_21_1",
                         "Test_files/6_3_36_1", "Test_files/6_3_36_5"}
    assert [rows[k].split for k in sorted(rows)] == ["dev", "test", "test", "train", "train"]
    reasons = {Path(p).name: why for p, why in result.skipped}
    assert "labels it bona_fide" in reasons["1_1_01_4.avi"]  # +1 on a replay attack
    assert "no such video" in reasons["1_1_01_9"] and "Protocol_1/Train.txt" in reasons["1_1_01_9"]
    assert any("Train.txt:5" in p and "label,video" in why for p, why in result.skipped)
    assert reasons["1_1_01_3.avi"] == "not in protocol 1" and reasons["2_3_02_4.avi"] == "not in protocol 1"


@pytest.mark.parametrize("value", ["3_1", "3-1", "Protocol_3_1", "3.1"])
def test_sub_protocols(tree, value):
    rows = by_id(oulu.import_oulu_npu(tree, protocol=value))
    assert {k: s.split for k, s in rows.items()} == {
        "Train_files/1_1_01_1": "train", "Train_files/2_3_02_4": "train",
        "Dev_files/1_2_21_2": "dev", "Test_files/6_3_36_5": "test"}


def test_protocol_errors(tree):
    with pytest.raises(SpoofguardError, match=r"six sub-protocols.*4_1, 4_2, 4_3, 4_4, 4_5, 4_6"):
        oulu.import_oulu_npu(tree, protocol="4")
    with pytest.raises(SpoofguardError, match=r"unknown OULU-NPU protocol '5'.*valid protocols: 1, 2, 3_1"):
        oulu.import_oulu_npu(tree, protocol="5")
    with pytest.raises(SpoofguardError, match="unknown OULU-NPU protocol '1_2'"):
        oulu.import_oulu_npu(tree, protocol="1_2")
    with pytest.raises(SpoofguardError, match=r"list file .*Protocol_2.Train\.txt, which is missing"):
        oulu.import_oulu_npu(tree, protocol="2")
    (tree / "Protocols/Protocol_3/Test_1.txt").unlink()
    with pytest.raises(SpoofguardError, match=r"Protocol_3.Test_1\.txt, which is missing"):
        oulu.import_oulu_npu(tree, protocol="3_1")


def test_case_variants_and_one_level_down(tmp_path):
    root = touch(tmp_path / "download", "oulu_npu/train_files/1_1_01_1.avi", "oulu_npu/TEST_FILES/2_3_40_3.AVI")
    write(root / "oulu_npu", "protocols/protocol_1/train.txt", "+1,1_1_01_1\n")
    write(root / "oulu_npu", "protocols/protocol_1/dev.txt", "")
    write(root / "oulu_npu", "protocols/protocol_1/test.txt", "-1,2_3_40_3\n")
    assert oulu.detect(root)
    rows = by_id(oulu.import_oulu_npu(root, protocol="1"))
    assert {k: (s.split, s.species) for k, s in rows.items()} == {
        "oulu_npu/train_files/1_1_01_1": ("train", ""), "oulu_npu/TEST_FILES/2_3_40_3": ("test", "print")}


def test_odd_and_empty_files_are_skipped(tree):
    touch(tree, "Train_files/clip.avi", "Train_files/7_1_01_1.avi")
    (tree / "Dev_files/1_2_21_2.avi").write_bytes(b"")
    result = oulu.import_oulu_npu(tree)
    reasons = {Path(p).name: why for p, why in result.skipped}
    assert set(reasons) == {"clip.avi", "7_1_01_1.avi"} and "Phone_Session_User_File" in reasons["clip.avi"]
    result = oulu.import_oulu_npu(tree, check_images=True)
    assert "empty" in {Path(p).name: why for p, why in result.skipped}["1_2_21_2.avi"]


def test_wrong_folders_raise(tmp_path):
    touch(tmp_path / "live", "a.avi")
    with pytest.raises(SpoofguardError, match="no Train_files/Dev_files/Test_files folders .* is this OULU-NPU"):
        oulu.import_oulu_npu(tmp_path)
    touch(tmp_path / "Train_files", "video.avi")
    with pytest.raises(SpoofguardError, match="no OULU-NPU videos"):
        oulu.import_oulu_npu(tmp_path)
    with pytest.raises(SpoofguardError, match="takes no option subject_pattern"):
        import_dataset(tmp_path, format="oulu-npu", subject_pattern="x")


def test_detect(tree, tmp_path):
    assert oulu.detect(tree) and detect_format(tree) == "oulu-npu"
    others = {
        "folder": ["live/a.avi", "spoof/print/b.avi"],
        "casia": ["train_release/1/1.avi", "test_release/1/HR_1.avi"],
        "replay": ["train/real/client001_session01_webcam_authenticate_adverse_1.mov", "devel/attack/fixed/x.mov"],
        "msu": ["scene01/real/real_client002_android_SD_scene01.mp4"],
        "siw": ["Train/live/006/006-1-1-1-1.mov", "Test/spoof/007/007-2-3-4-1.mov"],
        "oulu_frames": ["Train_files/1_1_01_1/0001.jpg", "Dev_files/clip.avi"],  # no OULU-named video
    }
    for name, files in others.items():
        assert not oulu.detect(touch(tmp_path / name, *files)), name
