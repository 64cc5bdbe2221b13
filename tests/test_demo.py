"""The one-command demo's whole path, at a tiny size."""

from spoofguard import load_bundle
from spoofguard.cli import main
from spoofguard.demo import run_demo


def test_demo_runs_end_to_end_on_a_tiny_size(tmp_path):
    r = run_demo(tmp_path / "demo", n=48, size=96, epochs=1, progress=False, say=lambda *a: None)
    assert (r.data / "manifest.csv").is_file()
    assert r.report.is_file() and r.report.name == "report.html"
    assert load_bundle(r.bundle).modality == "fingerprint"
    assert {"apcer", "bpcer", "eer", "threshold_source"} <= set(r.metrics)
    assert r.metrics["threshold_source"].startswith("bundle")
    assert r.predictions and all(0 <= p["score"] <= 1 for p in r.predictions)
    assert {p["truth"] for p in r.predictions} >= {"bona_fide"}
    assert load_bundle(r.bundle).preprocessing.crop == "patches"  # native-resolution patches, not a resized print
    from PIL import Image

    for p in r.predictions:  # a heatmap picture per prediction, the size of the print
        assert p["patches"] >= 1 and Image.open(p["heatmap"]).size == (96, 96)


def test_demo_refuses_an_existing_folder(tmp_path, capsys):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (tmp_path / "demo" / "keep.txt").read_text() == "mine"
