"""NUAA importer: a fake ClientRaw/ImposterRaw tree with and without the protocol lists."""

from pathlib import Path

import pytest
from PIL import Image

from spoofguard.data.importers import detect_format, import_dataset
from spoofguard.data.importers.nuaa import detect
from spoofguard.errors import SpoofguardError

CLIENT = ["0001/0001_00_00_01_0.jpg", "0001/0001_01_02_02_5.jpg", "0002/0002_00_00_03_1.jpg"]
IMPOSTER = ["0001/0001_00_00_01_0.jpg", "0002/0002_01_01_02_7.jpg"]


def img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 128).save(path, format="BMP" if path.suffix == ".bmp" else "JPEG")
    return path


def nuaa(root: Path, variant: str = "Raw", ext: str = ".jpg") -> Path:
    for rel in CLIENT:
        img(root / f"Client{variant}" / rel.replace(".jpg", ext))
    for rel in IMPOSTER:
        img(root / f"Imposter{variant}" / rel.replace(".jpg", ext))
    (root / "readme.txt").write_text("short description")
    return root


def write_lists(root: Path, variant: str = "raw", skip: str = "", ext: str = ".jpg"):
    lists = {
        "client_train": CLIENT[:2],
        "client_test": CLIENT[2:],
        "imposter_train": IMPOSTER[:1] + ["0009/0009_00_00_01_0.jpg"],  # listed, not on disk
        "imposter_test": [],  # 0002's imposter image is in no list
    }
    for name, rels in lists.items():
        if name != skip:
            (root / f"{name}_{variant}.txt").write_bytes("".join(r.replace("/", "\\").replace(".jpg", ext) + "\r\n" for r in rels).encode())


def rows(manifest):
    return {(s.label, Path(s.path).parent.name + "/" + Path(s.path).name): s for s in manifest}


def test_raw_without_lists(tmp_path):
    result = import_dataset(nuaa(tmp_path), format="nuaa")
    m = rows(result.manifest)
    assert result.skipped == [] and len(m) == 5
    s = m["bona_fide", "0001/0001_01_02_02_5.jpg"]
    assert (s.species, s.subject, s.session, s.device, s.video_id, s.split) == ("", "0001", "02", "", "", "")
    a = m["attack", "0002/0002_01_01_02_7.jpg"]
    assert (a.species, a.subject, a.session) == ("print", "0002", "02")
    assert Path(a.path).is_absolute()


def test_lists_fill_split_and_protocol_filters(tmp_path):
    write_lists(nuaa(tmp_path))
    result = import_dataset(tmp_path, format="nuaa")
    m = rows(result.manifest)
    assert m["bona_fide", "0001/0001_00_00_01_0.jpg"].split == "train"
    assert m["bona_fide", "0002/0002_00_00_03_1.jpg"].split == "test"
    assert m["attack", "0001/0001_00_00_01_0.jpg"].split == "train"
    assert m["attack", "0002/0002_01_01_02_7.jpg"].split == ""  # in no list
    assert [(Path(p).name, why) for p, why in result.skipped] == [
        ("0009_00_00_01_0.jpg", "listed in imposter_train_raw.txt but not on disk")]
    official = import_dataset(tmp_path, format="nuaa", protocol="nuaa")
    assert len(official.manifest) == 4 and all(s.split for s in official.manifest)
    assert ("0002_01_01_02_7.jpg", "not in protocol nuaa") in [(Path(p).name, w) for p, w in official.skipped]


def test_missing_list_is_a_warning_unless_protocol_asked(tmp_path):
    write_lists(nuaa(tmp_path), skip="client_test")
    result = import_dataset(tmp_path, format="nuaa")
    assert len(result.manifest) == 5
    assert any(p.endswith("client_test_raw.txt") and "missing" in why for p, why in result.skipped)
    with pytest.raises(SpoofguardError, match="client_test_raw.txt"):
        import_dataset(tmp_path, format="nuaa", protocol="nuaa")
    with pytest.raises(SpoofguardError, match="'nuaa'"):
        import_dataset(tmp_path, format="nuaa", protocol="1")


def test_variants(tmp_path):
    nuaa(tmp_path)
    nuaa(tmp_path, "Normalized", ".bmp")
    write_lists(tmp_path, "normalized", ext=".bmp")
    m = import_dataset(tmp_path, format="nuaa", variant="normalized").manifest
    assert len(m) == 5 and all(s.path.endswith(".bmp") for s in m)
    assert rows(m)["bona_fide", "0002/0002_00_00_03_1.bmp"].split == "test"
    assert all(s.split == "" for s in import_dataset(tmp_path, format="nuaa").manifest)  # raw lists absent
    with pytest.raises(SpoofguardError, match="no ClientFace/ImposterFace.*raw, normalized"):
        import_dataset(tmp_path, format="nuaa", variant="face")
    with pytest.raises(SpoofguardError, match="unknown NUAA variant"):
        import_dataset(tmp_path, format="nuaa", variant="crop")


def test_wrong_folder(tmp_path):
    img(tmp_path / "live" / "a.jpg")
    with pytest.raises(SpoofguardError, match="is this NUAA"):
        import_dataset(tmp_path, format="nuaa")
    with pytest.raises(SpoofguardError, match="no option subject_pattern"):
        import_dataset(nuaa(tmp_path / "n"), format="nuaa", subject_pattern="(x)")


def test_detect(tmp_path):
    assert detect(nuaa(tmp_path / "nuaa")) and detect_format(tmp_path / "nuaa") == "nuaa"
    assert detect(nuaa(tmp_path / "face", "Face"))
    img(tmp_path / "generic" / "live" / "0001_00_00_01_0.jpg"), img(tmp_path / "generic" / "spoof" / "1_1.jpg")
    img(tmp_path / "half" / "ClientRaw" / "0001" / "0001_00_00_01_0.jpg")
    img(tmp_path / "livdet" / "Training" / "Biometrika" / "Live" / "1_1.png")
    img(tmp_path / "livdet" / "Training" / "Biometrika" / "Fake" / "Latex" / "1_1.png")
    img(tmp_path / "celeba" / "Data" / "train" / "4980" / "live" / "000001.jpg")
    for name in ("generic", "half", "livdet", "celeba"):
        assert not detect(tmp_path / name), name


def release(root: Path, sets=("raw", "face", "normalized")) -> Path:
    """NUAAImposterDB as xbob.db.nuaa's driver lists its files: raw/, Detectedface/, NormalizedFace/,
    each with Client<Set>/, Imposter<Set>/ and {client,imposter}_{train,test}_<set>.txt."""
    names = {"raw": ("raw", "Raw", ".jpg"), "face": ("Detectedface", "Face", ".jpg"), "normalized": ("NormalizedFace", "Normalized", ".bmp")}
    for variant in sets:
        folder, title, ext = names[variant]
        nuaa(root / folder, title, ext)
        write_lists(root / folder, variant, ext=ext)
    return root


def test_release_folder_and_each_set_folder_need_no_variant(tmp_path, caplog):
    """Source of truth: xbob.db.nuaa's driver (``Interface.files``: raw/{client,imposter}_{train,test}_raw.txt,
    NormalizedFace/..._normalized.txt, Detectedface/..._face.txt beside the image folders); file names
    ID_glasses_position_session_picture as NUAA distributes them. The set is found from the folders."""
    root = release(tmp_path / "NUAAImposterDB")
    assert detect(root) and detect_format(root) == "nuaa"
    whole = import_dataset(root, format="auto")
    assert len(whole.manifest) == 5 and all("/raw/ClientRaw/" in s.path or "/raw/ImposterRaw/" in s.path for s in whole.manifest)
    assert rows(whole.manifest)["bona_fide", "0002/0002_00_00_03_1.jpg"].split == "test"  # raw/'s own lists
    [warning] = whole.warnings
    assert "read raw" in warning and str(root / "Detectedface") in warning and str(root / "NormalizedFace") in warning
    assert any(str(root / "Detectedface") in r.getMessage() for r in caplog.records)  # logged, so the CLI shows it
    for folder, ext in (("Detectedface", ".jpg"), ("NormalizedFace", ".bmp"), ("raw", ".jpg")):
        assert detect_format(root / folder) == "nuaa", folder
        result = import_dataset(root / folder, format="auto")  # no variant to pass
        assert len(result.manifest) == 5 and result.warnings == [], folder
        assert all(f"/{folder}/" in s.path and s.path.endswith(ext) for s in result.manifest)
        assert rows(result.manifest)["bona_fide", "0002/0002_00_00_03_1" + ext].split == "test"
        assert {s.split for s in import_dataset(root / folder, format="nuaa", protocol="nuaa").manifest} == {"train", "test"}
    only_faces = release(tmp_path / "faces_only", sets=("face",))
    assert all("/Detectedface/ClientFace/" in s.path or "/Detectedface/ImposterFace/" in s.path
               for s in import_dataset(only_faces, format="auto").manifest)
    assert len(import_dataset(root, format="nuaa", variant="normalized").manifest) == 5  # the Python API may still choose
    with pytest.raises(SpoofguardError, match="no ClientRaw/ImposterRaw folders under .*found the face set; leave the variant out"):
        import_dataset(only_faces, format="nuaa", variant="raw")


def test_a_client_or_imposter_folder_reads_one_class_and_says_so(tmp_path):
    root = release(tmp_path / "NUAAImposterDB", sets=("face",))
    client = root / "Detectedface" / "ClientFace"
    assert detect_format(client) == "nuaa"
    result = import_dataset(client, format="auto")
    assert {s.label for s in result.manifest} == {"bona_fide"} and len(result.manifest) == 3
    assert rows(result.manifest)["bona_fide", "0002/0002_00_00_03_1.jpg"].split == "test"  # lists from the folder above
    assert any("holds NUAA's bona fide images only" in w and str(root / "Detectedface") in w for w in result.warnings)
    assert any(w.startswith("one class only") for w in result.warnings)
    imposter = import_dataset(root / "Detectedface" / "ImposterFace", format="nuaa")
    assert {(s.label, s.species) for s in imposter.manifest} == {("attack", "print")}
    with pytest.raises(SpoofguardError, match="the face set"):
        import_dataset(client, format="nuaa", variant="raw")


def test_nuaa_read_as_folder_layout_warns_about_id_species(tmp_path):
    """``data scan --format folder`` on NUAA: every file is an 'attack' whose species is a subject id."""
    root = nuaa(tmp_path / "raw")
    result = import_dataset(root, format="folder")
    assert {s.species for s in result.manifest} == {"0001", "0002"}  # what the folder layout makes of it
    text = "\n".join(result.warnings)
    assert "one class only: all 5 samples are attack" in text
    assert "2 of 2 attack species look like subject or session numbers" in text and "0001, 0002" in text
    assert "looks like the nuaa layout: --format nuaa" in text
    assert import_dataset(root, format="nuaa").warnings == []
