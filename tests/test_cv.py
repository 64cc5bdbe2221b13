"""Cross-validation: subject-disjoint stratified folds, one training per fold, pooled out-of-fold scores."""

import json
from collections import Counter

import numpy as np
import pytest

from spoofguard.cv import assign_folds, cross_validate
from spoofguard.data.manifest import Manifest, Sample, read_manifest
from spoofguard.errors import SpoofguardError
from spoofguard.evaluation.scorefile import read_scores
from tests.conftest import make_dataset


def _manifest(subjects=12, per=4):
    samples = []
    for s in range(subjects):
        for i in range(per):
            label, species = ("bona_fide", "") if i % 2 == 0 else ("attack", "latex" if s % 2 else "gelatine")
            samples.append(Sample(f"/d/{s}_{i}.png", label, species, subject=str(s)))
    return Manifest(samples)


def test_folds_are_subject_disjoint_stratified_and_seeded():
    m = _manifest()
    folds = assign_folds(m, 4, seed=0)
    by_subject = {}
    for s, f in zip(m, folds):
        by_subject.setdefault(s.subject, set()).add(f)
    assert all(len(v) == 1 for v in by_subject.values())  # a subject never straddles folds
    for k in range(4):  # every fold holds bona fide and both species
        assert {s.class_name for s, f in zip(m, folds) if f == k} == {"bona_fide", "latex", "gelatine"}
    assert assign_folds(m, 4, seed=0) == folds
    assert assign_folds(m, 4, seed=1) != folds


def test_without_subjects_identical_files_share_a_fold():
    m = Manifest([Sample(f"/d/{i}.png", "bona_fide" if i % 2 else "attack") for i in range(20)])
    hashes = {s.path: f"h{i // 2}" for i, s in enumerate(m)}  # pairs of byte-identical files
    folds = assign_folds(m, 5, seed=0, hashes=hashes)
    for i in range(0, 20, 2):
        assert folds[i] == folds[i + 1]


def test_too_few_subjects_for_the_folds_is_refused_with_advice():
    with pytest.raises(SpoofguardError, match="fewer than --folds 10"):
        assign_folds(_manifest(subjects=6), 10, seed=0)
    with pytest.raises(SpoofguardError, match="--folds must be"):
        assign_folds(_manifest(), 1, seed=0)


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("cv") / "prints", n_live=30, n_per_species=15, subjects=10, seed=4)
    out = tmp_path_factory.mktemp("cvout") / "cv"
    result = cross_validate(root, out, folds=3, model="texture", input_size=96, subject_pattern=r"^(\d+)_", say=lambda *a: None)
    return root, out, result


def test_every_sample_is_scored_once_by_a_model_that_never_saw_it(cv_run):
    root, out, result = cv_run
    table = read_scores(out / "scores.csv")
    assert len(table) == 60 and len(set(table.path)) == 60
    for f in result.folds:
        split = read_manifest(f.run + "/split.csv")
        test = {s.path for s in split.split("test")}
        seen = {s.path for s in split if s.split in ("train", "dev")}
        assert not test & seen
        assert {s.subject for s in split.split("test")}.isdisjoint({s.subject for s in split if s.split != "test"})
        assert len(test) == f.test_n
    assert Counter(r.fold for r in result.folds) == Counter({1: 1, 2: 1, 3: 1})


def test_summary_files_and_pooled_figures(cv_run):
    _, out, result = cv_run
    doc = json.loads((out / "cv.json").read_text())
    assert doc["context"]["folds"] == 3 and len(doc["folds"]) == 3
    for key in ("apcer", "bpcer", "acer", "eer", "bpcer20", "auc"):
        assert key in doc["summary"] and "pooled_" + key in doc["summary"]
    means = [f.metrics["acer"] for f in result.folds]
    assert doc["summary"]["acer"]["mean"] == pytest.approx(float(np.mean(means)))
    assert result.pooled[0]["n"] == 60 and result.pooled[0]["auc"] > 0.9
    md = (out / "cv.md").read_text()
    assert "pooled out-of-fold" in md and "mean ± sd over folds" in md
    # the pooled score file is judged by `spoofguard metrics` like any other, at the median fold threshold
    meta = json.loads((out / "scores.csv.json").read_text())
    assert meta["threshold"] == pytest.approx(float(np.median([f.threshold for f in result.folds])))


def test_an_existing_output_folder_is_refused(cv_run, tmp_path):
    root, out, _ = cv_run
    with pytest.raises(SpoofguardError, match="already holds files"):
        cross_validate(root, out, folds=3, model="texture", input_size=96, subject_pattern=r"^(\d+)_", say=lambda *a: None)
    with pytest.raises(SpoofguardError, match="cv sets"):
        cross_validate(root, tmp_path / "x", folds=3, protocol="random", say=lambda *a: None)


def test_the_score_file_names_each_samples_fold(cv_run):
    import csv

    _, out, result = cv_run
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    fold_of = {r["path"]: int(r["fold"]) for r in rows}
    for f in result.folds:
        assert {fold_of[s.path] for s in read_manifest(f.run + "/split.csv").split("test")} == {f.fold}


def test_cv_json_is_valid_json_even_with_non_finite_values(tmp_path):
    """A NaN (e.g. an undefined rate that reached a summary as a float) is written as null, never as NaN."""
    from spoofguard.cv import METRICS, CVResult, FoldResult, summarise, write_cv

    metrics = {k: 0.1 for k in METRICS} | {"apcer": float("nan"), "bpcer": np.float64(0.1), "apcer_per_species": {}}
    folds, pooled = [FoldResult(1, 1, 10, 5, 0.5, metrics, 1.0, "run")], [{k: 0.2 for k in METRICS} | {"n": 5, "eer": float("inf")}]
    context = {"model": "padnet", "data": tmp_path, "samples": 5, "subjects": 2, "folds": 2, "repeats": 1, "seed": 0, "options": {}}
    text = write_cv(CVResult(folds, pooled, summarise(folds, pooled), context=context), tmp_path)["json"].read_text()
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in cv.json"))
    assert doc["folds"][0]["metrics"]["apcer"] is None and doc["pooled"][0]["eer"] is None and doc["context"]["data"] == str(tmp_path)
