"""The model comparison: one table, the same split for every model, errors as rows, both files."""

from __future__ import annotations

import json
import math

import pytest

from spoofguard.compare import CompareRow, compare, parse_epochs_per_model, read_table
from spoofguard.data.manifest import read_manifest
from spoofguard.errors import SpoofguardError

MODELS = ["seed-cnn", "padnet"]


@pytest.fixture(scope="module")
def comparison(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    calls = []
    rows = compare(MODELS, data=str(tiny_dataset), out=out, epochs=1, seed=0, bootstrap=0, input_size=32,
                   subject_pattern=r"^(\d+)_", bench_seconds=0.05, progress=lambda done, total: calls.append((done, total)),
                   say=lambda *a: None)
    return rows, out, calls


def test_one_row_per_model_with_finite_metrics_and_costs(comparison):
    rows, out, calls = comparison
    assert [r.model for r in rows] == MODELS
    assert calls == [(1, 2), (2, 2)]
    for r in rows:
        assert r.error == "", r.error
        for k in ("apcer", "bpcer", "acer", "eer", "bpcer20", "auc", "train_seconds", "images_per_s", "images_per_s_torch"):
            assert getattr(r, k) is not None and math.isfinite(getattr(r, k)), (r.model, k)
        assert 0 <= r.apcer <= 1 and 0 <= r.auc <= 1
        assert r.params > 0 and r.gflops > 0 and r.images_per_s > 0
        assert r.epochs == r.epochs_budget == 1 and r.input_size == 32
        assert (out / "runs" / r.model / "model.safetensors").is_file()
        assert (out / "runs" / r.model / "report" / "metrics.json").is_file()
    padnet = rows[1]
    assert padnet.view == "patches" and padnet.views_per_image >= 1
    assert padnet.gflops == pytest.approx(padnet.gflops_per_view * padnet.views_per_image)


def test_every_model_sees_the_identical_split(comparison):
    rows, out, _ = comparison
    splits = [{(s.path, s.split) for s in read_manifest(out / "runs" / m / "split.csv")} for m in MODELS]
    assert splits[0] == splits[1]
    tests = [{s.path for s in read_manifest(out / "runs" / m / "split.csv").split("test")} for m in MODELS]
    assert tests[0] and tests[0] == tests[1]
    # and each model was judged on exactly that test split
    for m in MODELS:
        metrics = json.loads((out / "runs" / m / "report" / "metrics.json").read_text())
        assert metrics["n_bona_fide"] + metrics["n_attack"] == len(tests[0])
    assert json.loads((out / "runs" / "padnet" / "config.json").read_text())["config"]["protocol"] == "manifest"


def test_markdown_has_a_header_and_one_line_per_model(comparison):
    rows, out, _ = comparison
    text = (out / "compare.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("|")]
    header = table[0]
    for col in ("model", "APCER (max)", "BPCER", "ACER", "EER", "BPCER20", "AUC", "params", "GFLOPs", "train time", "img/s onnx"):
        assert col in header
    assert set(table[1].replace("|", "").replace(":", "").replace("-", "")) == set()
    body = table[2:2 + len(MODELS)]
    assert [line.split("|")[1].strip() for line in body] == MODELS
    assert all(line.count("|") == header.count("|") for line in body)
    assert "protocol subject" in text and "torch" in text and "CPUs" in text


def test_json_round_trips(comparison):
    rows, out, _ = comparison
    doc = json.loads((out / "compare.json").read_text())
    assert doc["context"]["split"]["test"]["samples"] == rows[0].test_n
    assert doc["context"]["machine"]["cpu_count"] >= 1
    back, context = read_table(out)
    assert back == rows
    assert all(isinstance(r, CompareRow) for r in back)
    assert context["protocol"] == "subject"


def test_bad_names_and_options_are_refused_before_training(tiny_dataset, tmp_path):
    # an unknown model is a clear error before anything trains (a typo must not cost the other models' hours)
    with pytest.raises(SpoofguardError, match="unknown model 'nonet'"):
        compare(["seed-cnn", "nonet"], data=str(tiny_dataset), out=tmp_path, epochs=1, say=lambda *a: None)
    with pytest.raises(SpoofguardError, match="input side"):
        compare(["padnet@big"], data=str(tiny_dataset), out=tmp_path, epochs=1, say=lambda *a: None)
    with pytest.raises(SpoofguardError, match="not among the models"):
        compare(["padnet"], data=str(tiny_dataset), out=tmp_path, epochs_per_model={"spoofnet": 3}, say=lambda *a: None)
    with pytest.raises(SpoofguardError, match="unknown training option"):
        compare(["padnet"], data=str(tiny_dataset), out=tmp_path, no_such_option=1, say=lambda *a: None)
    assert not (tmp_path / "runs").exists()


def test_existing_runs_are_refused_without_overwrite(comparison, tiny_dataset):
    _, out, _ = comparison
    with pytest.raises(SpoofguardError, match="already exist"):
        compare(MODELS, data=str(tiny_dataset), out=out, epochs=1, say=lambda *a: None)


def test_a_model_that_fails_to_train_gets_an_error_row(tiny_dataset, tmp_path, monkeypatch):
    import spoofguard.training.train as training

    real = training.train

    def flaky(cfg, **kw):
        if cfg.model == "seed-cnn":
            raise SpoofguardError("out of patience")
        return real(cfg, **kw)

    monkeypatch.setattr(training, "train", flaky)
    rows = compare(["seed-cnn@32", "padnet@32"], data=str(tiny_dataset), out=tmp_path, epochs=1, subject_pattern=r"^(\d+)_",
                   backends=("onnx",), bench_seconds=0.05, say=lambda *a: None)
    assert rows[0].error == "training failed: out of patience" and rows[0].acer is None
    assert rows[1].error == "" and rows[1].acer is not None and rows[1].images_per_s_torch is None
    # the first model failed before splitting: the next one made the split with the asked protocol
    assert json.loads((tmp_path / "runs" / "padnet@32" / "config.json").read_text())["protocol"] == "subject"
    text = (tmp_path / "compare.md").read_text()
    assert "| error |" in text and "training failed: out of patience" in text and "n/a" in text
    assert read_table(tmp_path)[0] == rows


def test_parse_epochs_per_model():
    assert parse_epochs_per_model("spoofnet=15, padnet@224=40") == {"spoofnet": 15, "padnet@224": 40}
    assert parse_epochs_per_model("") == {}
    with pytest.raises(SpoofguardError, match="NAME=EPOCHS"):
        parse_epochs_per_model("spoofnet:15")


def test_compare_cli_writes_the_table(tiny_dataset, tmp_path, capsys):
    from spoofguard.cli import main

    code = main(["compare", "--models", "seed-cnn", "--data", str(tiny_dataset), "--out", str(tmp_path / "c"), "--epochs", "1",
                 "--input-size", "32", "--subject-pattern", r"^(\d+)_", "--bootstrap", "0", "--backend", "onnx"])
    assert code == 0 and (tmp_path / "c" / "compare.md").is_file() and "| seed-cnn |" in capsys.readouterr().out
    assert main(["compare", "--models", "nonet", "--data", str(tiny_dataset), "--out", str(tmp_path / "d")]) == 2


def test_on_video_frames_a_temporal_model_and_its_single_frame_baseline_are_both_judged_per_video(tmp_path):
    from spoofguard.compare import compare
    from tests.models.test_temporal import _frame_videos

    manifest = _frame_videos(tmp_path / "clips", videos=12, frames=4)
    rows = compare(["padnet", "temporal"], str(manifest), tmp_path / "c", modality="face", protocol="random", epochs=1,
                   input_size=32, precropped=True, bootstrap=0, backends=("onnx",))
    by = {r.model: r for r in rows}
    assert not by["padnet"].error and not by["temporal"].error, [r.error for r in rows]
    assert "judged per video (mean of its frame scores)" in by["padnet"].notes
    assert by["padnet"].test_n == by["temporal"].test_n  # the same number of videos judged


def test_folds_cross_validate_every_model_on_the_same_folds(tmp_path):
    from tests.conftest import make_dataset

    root = make_dataset(tmp_path / "prints", n_live=30, n_per_species=15, subjects=10, seed=5)
    out = tmp_path / "cmp"
    rows = compare(["texture", "seed-cnn"], data=str(root), out=out, epochs=1, seed=0, folds=3, input_size=64,
                   subject_pattern=r"^(\d+)_", bench_seconds=0.05, backends=("torch",), say=lambda *a: None)
    assert [r.error for r in rows] == ["", ""]
    for r in rows:
        assert r.test_n == 60 and 0 <= r.acer <= 1 and r.auc is not None  # every sample judged once, out of fold
    assert rows[0].epochs == 0 and rows[1].epochs == 1  # texture is fitted, seed-cnn trained
    tests = [[{s.path for s in read_manifest(out / "cv" / m / "repeat-1" / f"fold-{k}" / "run" / "split.csv").split("test")}
              for k in (1, 2, 3)] for m in ("texture", "seed-cnn")]
    assert tests[0] == tests[1]  # the same folds
    table = (out / "compare.md").read_text()
    assert "3-fold subject-disjoint cross-validation" in table and "| texture |" in table
