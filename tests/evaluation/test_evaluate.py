"""score -> metrics -> evaluate, through the library and the CLI, on a tiny trained run."""

import json

import numpy as np
import pytest

from spoofguard.cli import main
from spoofguard.errors import SpoofguardError
from spoofguard.evaluation import evaluate as ev
from spoofguard.evaluation.scorefile import ScoreTable, read_scores, write_scores


def _table(scores, labels, species=None, video_ids=None, meta=None):
    n = len(scores)
    rows = [{"sample_id": f"s{i}", "path": "", "label": labels[i], "species": (species or [""] * n)[i],
             "subject": "", "video_id": (video_ids or [""] * n)[i], "score": scores[i]} for i in range(n)]
    return ScoreTable.from_rows(rows, meta)


def test_score_file_round_trip_keeps_full_precision(tmp_path):
    t = _table([0.1234567890123, 0.9], ["attack", "bona_fide"], meta={"threshold": 0.5})
    back = read_scores(write_scores(t, tmp_path / "s.csv"))
    assert back.score.tolist() == t.score.tolist() and back.meta == {"threshold": 0.5}


@pytest.mark.parametrize("bad, message", [("nan", "not finite"), ("1.5", "not finite"), ("x", "not finite")])
def test_bad_scores_are_refused_with_line_numbers(tmp_path, bad, message):
    p = tmp_path / "s.csv"
    p.write_text(f"sample_id,label,score\na,bona_fide,0.5\nb,attack,{bad}\n")
    with pytest.raises(SpoofguardError, match=f"{message}.*line\\(s\\) 3"):
        read_scores(p)
    p.write_text("sample_id,label,score\na,live,0.5\n")
    with pytest.raises(SpoofguardError, match="labels other than.*line\\(s\\) 2"):
        read_scores(p)


def test_threshold_origin_order():
    judged = _table([0.2, 0.4, 0.6, 0.8], ["attack", "attack", "bona_fide", "bona_fide"], meta={"threshold": 0.7, "threshold_rule": "eer", "threshold_source": "dev split (eer)"})
    dev = _table([0.1, 0.3, 0.35, 0.9], ["attack", "attack", "bona_fide", "bona_fide"])
    assert ev.resolve_threshold(judged, "0.55").source.startswith("given value")
    t = ev.resolve_threshold(judged, None, dev)
    assert t.value == pytest.approx(0.35) and t.source.startswith("dev scores") and not t.optimistic
    t = ev.resolve_threshold(judged)
    assert t.value == 0.7 and t.source.startswith("bundle")
    judged.meta = {}
    t = ev.resolve_threshold(judged)
    assert t.optimistic and "optimistic" in t.source


def test_per_video_combines_frames():
    t = _table([0.2, 0.4, 0.9, 0.5], ["attack", "attack", "bona_fide", "bona_fide"], video_ids=["v1", "v1", "v2", ""])
    v = ev.per_video(t, "mean")
    assert v.score.tolist() == pytest.approx([0.3, 0.9, 0.5]) and v.sample_id.tolist() == ["v1", "v2", "s3"]
    with pytest.raises(SpoofguardError, match="per-video"):
        ev.per_video(t, "mode")


def test_evaluate_writes_report_and_metrics_agree_with_cli(trained_run, tmp_path, capsys):
    split_csv = trained_run.out / "split.csv"
    out = tmp_path / "report"
    assert main(["evaluate", str(trained_run.bundle), "--data", str(split_csv), "--split", "test", "--out", str(out), "--bootstrap", "50"]) == 0
    for name in ("scores.csv", "metrics.json", "report.md", "report.html"):
        assert (out / name).is_file()
    m = json.loads((out / "metrics.json").read_text())
    for key in ("apcer", "bpcer", "acer", "hter", "eer", "bpcer20", "bpcer100", "auc", "accuracy", "apcer_per_species", "threshold", "threshold_source", "ci95"):
        assert key in m
    assert m["threshold"] == pytest.approx(trained_run.threshold) and m["threshold_source"].startswith("bundle")
    capsys.readouterr()
    assert main(["metrics", str(out / "scores.csv"), "--bootstrap", "50", "--json", str(tmp_path / "m.json")]) == 0
    again = json.loads((tmp_path / "m.json").read_text())
    for key in ("apcer", "bpcer", "eer", "bpcer20", "auc", "threshold", "ci95"):
        assert again[key] == m[key], key
    assert "from bundle" in capsys.readouterr().out


def test_judging_on_training_data_is_refused(trained_run, tiny_dataset, tmp_path, capsys):
    assert main(["evaluate", str(trained_run.bundle), "--data", str(tiny_dataset), "--out", str(tmp_path / "r")]) == 2
    assert "used to train or tune this model" in capsys.readouterr().err
    # the dev split may be scored when asked for by name (dev scores choose thresholds)
    assert main(["score", str(trained_run.bundle), "--data", str(trained_run.out / "split.csv"), "--split", "dev", "-o", str(tmp_path / "dev.csv")]) == 0
    assert len(read_scores(tmp_path / "dev.csv")) > 0


def test_metrics_without_any_threshold_source_warns_optimistic(tmp_path, capsys):
    p = write_scores(_table([0.2, 0.4, 0.6, 0.8], ["attack", "attack", "bona_fide", "bona_fide"], ["print", "replay", "", ""]), tmp_path / "s.csv")
    assert main(["metrics", str(p), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "optimistic" in out and "print" in out


def test_unreadable_inputs_are_left_out_and_reported(trained_run, tmp_path):
    from PIL import Image

    from spoofguard.data.manifest import Manifest, Sample
    from spoofguard.inference.detector import Detector

    good, bad = tmp_path / "good.png", tmp_path / "broken.png"
    from tests.conftest import ridge_image

    Image.fromarray(ridge_image(np.random.default_rng(0), attack=False)).save(good)  # a flat picture is "no finger" now
    bad.write_bytes(good.read_bytes()[:30])
    manifest = Manifest([Sample(str(good), "bona_fide"), Sample(str(bad), "attack", "print")])
    table, failed = ev.score_samples(Detector(trained_run.bundle), manifest)
    assert table.sample_id.tolist() == ["good.png"]
    assert [p for p, _ in failed] == [str(bad)] and "broken.png" in failed[0][1]


def test_non_response_rates_and_provenance_reach_the_report(trained_run, tmp_path):
    """ISO/IEC 30107-3's BPNRR / APNRR: presentations without a decision are counted apart, and the report
    says which version judged which data when."""
    from PIL import Image

    from spoofguard.data.manifest import Manifest, Sample, write_manifest
    from tests.conftest import ridge_image

    rng = np.random.default_rng(0)
    samples = []
    for i in range(4):
        for label in ("bona_fide", "attack"):
            path = tmp_path / f"{label}{i}.png"
            Image.fromarray(ridge_image(rng, attack=label == "attack")).save(path)
            samples.append(Sample(str(path), label, "" if label == "bona_fide" else "print", f"s{i}"))
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(blank)  # no finger: no decision
    samples.append(Sample(str(blank), "bona_fide", "", "s9"))
    data = write_manifest(Manifest(samples), tmp_path / "m.csv")
    r = ev.evaluate(trained_run.bundle, data, tmp_path / "r", bootstrap=0)
    assert r.metrics["bpnrr"] == pytest.approx(1 / 5) and r.metrics["apnrr"] == 0.0 and r.metrics["n_no_response_bona_fide"] == 1
    report = (tmp_path / "r" / "report.md").read_text()
    assert "BPNRR" in report and "APNRR" in report
    assert "spoofguard_version" in report and "data_sha256" in report and "scored_at" in report
