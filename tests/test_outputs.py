"""Issue 17, findings 6 and 7: every command that writes a file refuses to replace an existing one (or its own
input) unless --overwrite, through one rule (spoofguard.outputs); heatmap names never collide; file names
are printed as text, never as markup, with control characters escaped."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from spoofguard.cli import main
from spoofguard.errors import SpoofguardError
from spoofguard.outputs import UniqueNames, refuse_to_replace


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _refused(capsys, code, *expected):
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for e in expected:
        assert e in err, err


@pytest.fixture(scope="module")
def manifest(trained_run):
    return trained_run.out / "split.csv"


def test_the_rule(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x")
    refuse_to_replace([tmp_path / "new.csv", None])  # nothing there: fine
    with pytest.raises(SpoofguardError, match="--overwrite"):
        refuse_to_replace([a])
    refuse_to_replace([a], overwrite=True)
    with pytest.raises(SpoofguardError, match="also an input"):  # its own input: never, --overwrite or not
        refuse_to_replace([tmp_path / "." / "a.csv"], overwrite=True, inputs=[a])
    os.link(a, tmp_path / "hard.csv")
    with pytest.raises(SpoofguardError, match="also an input"):
        refuse_to_replace([tmp_path / "hard.csv"], overwrite=True, inputs=[a])
    with pytest.raises(SpoofguardError, match="is a folder"):
        refuse_to_replace([tmp_path], overwrite=True)
    names = UniqueNames(tmp_path)
    assert [names.take(s) for s in ("x", "x", "X", "x-2")] == ["x.png", "x-2.png", "X-3.png", "x-2-2.png"]
    assert UniqueNames(tmp_path).take("a", ".csv") == "a-2.csv"  # a.csv was there before
    assert UniqueNames(tmp_path, overwrite=True).take("a", ".csv") == "a.csv"


def test_score_never_replaces_its_input_manifest(trained_run, manifest, tmp_path, capsys):
    """score --data in.csv -o in.csv replaced the user's manifest with a score file."""
    mine = tmp_path / "in.csv"
    shutil.copy(manifest, mine)
    before = _sha(mine)
    for extra in ([], ["--overwrite"]):
        _refused(capsys, main(["score", str(trained_run.bundle), "--data", str(mine), "--split", "test", "-o", str(mine), *extra]),
                 "also an input")
        assert _sha(mine) == before
    out = tmp_path / "scores.csv"
    out.write_text("an older file")
    _refused(capsys, main(["score", str(trained_run.bundle), "--data", str(mine), "--split", "test", "-o", str(out)]), "--overwrite")
    assert out.read_text() == "an older file"
    assert main(["score", str(trained_run.bundle), "--data", str(mine), "--split", "test", "-o", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith("sample_id")
    # the sidecar (NAME.csv.json) is written too, so it is guarded too
    other = tmp_path / "other.csv"
    (tmp_path / "other.csv.json").write_text("keep")
    _refused(capsys, main(["score", str(trained_run.bundle), "--data", str(mine), "--split", "test", "-o", str(other)]), "other.csv.json")


def test_metrics_json_and_evaluate_out_refuse_to_replace(trained_run, manifest, tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    assert main(["score", str(trained_run.bundle), "--data", str(manifest), "--split", "test", "-o", str(scores)]) == 0
    js = tmp_path / "m.json"
    js.write_text("keep me")
    _refused(capsys, main(["metrics", str(scores), "--json", str(js), "--bootstrap", "0"]), "--overwrite")
    assert js.read_text() == "keep me"
    _refused(capsys, main(["metrics", str(scores), "--json", str(scores), "--bootstrap", "0", "--overwrite"]), "also an input")
    assert main(["metrics", str(scores), "--json", str(js), "--bootstrap", "0", "--overwrite"]) == 0
    json.loads(js.read_text(), parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    report = tmp_path / "report"
    args = ["evaluate", str(trained_run.bundle), "--data", str(manifest), "--split", "test", "--out", str(report), "--bootstrap", "0"]
    assert main(args) == 0
    before = {p.name: _sha(p) for p in report.iterdir()}
    _refused(capsys, main(args), "--overwrite")
    assert {p.name: _sha(p) for p in report.iterdir()} == before
    assert main(args + ["--overwrite"]) == 0
    # a report folder holding the data it is asked to judge: never replaced
    shutil.copy(scores, report / "scores.csv")
    _refused(capsys, main(["evaluate", str(trained_run.bundle), "--data", str(report / "scores.csv"), "--out", str(report), "--overwrite"]),
             "also an input")


def test_data_scan_refuses_to_replace_and_prints_names_as_text(dataset_copy, tmp_path, capsys):
    out = tmp_path / "m.csv"
    out.write_text("mine")
    _refused(capsys, main(["data", "scan", str(dataset_copy), "-o", str(out)]), "--overwrite")
    assert out.read_text() == "mine"
    assert main(["data", "scan", str(dataset_copy), "-o", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith("path,")
    # species and file names come from folders and files: printed as text, escapes shown, never sent to the terminal
    odd = dataset_copy / "Fake" / "[red]Ev\x1b[2Jil"
    shutil.copytree(dataset_copy / "Fake" / "Latex", odd)
    shutil.copy(dataset_copy / "live" / "0_0.png", dataset_copy / "live" / "x\x1b]8;;https:evil\x07y.png")
    capsys.readouterr()
    assert main(["data", "scan", str(dataset_copy)]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\x07" not in text
    assert "[red]ev\\x1b[2jil" in text.replace("│", "").replace(" ", "").lower()  # the species (lower-cased), as text


def test_heatmaps_never_collide_nor_replace(trained_run, tiny_dataset, tmp_path, capsys):
    """Two inputs named x.png in different folders wrote one heatmap."""
    src = sorted(Path(tiny_dataset).rglob("*.png"))
    for i, folder in enumerate(("a", "b")):
        (tmp_path / folder).mkdir()
        shutil.copy(src[i], tmp_path / folder / "x.png")
    maps = tmp_path / "maps"
    args = ["predict", str(trained_run.bundle), str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"), "--heatmaps", str(maps)]
    assert main(args) == 0
    assert sorted(p.name for p in maps.iterdir()) == ["x-2.png", "x.png"]
    before = {p.name: _sha(p) for p in maps.iterdir()}
    _refused(capsys, main(args), "--overwrite")
    assert {p.name: _sha(p) for p in maps.iterdir()} == before
    assert main(args + ["--overwrite"]) == 0 and sorted(p.name for p in maps.iterdir()) == ["x-2.png", "x.png"]
    # pictures are never written among the inputs (one could replace an image)
    _refused(capsys, main(["predict", str(trained_run.bundle), str(tmp_path / "a" / "x.png"), "--heatmaps", str(tmp_path / "a"), "--overwrite"]),
             "holds input images")
    assert _sha(tmp_path / "a" / "x.png") == _sha(src[0])


def test_export_import_and_enroll_use_the_same_rule(trained_run, tmp_path, capsys):
    bundle = trained_run.bundle
    _refused(capsys, main(["export", str(bundle), "--onnx", str(bundle)]), "also an input")
    existing = tmp_path / "m.onnx"
    existing.write_bytes(b"keep")
    _refused(capsys, main(["export", str(bundle), "--onnx", str(existing)]), "--overwrite")
    assert existing.read_bytes() == b"keep"
    spec = tmp_path / "spec.yaml"
    spec.write_text("members: [{model: m.onnx, input_size: 32}]\n")
    _refused(capsys, main(["import-onnx", "--spec", str(spec), "-o", str(spec), "--overwrite"]), "also an input")
    assert main(["enroll", str(bundle.parent), "--images", str(bundle.parent / "samples.png"), "-o", str(bundle), "--overwrite"]) == 2
    assert "also an input" in capsys.readouterr().err


def test_a_folder_of_names_with_brackets_prints_every_row(trained_run, tiny_dataset, tmp_path, capsys):
    """A folder of 10 files printed 0 rows; "[/y]" crashed the table; "[link=...]" became a hyperlink."""
    folder = tmp_path / "caps[1]"
    folder.mkdir()
    src = sorted(Path(tiny_dataset).rglob("*.png"))[:10]
    names = [f"[{i}]" + ("[/y]" if i % 3 == 0 else "[link=http://x]" if i % 3 == 1 else "[bold]") + f"n{i}.png" for i in range(10)]
    names = [n.replace("/", "_") for n in names]  # "/" cannot be in a file name: "[_y]" then
    for s, n in zip(src, names):
        shutil.copy(s, folder / n)
    (folder / "e\x1b[31mvil.png").write_bytes(src[0].read_bytes())
    assert main(["predict", str(trained_run.bundle), str(folder)]) == 0
    out = capsys.readouterr().out
    flat = out.replace("\n", "").replace("│", "").replace(" ", "")
    assert all(n in flat for n in names), out
    assert "\x1b" not in out and "e\\x1b[31mvil.png" in flat


def test_heatmap_names_refuse_a_folder_that_would_lose_something(tmp_path):
    from spoofguard.outputs import heatmap_names

    images = tmp_path / "in"
    images.mkdir()
    (images / "a.png").write_bytes(b"x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpoofguardError, match="is a file"):
        heatmap_names(tmp_path / "file", [images / "a.png"])
    with pytest.raises(SpoofguardError, match="holds input images"):
        heatmap_names(images, [images / "a.png"])
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    (pictures / "a-face1.png").write_bytes(b"old")
    with pytest.raises(SpoofguardError, match="--overwrite"):
        heatmap_names(pictures, [images / "a.png"])
    names = heatmap_names(pictures, [images / "a.png"], overwrite=True)
    assert [names.take("a"), names.take("a")] == ["a.png", "a-2.png"]
