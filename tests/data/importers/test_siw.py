"""SiW importer on a fake tree: names only, a few bytes per video, nothing decoded."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import spoofguard.data.importers.siw as siw
from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.errors import SpoofguardError
from tests.data.importers.fake_tree import touch

TRAIN = {  # Train/<class>/<subject>/<name>.mov
    "live/006": ["006-1-1-1-1", "006-2-1-1-2"],
    "spoof/006": ["006-2-2-1-1", "006-1-3-1-2", "006-1-3-2-1", "006-1-1-1-3"],  # last: live type in spoof/
}
TEST = {  # capitalised differently, as some copies are
    "Live/090": ["090-2-1-1-1"],
    "Spoof/090": ["090-1-3-1-1", "090-1-3-3-1", "090-2-2-2-1"],
}


def make_siw(root: Path) -> Path:
    for split, tree in (("Train", TRAIN), ("Test", TEST)):
        for folder, names in tree.items():
            for name in names:
                touch(root / split / folder, f"{name}.mov")
                touch(root / split / folder, f"{name}.face", data=b"10,10,50,50\n")
    touch(root, "Train/live/006/notes.txt", data=b"ignored")
    touch(root, "Train/live/006/clip.mov")  # a video that does not follow the naming rule
    return root


@pytest.fixture()
def tree(tmp_path) -> Path:
    return make_siw(tmp_path / "SiW_release")


def _by_id(result):
    return {s.video_id.rsplit("/", 1)[-1]: s for s in result.manifest}


def test_fields_from_folders_and_file_names(tree):
    result = import_dataset(tree, format="siw")
    m = _by_id(result)
    assert set(m) == {"006-1-1-1-1", "006-2-1-1-2", "006-2-2-1-1", "006-1-3-1-2", "006-1-3-2-1",
                      "090-2-1-1-1", "090-1-3-1-1", "090-1-3-3-1", "090-2-2-2-1"}
    live = m["006-2-1-1-2"]
    assert (live.label, live.species, live.subject, live.device, live.session, live.split) == (
        "bona_fide", "", "006", "sensor2", "2", "train")
    assert live.video_id == "Train/live/006/006-2-1-1-2" and live.path == str((tree / "Train/live/006/006-2-1-1-2.mov").resolve())
    assert (m["006-2-2-1-1"].label, m["006-2-2-1-1"].species, m["006-2-2-1-1"].device) == ("attack", "print", "sensor2")
    assert (m["090-1-3-3-1"].species, m["090-1-3-3-1"].split, m["090-1-3-3-1"].subject) == ("replay", "test", "090")
    assert m["090-1-3-3-1"].video_id == "Test/Spoof/090/090-1-3-3-1"
    reasons = {Path(p).name: why for p, why in result.skipped}
    assert set(reasons) == {"006-1-1-1-3.mov", "clip.mov"}  # .face and .txt files are ignored silently
    assert "disagrees" in reasons["006-1-1-1-3.mov"] and "SubjectID-SensorID" in reasons["clip.mov"]


def _kinds(result, split):
    return sorted(s.video_id.rsplit("/", 1)[-1] for s in result.manifest if s.split == split)


def test_protocol_2_leaves_one_replay_medium_out(tree):
    result = siw.import_siw(tree, protocol="2_1")
    assert _kinds(result, "train") == ["006-1-1-1-1", "006-1-3-2-1", "006-2-1-1-2"]  # live + replay on media 2-4
    assert _kinds(result, "test") == ["090-1-3-1-1", "090-2-1-1-1"]  # live + replay on medium 1 (iPad Pro)
    left_out = sorted(Path(p).name for p, why in result.skipped if why == "not in protocol 2_1")
    assert left_out == ["006-1-3-1-2.mov", "006-2-2-1-1.mov", "090-1-3-3-1.mov", "090-2-2-2-1.mov"]
    assert _kinds(siw.import_siw(tree, protocol="2-3"), "test") == ["090-1-3-3-1", "090-2-1-1-1"]
    with pytest.raises(SpoofguardError, match="protocol 2_4 leaves no test attack videos"):
        siw.import_siw(tree, protocol="2_4")  # no replay on medium 4 in this Test/ folder


def test_protocol_3_crosses_attack_types_and_protocol_1_is_everything(tree):
    p31 = siw.import_siw(tree, protocol="3_1")
    assert {s.species for s in p31.manifest if s.split == "train"} == {"", "print"}
    assert {s.species for s in p31.manifest if s.split == "test"} == {"", "replay"}
    p32 = siw.import_siw(tree, protocol="3_2")
    assert {s.species for s in p32.manifest if s.split == "train"} == {"", "replay"}
    assert {s.species for s in p32.manifest if s.split == "test"} == {"", "print"}
    assert len(siw.import_siw(tree, protocol="1").manifest) == len(siw.import_siw(tree).manifest) == 9
    with pytest.raises(SpoofguardError, match="valid protocols: 1, 2_1"):
        siw.import_siw(tree, protocol="4")


def test_detect(tree, tmp_path):
    assert siw.detect(tree) and siw.detect(tree.parent)  # SiW_release/ or the folder holding it
    assert detect_format(tree) == "siw"
    generic = tmp_path / "generic"
    for folder in ("live", "spoof"):
        (generic / folder).mkdir(parents=True)
        Image.new("L", (8, 8)).save(generic / folder / "0_0.png")
    video_folders = tmp_path / "videos"
    for folder in ("train/live", "train/replay", "test/live"):
        touch(video_folders / folder, "a.mp4")
    oulu = tmp_path / "oulu"
    touch(oulu, "Train_files/1_1_01_1.avi")
    replay_attack = tmp_path / "replayattack"
    touch(replay_attack, "train/real/client001_session01_webcam_authenticate_adverse_1.mov")
    touch(replay_attack, "train/attack/fixed/attack_highdef_client001_session01_highdef_photo_adverse.mov")
    not_siw_names = tmp_path / "not_siw"
    touch(not_siw_names, "Train/live/001/video.mov")
    for other in (generic, video_folders, oulu, replay_attack, not_siw_names):
        assert not siw.detect(other), other


def test_wrong_folders_and_options(tree, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpoofguardError, match="is this SiW"):
        siw.import_siw(tmp_path / "empty")
    touch(tmp_path / "bare", "Train/readme.txt")
    with pytest.raises(SpoofguardError, match="no SiW videos"):
        siw.import_siw(tmp_path / "bare")
    with pytest.raises(SpoofguardError, match="no option subject_pattern"):
        import_dataset(tree, format="siw", subject_pattern="^(\\d+)")
    touch(tree, "Test/Live/091/091-1-1-1-1.mov", data=b"")
    assert "091-1-1-1-1.mov" in {Path(p).name for p, _ in siw.import_siw(tree, check_images=True).skipped}
