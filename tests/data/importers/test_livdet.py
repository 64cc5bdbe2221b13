"""LivDet importer: fake trees in the shapes of the 2009-2021 releases."""

from pathlib import Path

import pytest
from PIL import Image

from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.data.importers.livdet import detect, material
from spoofguard.errors import SpoofguardError


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
    assert (s["10_2.png"].label, s["10_2.png"].species, s["10_2.png"].split, s["10_2.png"].device) == ("attack", "unknown", "", "")
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
