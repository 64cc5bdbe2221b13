import shutil

import pytest

from spoofguard.data.importers import import_dataset, list_formats
from spoofguard.data.manifest import read_manifest, write_manifest
from spoofguard.data.scan import count_table, find_duplicates
from spoofguard.data.sources import load_samples
from spoofguard.errors import SpoofguardError


def test_nested_layout_gives_labels_and_species(dataset_copy):
    deep = dataset_copy / "sensor" / "Training" / "Real"
    deep.mkdir(parents=True)
    shutil.copy(dataset_copy / "live" / "0_0.png", deep / "9_0.png")
    (dataset_copy / "spoof").mkdir()
    shutil.copy(dataset_copy / "live" / "0_0.png", dataset_copy / "spoof" / "8_0.png")
    (dataset_copy / "Fake" / "Wood Glue").mkdir()
    shutil.copy(dataset_copy / "live" / "1_1.png", dataset_copy / "Fake" / "Wood Glue" / "7_0.png")
    m = import_dataset(dataset_copy).manifest
    by_name = {p.split("/")[-2] + "/" + p.split("/")[-1]: s for s in m for p in [s.path]}
    assert by_name["Real/9_0.png"].label == "bona_fide" and by_name["Real/9_0.png"].species == ""
    assert by_name["spoof/8_0.png"].species == "spoof"
    assert by_name["Wood Glue/7_0.png"].species == "wood_glue"
    assert {(r["label"], r["species"]) for r in count_table(m)} == {
        ("bona_fide", "-"), ("attack", "gelatine"), ("attack", "latex"), ("attack", "spoof"), ("attack", "wood_glue")}
    dups = find_duplicates(m)
    assert len(dups) == 2  # 0_0.png copied twice (3 files), 1_1.png copied once
    assert sorted(len(g.paths) for g in dups) == [2, 3]


def test_duplicates_that_cross_splits_are_flagged(dataset_copy):
    shutil.copy(dataset_copy / "live" / "0_0.png", dataset_copy / "live" / "5_99.png")
    m = import_dataset(dataset_copy).manifest
    splits = ["train" if s.path.endswith("0_0.png") else "test" for s in m]
    dups = find_duplicates(m.with_splits(splits))
    assert len(dups) == 1 and dups[0].crosses_splits


def test_unreadable_and_unclassified_files_are_skipped_with_reasons(dataset_copy):
    (dataset_copy / "live" / "broken.png").write_bytes(b"")
    (dataset_copy / "live" / "text.jpg").write_text("not an image")
    (dataset_copy / "loose.png").write_bytes((dataset_copy / "live" / "0_0.png").read_bytes())
    (dataset_copy / "live" / "notes.txt").write_text("ignored: not an image extension")
    result = import_dataset(dataset_copy)
    reasons = {p.split("/")[-1]: why for p, why in result.skipped}
    assert set(reasons) == {"broken.png", "text.jpg", "loose.png"}
    assert "empty" in reasons["broken.png"] and "class folder" in reasons["loose.png"]
    assert not any(s.path.endswith(("broken.png", "text.jpg", "notes.txt")) for s in result.manifest)


@pytest.mark.parametrize("layout", list_formats())
def test_every_layout_refuses_an_option_it_does_not_take(layout, tmp_path):
    with pytest.raises(SpoofguardError, match=f"the {layout} layout takes no option colour; it takes .*check_images"):
        import_dataset(tmp_path, format=layout, colour="red")


def test_an_option_left_as_none_is_not_given(tiny_dataset):
    plain = import_dataset(tiny_dataset).manifest
    assert import_dataset(tiny_dataset, subject_pattern=None, protocol=None, variant=None).manifest.samples == plain.samples


def test_subject_pattern(tiny_dataset):
    m = import_dataset(tiny_dataset, subject_pattern=r"^(\d+)_").manifest
    assert m.has_subjects and {s.subject for s in m} == {str(i) for i in range(6)}
    with pytest.raises(SpoofguardError, match="matched no subject"):
        import_dataset(tiny_dataset, subject_pattern=r"^(x+)_")
    with pytest.raises(SpoofguardError, match="not a valid regular expression"):
        import_dataset(tiny_dataset, subject_pattern=r"^(\d+")


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpoofguardError, match="no usable images"):
        load_samples(tmp_path / "empty")
    with pytest.raises(SpoofguardError, match="no such folder"):
        load_samples(tmp_path / "missing")


def test_manifest_round_trip_with_relative_paths(tiny_dataset, tmp_path):
    m = import_dataset(tiny_dataset, subject_pattern=r"^(\d+)_").manifest
    path = write_manifest(m, tiny_dataset / "manifest.csv")
    text = path.read_text()
    assert str(tiny_dataset) not in text  # relative to the manifest's folder
    again = read_manifest(path)
    assert [s.path for s in again] == [s.path for s in m]
    assert again.fingerprint() == m.fingerprint()
    path.unlink()


def test_bad_manifests_are_refused(tmp_path):
    (tmp_path / "a.csv").write_text("path,label\nx.png,maybe\n")
    with pytest.raises(SpoofguardError, match="line 2.*label 'maybe'"):
        read_manifest(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("file,class\nx.png,live\n")
    with pytest.raises(SpoofguardError, match="not a manifest"):
        read_manifest(tmp_path / "b.csv")
