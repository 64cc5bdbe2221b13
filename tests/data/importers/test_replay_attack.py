from pathlib import Path

import pytest

import spoofguard.data.importers.replay_attack as replay
from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.errors import SpoofguardError
from tests.data.importers.fake_tree import touch


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "replayattack"
    touch(root,
          "train/real/client001_session01_webcam_authenticate_adverse_1.mov",
          "train/attack/fixed/attack_highdef_client001_session01_highdef_photo_adverse.mov",
          "train/attack/hand/attack_mobile_client001_session01_mobile_video_controlled.mov",
          "devel/attack/hand/attack_print_client003_session01_highdef_photo_adverse.mov",
          "devel/real/client003_session01_webcam_authenticate_controlled_2.mov",
          "test/attack/fixed/attack_mobile_client009_session01_mobile_photo_adverse.mov",
          "enroll/train/client001_session01_webcam_enroll_controlled.mov")
    (root / "face-locations/train/real").mkdir(parents=True)
    (root / "face-locations/train/real/client001_session01_webcam_authenticate_adverse_1.face").write_text("0 1 2 3 4\n")
    return root


def by_name(result):
    return {Path(s.path).stem: s for s in result.manifest}


def test_replay_attack_fields(tree):
    result = import_dataset(tree, format="replay-attack")
    rows = by_name(result)
    assert len(rows) == 6
    real = rows["client001_session01_webcam_authenticate_adverse_1"]
    assert (real.label, real.species, real.subject, real.session, real.device, real.split) == (
        "bona_fide", "", "001", "1", "", "train")
    assert real.video_id == "train/real/client001_session01_webcam_authenticate_adverse_1"
    assert real.path == str((tree / "train/real/client001_session01_webcam_authenticate_adverse_1.mov").resolve())
    table = {k: (s.label, s.species, s.device, s.split, s.subject) for k, s in rows.items() if s.label == "attack"}
    assert table == {
        "attack_highdef_client001_session01_highdef_photo_adverse": ("attack", "photo_replay", "fixed", "train", "001"),
        "attack_mobile_client001_session01_mobile_video_controlled": ("attack", "video_replay", "hand", "train", "001"),
        "attack_print_client003_session01_highdef_photo_adverse": ("attack", "print", "hand", "dev", "003"),
        "attack_mobile_client009_session01_mobile_photo_adverse": ("attack", "photo_replay", "fixed", "test", "009"),
    }
    assert result.skipped == [(str(tree / "enroll/train/client001_session01_webcam_enroll_controlled.mov"),
                               "enrollment video (not part of the PAD protocol)")]


def test_replay_mobile_names(tmp_path):
    root = touch(tmp_path / "replay-mobile",
                 "train/real/client001_session02_authenticate_tablet_adverse.mov",
                 "train/real/real_client001_session01_authenticate_smartphone_lighton.mp4",
                 "devel/attack/attack_client005_session01_mattescreen_fixed_mobile_photo_lightoff.mov",
                 "test/attack/attack_client007_session01_mattescreen_hand_tablet_video_lighton.mov",
                 "test/attack/attack_client007_session01_print_fixed_mobile_photo_lightoff.mov",
                 "enroll/client001_session01_enroll_tablet_lighton.mov")
    result = replay.import_replay_attack(root)
    rows = by_name(result)
    assert {k: (s.label, s.species, s.device, s.session, s.split) for k, s in rows.items()} == {
        "client001_session02_authenticate_tablet_adverse": ("bona_fide", "", "tablet", "2", "train"),
        "real_client001_session01_authenticate_smartphone_lighton": ("bona_fide", "", "smartphone", "1", "train"),
        "attack_client005_session01_mattescreen_fixed_mobile_photo_lightoff": ("attack", "photo_replay", "smartphone", "1", "dev"),
        "attack_client007_session01_mattescreen_hand_tablet_video_lighton": ("attack", "video_replay", "tablet", "1", "test"),
        "attack_client007_session01_print_fixed_mobile_photo_lightoff": ("attack", "print", "smartphone", "1", "test"),
    }
    assert [why for _, why in result.skipped] == ["enrollment video (not part of the PAD protocol)"]


def test_odd_files_are_skipped_with_reasons(tree):
    touch(tree, "train/real/attack_print_client002_session01_highdef_photo_adverse.mov",  # attack in real/
          "train/attack/fixed/client002_session01_webcam_authenticate_adverse_1.mov",  # bona fide in attack/
          "train/attack/fixed/attack_highdef_client002_session01_highdef_adverse.mov",  # no photo/video/print
          "train/real/webcam_clip.mov", "train/loose.mov", "misc/client001_session01.mov")
    (tree / "devel/real/client003_session01_webcam_authenticate_controlled_2.mov").write_bytes(b"")
    result = replay.import_replay_attack(tree, check_images=True)
    reasons = {Path(p).name: why for p, why in result.skipped}
    assert "starts with 'attack' but the file is in real/" in reasons["attack_print_client002_session01_highdef_photo_adverse.mov"]
    assert "does not start with 'attack'" in reasons["client002_session01_webcam_authenticate_adverse_1.mov"]
    assert "no print, photo or video" in reasons["attack_highdef_client002_session01_highdef_adverse.mov"]
    assert "clientNNN" in reasons["webcam_clip.mov"]
    assert "train|devel|test/real|attack" in reasons["loose.mov"] and "train|devel|test" in reasons["client001_session01.mov"]
    assert "empty" in reasons["client003_session01_webcam_authenticate_controlled_2.mov"]
    assert len(result.manifest) == 5


def test_protocol_and_errors(tree, tmp_path):
    assert len(replay.import_replay_attack(tree, protocol="grandtest").manifest) == 6
    with pytest.raises(SpoofguardError, match="unknown Replay-Attack/Replay-Mobile protocol 'photo'; valid protocols: grandtest"):
        replay.import_replay_attack(tree, protocol="photo")
    with pytest.raises(SpoofguardError, match="protocol print is Replay-Mobile's.*for Replay-Attack use grandtest"):
        replay.import_replay_attack(tree, protocol="print")
    touch(tmp_path / "other", "live/a.mov")
    with pytest.raises(SpoofguardError, match="no train/devel/test folders .* Replay-Attack or Replay-Mobile"):
        replay.import_replay_attack(tmp_path / "other")
    touch(tmp_path / "empty", "train/real/clip.mov")
    with pytest.raises(SpoofguardError, match="no Replay-Attack videos"):
        replay.import_replay_attack(tmp_path / "empty")


def test_detect(tree, tmp_path):
    assert replay.detect(tree) and detect_format(tree) == "replay-attack"
    assert replay.detect(touch(tmp_path / "prefixed", "replayattack-train/real/a.mov",
                               "replayattack-devel/attack/hand/attack_print_client003_session01_highdef_photo_adverse.mov"))
    others = {
        "folder": ["live/a.avi", "spoof/print/b.avi"],
        "video_folders": ["train/real/a.mov", "train/attack/b.mov", "dev/real/c.mov", "devel/attack/fixed/d.mov"],
        "client_names_without_splits": ["real/client001_session01_webcam_authenticate_adverse_1.mov"],
        "oulu": ["Train_files/1_1_01_1.avi", "Dev_files/1_1_21_1.avi", "Test_files/1_3_36_1.avi"],
        "casia": ["train_release/1/1.avi", "test_release/1/HR_1.avi"],
        "msu": ["scene01/real/real_client002_android_SD_scene01.mp4"],
        "siw": ["Train/live/006/006-1-1-1-1.mov", "Test/spoof/007/007-2-3-4-1.mov"],
    }
    for name, files in others.items():
        assert not replay.detect(touch(tmp_path / name, *files)), name


# Replay-Mobile names as bob.db.replaymobile's create.py parses them: real
# client<id>_session<n>_<authenticate|enroll>_<tablet|mobile>_<light>, attack
# attack_client<id>_session<n>_<print|mattescreen>_<fixed|hand>_<tablet|mobile>_<photo|video>_<light>
REPLAY_MOBILE = [
    "train/real/client001_session01_authenticate_tablet_lightoff.mov",
    "train/real/client001_session02_authenticate_mobile_lighton.mov",
    "train/attack/attack_client001_session01_print_fixed_tablet_photo_lightoff.mov",
    "train/attack/attack_client001_session01_print_hand_mobile_photo_lighton.mov",
    "train/attack/attack_client001_session01_mattescreen_fixed_tablet_photo_lightoff.mov",
    "train/attack/attack_client001_session01_mattescreen_fixed_mobile_video_lighton.mov",
    "devel/real/client005_session01_authenticate_mobile_lightoff.mov",
    "devel/attack/attack_client005_session01_print_hand_tablet_photo_lightoff.mov",
    "devel/attack/attack_client005_session01_mattescreen_fixed_tablet_video_lightoff.mov",
    "test/real/client002_session01_authenticate_tablet_lighton.mov",
    "test/attack/attack_client002_session01_print_fixed_mobile_photo_lighton.mov",
    "test/attack/attack_client002_session01_mattescreen_fixed_mobile_photo_lighton.mov",
    "enroll/client001_session01_enroll_tablet_lighton.mov",
]


@pytest.mark.parametrize("protocol, attacks", [
    ("grandtest", {"print", "mattescreen"}),
    ("print", {"print"}),
    ("mattescreen", {"mattescreen"}),
])
def test_replay_mobile_protocols(tmp_path, protocol, attacks):
    """Source of truth: bob.db.replaymobile (create.py ``define_protocols``: grandtest from
    attack-grandtest-allsupports-alldevices, print from attack-print-allsupports-alldevices, mattescreen
    from attack-mattescreen-fixed-alldevices-alltype, every protocol with the real-alldevices bona fide
    lists; test.py: 640 grandtest attacks = 320 print + 320 mattescreen). Each protocol keeps every bona
    fide video of every split, and the attacks of its instrument (print held by hand or fixed)."""
    root = touch(tmp_path / "replaymobile", *REPLAY_MOBILE)
    result = import_dataset(root, format="replay-attack", protocol=protocol)
    m = result.manifest
    assert sum(s.label == "bona_fide" for s in m) == 4 and {s.split for s in m} == {"train", "dev", "test"}
    instruments = {("print" if "_print_" in s.path else "mattescreen") for s in m if s.label == "attack"}
    assert instruments == attacks
    expected = {"grandtest": 8, "print": 4, "mattescreen": 4}[protocol]
    assert sum(s.label == "attack" for s in m) == expected
    dropped = [Path(p).name for p, why in result.skipped if why == f"not in protocol {protocol}"]
    assert len(dropped) == 8 - expected and all(("_print_" in n) != (protocol == "print") for n in dropped)
    if protocol == "print":  # hand-held and fixed prints alike ("allsupports")
        assert {s.device for s in m if s.label == "attack"} == {"tablet", "smartphone"}


def test_replay_mobile_mattescreen_takes_the_fixed_support_only(tmp_path):
    """bob.db.replaymobile's mattescreen list is ``attack-mattescreen-fixed-...``: a hand-held matte screen
    (not in the release) would be left out."""
    root = touch(tmp_path / "rm", "train/real/client001_session01_authenticate_tablet_lightoff.mov",
                 "train/attack/attack_client001_session01_mattescreen_hand_tablet_photo_lightoff.mov",
                 "train/attack/attack_client001_session01_mattescreen_fixed_tablet_photo_lightoff.mov")
    m = replay.import_replay_attack(root, protocol="MatteScreen").manifest
    assert [Path(s.path).name for s in m if s.label == "attack"] == ["attack_client001_session01_mattescreen_fixed_tablet_photo_lightoff.mov"]
