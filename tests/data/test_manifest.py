"""Manifests whose paths survive a move, and the whole-set warnings of a scan."""

import shutil
from pathlib import Path

import pytest

from spoofguard.data.importers import import_dataset
from spoofguard.data.manifest import Manifest, Sample, read_manifest, write_manifest
from spoofguard.data.scan import manifest_warnings
from spoofguard.data.sources import load_samples
from spoofguard.errors import SpoofguardError


def rel_paths(manifest, root):
    return sorted(Path(s.path).relative_to(root).as_posix() for s in manifest)


def test_a_manifest_outside_its_data_survives_being_moved_alone(dataset_copy, tmp_path):
    m = import_dataset(dataset_copy).manifest
    csv = write_manifest(m, tmp_path / "lists" / "deep" / "er" / "manifest.csv")
    text = csv.read_text()
    assert text.splitlines()[0].endswith(",root,root_relative") and "../" not in text.split("\n", 2)[1].split(",")[0]
    moved = tmp_path / "elsewhere" / "m.csv"
    moved.parent.mkdir()
    shutil.move(csv, moved)
    again = read_manifest(moved)
    assert [s.path for s in again] == [s.path for s in m] and again.fingerprint() == m.fingerprint()


def test_a_manifest_moved_with_its_data_and_data_moved_alone(dataset_copy, tmp_path):
    project = tmp_path / "project"
    shutil.move(dataset_copy, project / "data")
    m = import_dataset(project / "data").manifest
    write_manifest(m, project / "runs" / "r1" / "split.csv")
    shutil.move(project, tmp_path / "copied")  # the whole project elsewhere: the recorded root is gone
    again = read_manifest(tmp_path / "copied" / "runs" / "r1" / "split.csv")
    assert all(Path(s.path).is_file() for s in again)
    assert rel_paths(again, tmp_path / "copied" / "data") == rel_paths(m, project / "data")
    shutil.move(tmp_path / "copied" / "data", tmp_path / "new-disk")  # the data alone: the root override says where
    with_root = read_manifest(tmp_path / "copied" / "runs" / "r1" / "split.csv", root=tmp_path / "new-disk")
    assert all(Path(s.path).is_file() for s in with_root) and with_root.fingerprint() == m.fingerprint()
    assert load_samples(tmp_path / "copied" / "runs" / "r1" / "split.csv", root=tmp_path / "new-disk").manifest.samples == with_root.samples
    with pytest.raises(SpoofguardError, match="no such folder"):
        read_manifest(tmp_path / "copied" / "runs" / "r1" / "split.csv", root=tmp_path / "nowhere")
    with pytest.raises(SpoofguardError, match="override is for a manifest"):
        load_samples(tmp_path / "new-disk", root=tmp_path)


def test_a_manifest_inside_its_data_folder_moves_with_it_and_keeps_the_old_format(dataset_copy, tmp_path):
    m = import_dataset(dataset_copy).manifest
    csv = write_manifest(m, dataset_copy / "manifest.csv")
    text = csv.read_text()
    assert str(dataset_copy) not in text and "root" not in text.splitlines()[0]  # byte-stable wherever it is written
    moved = Path(shutil.move(dataset_copy, tmp_path / "moved"))
    again = read_manifest(moved / "manifest.csv")
    assert all(Path(s.path).is_file() for s in again) and rel_paths(again, moved) == rel_paths(m, dataset_copy)
    shutil.copy(moved / "manifest.csv", tmp_path / "alone.csv")  # copied out of its folder: the override puts it back
    assert read_manifest(tmp_path / "alone.csv", root=moved).samples == again.samples


def test_an_old_manifest_with_paths_relative_to_itself_still_reads(dataset_copy, tmp_path):
    """Written before the root columns: ``../`` paths relative to the CSV's folder, and absolute ones."""
    live = sorted((dataset_copy / "live").iterdir())[:2]
    (tmp_path / "runs").mkdir()
    old = tmp_path / "runs" / "old.csv"
    old.write_text("path,label,species,subject,session,device,video_id,split\n"
                   f"../{dataset_copy.name}/live/{live[0].name},bona_fide,,0,,,,train\n"
                   f"{live[1]},bona_fide,,1,,,,test\n")
    m = read_manifest(old)
    assert [s.path for s in m] == [str(live[0]), str(live[1])] and [s.split for s in m] == ["train", "test"]


def test_rows_of_two_roots_and_a_row_without_one(tmp_path):
    a, b = tmp_path / "a" / "x", tmp_path / "b" / "y"
    for d in (a, b):
        d.mkdir(parents=True)
        (d / "1.png").write_bytes(b"")
    m = Manifest([Sample(str(a / "1.png"), "bona_fide"), Sample(str(b / "1.png"), "attack", "print")])
    csv = write_manifest(m, tmp_path / "c" / "m.csv")
    assert read_manifest(csv).samples == m.samples  # one common root (tmp_path) for both
    text = csv.read_text().replace(f",{tmp_path},", f",{tmp_path / 'a'},", 1).replace("a/x/1.png", "x/1.png", 1)
    (tmp_path / "c" / "two.csv").write_text(text)  # hand-merged: a different root per row
    assert [s.path for s in read_manifest(tmp_path / "c" / "two.csv")] == [s.path for s in m]
    with pytest.raises(SpoofguardError, match="records 2 data roots"):
        read_manifest(tmp_path / "c" / "two.csv", root=tmp_path)


def test_whole_set_warnings():
    live = [Sample(f"/d/live/{i}.png", "bona_fide", subject=str(i)) for i in range(4)]
    assert manifest_warnings(Manifest(live)) and manifest_warnings(Manifest(live))[0].startswith("one class only: all 4 samples are bona fide")
    materials = [Sample(f"/d/fake/{sp}/{i}.png", "attack", sp) for i, sp in enumerate(["gelatine", "mix1", "mix_2", "latex"])]
    assert manifest_warnings(Manifest(live + materials)) == []  # LivDet's Mix1/Mix 2 are materials, not ids
    ids = [Sample(f"/d/ImposterRaw/{i:04d}/x.png", "attack", f"{i:04d}") for i in range(1, 8)]
    [warning] = manifest_warnings(Manifest(live + ids))
    assert warning.startswith("7 of 7 attack species look like subject or session numbers") and "(+2 more)" in warning
    subjects = [Sample(f"/d/spoof/s{i:02d}/x.png", "attack", f"s{i:02d}") for i in range(1, 3)]
    assert "look like subject" in manifest_warnings(Manifest(live + subjects + materials))[0]
    many = [Sample(f"/d/fake/kind{chr(97 + i)}/x.png", "attack", f"kind_{chr(97 + i)}") for i in range(21)]
    assert "21 attack species" in manifest_warnings(Manifest(live + many))[0]


def test_a_one_class_folder_scans_with_a_warning(tmp_path, caplog):
    """One class is a warning, not an error, for a scan: a bona fide-only set is a valid thing to list,
    merge or measure BPCER on; training refuses it on its own."""
    from PIL import Image

    for i in range(3):
        (tmp_path / "live").mkdir(exist_ok=True)
        Image.new("L", (8, 8), i).save(tmp_path / "live" / f"a{i}.png")
    result = load_samples(tmp_path, format="folder")
    assert len(result.manifest) == 3 and result.warnings[0].startswith("one class only: all 3 samples are bona fide, none attack")
    assert "one class only" in caplog.text
    write_manifest(result.manifest, tmp_path / "m.csv")
    assert load_samples(tmp_path / "m.csv").warnings == result.warnings  # a manifest gets the same checks
