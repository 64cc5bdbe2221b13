"""`spoofguard data scan` on the layouts of issue 18, through the command line: warnings reach the user,
a one-class or mis-read folder still exits 0 (a scan is an inventory; training refuses one class)."""

from pathlib import Path

from PIL import Image

from spoofguard.cli import main


def test_nuaa_as_folder_layout_warns_and_exits_0(tmp_path, capsys, caplog):
    for side in ("ClientRaw", "ImposterRaw"):
        for subject in ("0001", "0002", "0003"):
            (tmp_path / side / subject).mkdir(parents=True)
            Image.new("L", (8, 8), int(subject) * 40 + len(side)).save(tmp_path / side / subject / f"{subject}_00_00_01_0.jpg")
    assert main(["data", "scan", str(tmp_path), "--format", "folder"]) == 0
    warned = caplog.text
    assert "look like subject or session numbers" in warned and "one class only" in warned and "--format nuaa" in warned
    caplog.clear()
    assert main(["data", "scan", str(tmp_path)]) == 0  # detected: both classes, subjects, no warning
    assert "layout: nuaa" in capsys.readouterr().out and "warning" not in caplog.text


def test_nuaa_release_folder_and_moved_manifest(tmp_path, capsys, caplog):
    for folder, title in (("raw", "Raw"), ("Detectedface", "Face")):
        for side in ("Client", "Imposter"):
            d = tmp_path / "NUAAImposterDB" / folder / f"{side}{title}" / "0001"
            d.mkdir(parents=True)
            Image.new("L", (8, 8), len(folder) * 9 + len(side)).save(d / "0001_00_00_01_0.jpg")
    out = tmp_path / "lists" / "nuaa.csv"
    assert main(["data", "scan", str(tmp_path / "NUAAImposterDB"), "-o", str(out)]) == 0
    assert "several NUAA image sets here: read raw" in caplog.text and "Detectedface" in caplog.text
    moved = tmp_path / "m.csv"
    out.rename(moved)
    capsys.readouterr()
    assert main(["data", "check", str(moved), "--no-near-duplicates"]) == 0  # the moved manifest still finds its images
    text = capsys.readouterr().out
    assert "2 samples" in text and "unreadable" not in text
