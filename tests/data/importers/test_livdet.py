"""LivDet importer: fake trees in the shapes of the 2009-2021 releases."""

from dataclasses import fields
from pathlib import Path

import pytest
from PIL import Image

from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.data.importers.livdet import detect, material
from spoofguard.data.sources import load_samples
from spoofguard.errors import SpoofguardError
from spoofguard.training.train import TrainConfig

TRAIN_DEFAULT_FORMAT = {f.name: f.default for f in fields(TrainConfig)}["format"]  # what `train --data DIR` reads with


def img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".bmp": "BMP", ".tif": "TIFF", ".jpg": "JPEG"}.get(path.suffix, "PNG")
    Image.new("L", (8, 8), 128).save(path, format=fmt)
    return path


def livdet2015(root: Path) -> Path:
    for rel in ["Training/CrossMatch/Live/12_3.bmp", "Training/CrossMatch/Fake/Body Double/001_1_1.bmp",
                "Training/CrossMatch/Fake/Gelatin/5_1.png", "Testing/Digital_Persona/Live/7_1.png",
                "Testing/Digital_Persona/Fake/Wood Glue/3_2.tif", "Testing/Digital_Persona/Fake/Liquid Ecoflex/4_1.png",
                "Testing/Digital_Persona/Fake/Mix1/finger.jpg"]:
        img(root / rel)
    (root / "Training" / "readme.txt").write_text("not a sample")
    return root


def by_name(manifest):
    return {Path(s.path).name: s for s in manifest}


def test_livdet2015_tree_fields(tmp_path):
    result = import_dataset(livdet2015(tmp_path / "LivDet2015"), format="livdet")
    s = by_name(result.manifest)
    assert len(s) == 7 and result.skipped == []
    live = s["12_3.bmp"]
    assert (live.label, live.species, live.subject, live.split, live.device) == ("bona_fide", "", "12", "train", "crossmatch")
    assert (live.session, live.video_id) == ("", "") and Path(live.path).is_absolute()
    body = s["001_1_1.bmp"]
    assert (body.label, body.species, body.subject, body.split) == ("attack", "body_double", "001", "train")
    assert s["5_1.png"].species == "gelatine"
    glue = s["3_2.tif"]
    assert (glue.species, glue.split, glue.device, glue.subject) == ("woodglue", "test", "digital_persona", "3")
    assert s["4_1.png"].species == "liquid_ecoflex"
    assert (s["finger.jpg"].species, s["finger.jpg"].subject) == ("mix1", "")


def test_sensor_first_order_and_spelling(tmp_path):
    root = tmp_path / "LivDet2011"
    img(root / "Biometrika" / "LivDet2011 Training" / "live" / "1_1.png")
    img(root / "Biometrika" / "test" / "SPOOF" / "Play-Doh" / "2_1.png")
    img(root / "Italdata" / "Train" / "Live" / "3_1.png")
    img(root / "NewSensor" / "testing" / "fake" / "Gelatine" / "4_1.png")
    s = by_name(import_dataset(root, format="livdet").manifest)
    assert (s["1_1.png"].split, s["1_1.png"].device, s["1_1.png"].label) == ("train", "biometrika", "bona_fide")
    assert (s["2_1.png"].split, s["2_1.png"].species) == ("test", "playdoh")
    assert (s["3_1.png"].split, s["3_1.png"].device) == ("train", "italdata")
    assert (s["4_1.png"].device, s["4_1.png"].species) == ("newsensor", "gelatine")


def test_flattened_variant_and_skips(tmp_path):
    img(tmp_path / "live" / "10_1.png")
    img(tmp_path / "spoof" / "10_2.png")
    img(tmp_path / "loose.png")
    (tmp_path / "provenance.csv").write_text("path,label\n")
    (tmp_path / "live" / "11_1.png").write_bytes(b"")
    result = import_dataset(tmp_path, format="livdet")
    s = by_name(result.manifest)
    # no material folder: the species is the folder's name, as the generic folder layout gives it
    assert (s["10_2.png"].label, s["10_2.png"].species, s["10_2.png"].split, s["10_2.png"].device) == ("attack", "spoof", "", "")
    assert [Path(p).name for p, _ in result.skipped] == ["loose.png"]
    assert "11_1.png" in s  # not decoded by default
    checked = import_dataset(tmp_path, format="livdet", check_images=True)
    assert "empty" in dict((Path(p).name, w) for p, w in checked.skipped)["11_1.png"]


def test_material_names_are_normalised():
    assert [material(n) for n in ["Gelatin", "gelatine", "Wood Glue", "WoodGlue", "Play-Doh", "Playdoh", "EcoFlex",
                                  "Body Double", "OOMOO", "Elmer's glue", "Mix 1"]] == [
        "gelatine", "gelatine", "woodglue", "woodglue", "playdoh", "playdoh", "ecoflex", "body_double", "oomoo",
        "elmers_glue", "mix_1"]


def test_subject_pattern_option_and_errors(tmp_path):
    img(tmp_path / "Live" / "u12x.png")
    img(tmp_path / "Fake" / "Latex" / "u3x.png")
    m = import_dataset(tmp_path, format="livdet", subject_pattern=r"u(\d+)").manifest
    assert {s.subject for s in m} == {"12", "3"}
    with pytest.raises(SpoofguardError, match="matched no subject"):
        import_dataset(tmp_path, format="livdet", subject_pattern=r"^(z)")
    with pytest.raises(SpoofguardError, match="no protocol lists"):
        import_dataset(tmp_path, format="livdet", protocol="1")
    with pytest.raises(SpoofguardError, match="no option variant"):
        import_dataset(tmp_path, format="livdet", variant="raw")
    (tmp_path / "other").mkdir()
    img(tmp_path / "other" / "a" / "1_1.png")
    with pytest.raises(SpoofguardError, match="is this LivDet"):
        import_dataset(tmp_path / "other", format="livdet")


def test_detect_claims_livdet_trees(tmp_path):
    assert detect(livdet2015(tmp_path / "a"))
    img(tmp_path / "b" / "live" / "10_1.png"), img(tmp_path / "b" / "spoof" / "10_2.png")  # LivDet file names
    img(tmp_path / "b" / "spoof" / "10_1.png"), img(tmp_path / "b" / "spoof" / "10_1_copy1.png")  # mostly
    assert detect(tmp_path / "b") and detect_format(tmp_path / "b") == "livdet"
    img(tmp_path / "c" / "Sagem" / "Live" / "a.png"), img(tmp_path / "c" / "Sagem" / "Spoof" / "b.png")  # sensor folder
    assert detect(tmp_path / "c")
    img(tmp_path / "d" / "x" / "Live" / "a.png"), img(tmp_path / "d" / "x" / "Fake" / "Latex" / "b.png")  # material
    assert detect(tmp_path / "d")


def test_detect_leaves_other_trees_alone(tmp_path):
    img(tmp_path / "generic" / "live" / "img_a.png"), img(tmp_path / "generic" / "spoof" / "img_b.png")
    img(tmp_path / "split" / "train" / "live" / "1_1.jpg"), img(tmp_path / "split" / "train" / "spoof" / "2_1.jpg")
    img(tmp_path / "nuaa" / "ClientRaw" / "0001" / "0001_00_00_01_0.jpg")
    img(tmp_path / "nuaa" / "ImposterRaw" / "0001" / "0001_00_00_01_0.jpg")
    for sub in ("live/000001.jpg", "spoof/000002.jpg"):
        img(tmp_path / "celeba" / "Data" / "train" / "4980" / sub)
    (tmp_path / "siw" / "Train" / "live" / "003").mkdir(parents=True)
    (tmp_path / "siw" / "Train" / "spoof" / "003").mkdir(parents=True)
    (tmp_path / "siw" / "Train" / "live" / "003" / "003-1-1-1-1.mov").write_bytes(b"\0" * 8)
    (tmp_path / "empty").mkdir()
    for name in ("generic", "split", "nuaa", "celeba", "celeba/Data", "siw", "empty"):
        assert not detect(tmp_path / name), name


# LivDet 2013 as bob.db.livdet2013 lists it (<Sensor>/<train|test>/<live|spoof>.txt): a few lines of each list,
# extensions by File.default_extension (.png for Biometrika and Italdata, .bmp for CrossMatch and Swipe)
LIVDET2013 = [
    "Training/BiometrikaTrain/Live/031TLidxBmk.png", "Training/BiometrikaTrain/Live/034TamRthbBmk.png",
    "Training/BiometrikaTrain/Spoof/Ecoflex/031.1TrrLidxBmk.png", "Training/BiometrikaTrain/Spoof/Ecoflex/0083.3TrrLidxBmk.png",
    "Training/BiometrikaTrain/Spoof/Gelatin/082.TrrLidxBmk.png", "Training/BiometrikaTrain/Spoof/Gelatin/034TrrRthbBmk.png",
    "Testing/BiometrikaTest/Live/002.1TLidxBmk.png", "Testing/BiometrikaTest/Live/004TwfRthbBmk.png",
    "Testing/BiometrikaTest/Spoof/Ecoflex/004.1TrrLmdlBmk.png",
    "Training/ItaldataTrain/Live/031TLidxItd.png", "Training/ItaldataTrain/Spoof/Modasil/088.6TrrLthbItd.png",
    "Training/ItaldataTrain/Spoof/WoodGlue/034TrrLidxItd.png", "Testing/ItalDataTest/Live/020.1ThpLidxItd.png",
    "Training/CrossMatchTrain/Spoof/BodyDouble/1017371_R1_1.bmp", "Training/CrossMatchTrain/Spoof/Latex/2126749_R3_1.bmp",
    "Testing/CrossMatchTest/Live/9999999_R2_2.bmp",
    "Training/SwipeTrain/Live/0272105_R1_1.bmp", "Training/SwipeTrain/Live/1844839_R2_6.bmp",
    "Training/SwipeTrain/Spoof/WoodGlue/9999999_R2_4.bmp", "Testing/SwipeTest/Live/9999999_R5_6.bmp",
]


def test_livdet2013_one_device_per_sensor_and_subjects_from_names(tmp_path):
    """Source of truth: bob.db.livdet2013's file lists (bob/db/livdet2013/<Sensor>/<train|test>/<live|spoof>.txt,
    e.g. ``Training/BiometrikaTrain/Live/031TLidxBmk``, ``Training/ItaldataTrain/Spoof/Modasil/088.6TrrLthbItd``,
    ``Training/CrossMatchTrain/Spoof/BodyDouble/1017371_R1_1``, ``SwipeTrain/Live/0272105_R1_1``; every
    file name below is on those lists, its folders as the bob/ lists write them, ``Training/``/``Testing/``
    added where the older xbob/ lists leave them out) and
    models.py's ``default_extension``. One sensor is one device in both splits; Biometrika/Italdata names
    carry the subject number before ``.copy``/``T`` (0083.3 is the release's 083), CrossMatch/Swipe before ``_``."""
    root = tmp_path / "LivDet2013"
    for rel in LIVDET2013:
        img(root / rel)
    assert detect_format(root) == "livdet"
    m = import_dataset(root, format="auto").manifest
    assert len(m) == len(LIVDET2013)
    s = by_name(m)
    assert {x.device for x in m} == {"biometrika", "italdata", "crossmatch", "swipe"}
    for sensor in ("biometrika", "italdata", "crossmatch", "swipe"):
        assert {x.split for x in m if x.device == sensor} == {"train", "test"}, sensor
    assert (s["031TLidxBmk.png"].subject, s["031TLidxBmk.png"].split, s["031TLidxBmk.png"].label) == ("031", "train", "bona_fide")
    assert (s["031.1TrrLidxBmk.png"].subject, s["031.1TrrLidxBmk.png"].species) == ("031", "ecoflex")
    assert s["0083.3TrrLidxBmk.png"].subject == "083" and s["082.TrrLidxBmk.png"].subject == "082"
    assert (s["082.TrrLidxBmk.png"].species, s["034TrrRthbBmk.png"].subject) == ("gelatine", "034")
    assert (s["002.1TLidxBmk.png"].subject, s["002.1TLidxBmk.png"].split, s["002.1TLidxBmk.png"].device) == ("002", "test", "biometrika")
    assert (s["088.6TrrLthbItd.png"].subject, s["088.6TrrLthbItd.png"].species, s["088.6TrrLthbItd.png"].device) == (
        "088", "modasil", "italdata")
    assert s["034TrrLidxItd.png"].species == "woodglue"
    assert (s["020.1ThpLidxItd.png"].subject, s["020.1ThpLidxItd.png"].split, s["020.1ThpLidxItd.png"].device) == (
        "020", "test", "italdata")  # the list spells the folder ItalDataTest
    assert (s["1017371_R1_1.bmp"].subject, s["1017371_R1_1.bmp"].species, s["1017371_R1_1.bmp"].split) == (
        "1017371", "body_double", "train")
    assert (s["9999999_R2_2.bmp"].subject, s["9999999_R2_2.bmp"].device, s["9999999_R2_2.bmp"].split) == ("9999999", "crossmatch", "test")
    assert (s["9999999_R2_4.bmp"].species, s["9999999_R2_4.bmp"].device) == ("woodglue", "swipe")
    assert (s["1844839_R2_6.bmp"].subject, s["9999999_R5_6.bmp"].split) == ("1844839", "test")
    assert m.has_subjects  # no --subject-pattern needed


def test_livdet2013_sensor_folder_alone_and_split_words_glued_to_unknown_sensors(tmp_path):
    """Source of truth: bob.db.livdet2013's older (xbob) lists, which start at the sensor folder
    (``BiometrikaTrain/Spoof/Ecoflex/...``, ``SwipeTrain/Live/...``): the split and device come from it alone."""
    img(tmp_path / "BiometrikaTrain" / "Live" / "031TLidxBmk.png")
    img(tmp_path / "BiometrikaTest" / "Spoof" / "Ecoflex" / "004.1TrrLmdlBmk.png")
    img(tmp_path / "NewSensorTrain" / "Live" / "7_1.png")
    img(tmp_path / "NewSensorTest" / "Fake" / "Latex" / "7_2.png")
    s = by_name(import_dataset(tmp_path, format="livdet").manifest)
    assert (s["031TLidxBmk.png"].device, s["031TLidxBmk.png"].split) == ("biometrika", "train")
    assert (s["004.1TrrLmdlBmk.png"].device, s["004.1TrrLmdlBmk.png"].split, s["004.1TrrLmdlBmk.png"].subject) == (
        "biometrika", "test", "004")
    assert {(s[n].device, s[n].split) for n in ("7_1.png", "7_2.png")} == {("newsensor", "train"), ("newsensor", "test")}


def test_scan_and_training_loader_read_a_livdet_folder_alike(tmp_path):
    """``data scan`` (format detected with detect_format, then import_dataset) and training's loader
    (load_samples with TrainConfig's default format) give one folder the same rows, so the same data
    fingerprint (checked on the flattened variant, live/ and spoof/ without material folders, and on
    LivDet 2013's tree as bob.db.livdet2013 lists it); the flattened one gets species ``spoof`` from
    both the LivDet and the folder layout."""
    for rel in ["live/10_1.png", "live/11_1.png", "spoof/10_2.png", "spoof/12_1.png"]:
        img(tmp_path / "flat" / rel)
    for rel in LIVDET2013[:9]:
        img(tmp_path / "full" / rel)
    for name in ("flat", "full"):
        root = tmp_path / name
        scanned = import_dataset(root, format=detect_format(root)).manifest
        loaded = load_samples(root, format=TRAIN_DEFAULT_FORMAT).manifest
        assert scanned.samples == loaded.samples and scanned.fingerprint() == loaded.fingerprint(), name
        assert load_samples(root).manifest.fingerprint() == scanned.fingerprint()  # the library default is the same
    flat = import_dataset(tmp_path / "flat", format="auto").manifest
    assert {x.species for x in flat if x.label == "attack"} == {"spoof"}
    as_folder = import_dataset(tmp_path / "flat", format="folder")
    assert {x.species for x in as_folder.manifest if x.label == "attack"} == {"spoof"}
    assert any("looks like the livdet layout" in w for w in as_folder.warnings)  # the folder layout points at the right one
