"""video-folders importer on fake trees: names only, a few bytes per video, nothing decoded."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import spoofguard.data.importers.video_folders as vf
from spoofguard.data.importers import import_dataset
from spoofguard.errors import SpoofguardError
from tests.data.importers.fake_tree import touch


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (9, 9, 9)).save(path)
    return path


@pytest.fixture()
def kaggle(tmp_path) -> Path:
    """Class folders straight under the root, one with a per-person sub-folder."""
    root = tmp_path / "kaggle"
    for rel in ("real/01_a.mp4", "real/02_b.mov", "Printouts/01_c.mp4", "replay/p03/03_d.webm",
                "Cut-Out/04_e.avi", "Masks/05_f.mkv", "3D Mask/06_g.mp4", "spoof/07_h.mp4"):
        touch(root, rel)
    touch(root, "real/readme.txt", data=b"ignored")
    touch(root, "loose.mp4")
    return root


@pytest.fixture()
def split_tree(tmp_path) -> Path:
    root = tmp_path / "split"
    for rel in ("train/live/1_a.mp4", "train/display/1_b.mp4", "Valid/bona fide/2_a.mp4",
                "val/paper/2_b.mp4", "test/live/3_a.mp4", "test/attack/3_b.mp4"):
        touch(root, rel)
    return root


def test_classes_species_and_video_ids(kaggle):
    result = import_dataset(kaggle, format="video-folders")
    m = {s.video_id: s for s in result.manifest}
    assert set(m) == {"real/01_a", "real/02_b", "Printouts/01_c", "replay/p03/03_d", "Cut-Out/04_e",
                      "Masks/05_f", "3D Mask/06_g", "spoof/07_h"}
    assert {(k, s.label, s.species) for k, s in m.items()} == {
        ("real/01_a", "bona_fide", ""), ("real/02_b", "bona_fide", ""), ("Printouts/01_c", "attack", "print"),
        ("replay/p03/03_d", "attack", "replay"), ("Cut-Out/04_e", "attack", "cutout"),
        ("Masks/05_f", "attack", "mask"), ("3D Mask/06_g", "attack", "3d_mask"), ("spoof/07_h", "attack", "spoof")}
    assert all(s.split == "" and s.subject == "" and s.session == "" and s.device == "" for s in m.values())
    assert m["replay/p03/03_d"].path == str((kaggle / "replay/p03/03_d.webm").resolve())
    assert result.skipped == [(str(kaggle / "loose.mp4"), "not inside a class folder")]


def test_splits_from_top_level_folders(split_tree):
    m = {s.video_id: s for s in vf.import_video_folders(split_tree).manifest}
    assert {k: (s.split, s.label, s.species) for k, s in m.items()} == {
        "train/live/1_a": ("train", "bona_fide", ""), "train/display/1_b": ("train", "attack", "replay"),
        "Valid/bona fide/2_a": ("dev", "bona_fide", ""), "val/paper/2_b": ("dev", "attack", "print"),
        "test/live/3_a": ("test", "bona_fide", ""), "test/attack/3_b": ("test", "attack", "attack")}


def test_subject_pattern(kaggle):
    m = vf.import_video_folders(kaggle, subject_pattern=r"^(\d+)_").manifest
    assert sorted(s.subject for s in m) == ["01", "01", "02", "03", "04", "05", "06", "07"]
    with pytest.raises(SpoofguardError, match="matched no subject"):
        vf.import_video_folders(kaggle, subject_pattern=r"^(x+)_")
    with pytest.raises(SpoofguardError, match="needs a group"):
        vf.import_video_folders(kaggle, subject_pattern=r"^\d+")
    with pytest.raises(SpoofguardError, match="not a valid regular expression"):
        vf.import_video_folders(kaggle, subject_pattern=r"^(\d+")


def test_images_are_skipped_and_wrong_folders_refused(kaggle, tmp_path):
    _image(kaggle / "real" / "still.png")
    result = vf.import_video_folders(kaggle)
    assert (str(kaggle / "real/still.png"), "an image: this format takes videos (use --format folder for images)") in result.skipped
    assert len(result.manifest) == 8
    _image(tmp_path / "images" / "live" / "0.png")
    with pytest.raises(SpoofguardError, match="no videos in class folders"):
        vf.import_video_folders(tmp_path / "images")
    with pytest.raises(SpoofguardError, match="no protocols"):
        vf.import_video_folders(kaggle, protocol="1")
    touch(kaggle, "real/empty.mp4", data=b"")
    assert str(kaggle / "real/empty.mp4") in dict(vf.import_video_folders(kaggle, check_images=True).skipped)


def test_detect(kaggle, split_tree, tmp_path):
    assert vf.detect(kaggle) and vf.detect(split_tree)
    only_live = tmp_path / "only_live"
    touch(only_live, "live/a.mp4")
    images = tmp_path / "images"
    _image(images / "live/0.png")
    _image(images / "spoof/0.png")
    mixed = tmp_path / "mixed"
    touch(mixed, "real/a.mp4")
    touch(mixed, "replay/b.mp4")
    _image(mixed / "replay/c.jpg")
    siw = tmp_path / "siw"
    touch(siw, "Train/live/006/006-1-1-1-1.mov")
    touch(siw, "Train/spoof/006/006-1-3-1-1.mov")
    oulu = tmp_path / "oulu"
    touch(oulu, "Train_files/1_1_01_1.avi")
    touch(oulu, "Dev_files/1_1_21_1.avi")
    replay_attack = tmp_path / "replayattack"
    touch(replay_attack, "train/real/client001_session01_webcam_authenticate_adverse_1.mov")
    touch(replay_attack, "train/attack/fixed/attack_highdef_client001_session01_highdef_photo_adverse.mov")
    touch(replay_attack, "devel/real/client003_session01_webcam_authenticate_adverse_1.mov")
    replay_mobile = tmp_path / "replaymobile"
    touch(replay_mobile, "train/real/client001_session01_authenticate_tablet_adverse.mov")
    touch(replay_mobile, "train/attack/attack_client005_session01_mattescreen_fixed_mobile_photo_lightoff.mov")
    for other in (only_live, images, mixed, siw, oulu, replay_attack, replay_mobile):
        assert not vf.detect(other), other
