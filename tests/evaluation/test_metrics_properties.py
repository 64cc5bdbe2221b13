"""Property tests (hypothesis) of the ISO/IEC 30107-3 metrics against their definitions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from spoofguard.evaluation import (
    apcer_at_bpcer,
    bpcer_at_apcer,
    choose_threshold,
    compute_metrics,
    eer,
    error_rates,
)

BF, AT = "bona_fide", "attack"
SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def score_sets(draw, min_size=1, both=False):
    """Rows of (score, label, species); scores on a coarse grid, so ties are common."""
    n = draw(st.integers(min_size, 50))
    grid = draw(st.sampled_from([4, 20, 1000]))
    scores = draw(st.lists(st.integers(0, grid), min_size=n, max_size=n))
    labels = draw(st.lists(st.sampled_from([BF, AT]), min_size=n, max_size=n))
    if both:
        labels[0], labels[-1] = BF, AT
        if n == 1:
            scores, labels = scores * 2, [BF, AT]
    species = draw(st.lists(st.sampled_from(["print", "replay", "", "mask"]), min_size=len(labels), max_size=len(labels)))
    return np.array(scores, dtype=float) / grid, np.array(labels), np.array(species, dtype=object)


def candidates(scores):
    return list(np.unique(scores)) + [float(np.nextafter(scores.max(), np.inf))]


@SETTINGS
@given(score_sets(), st.randoms(use_true_random=False))
def test_metrics_unchanged_when_rows_are_shuffled(data, rnd):
    scores, labels, species = data
    perm = np.array(rnd.sample(range(scores.size), scores.size))
    a = compute_metrics(scores, labels, species, threshold=0.5, bootstrap=0)
    b = compute_metrics(scores[perm], labels[perm], species[perm], threshold=0.5, bootstrap=0)
    conf_a, conf_b = a["classification"].pop("mean_confidence"), b["classification"].pop("mean_confidence")
    assert a == b
    assert conf_a == pytest.approx(conf_b)


@SETTINGS
@given(score_sets(both=True))
def test_eer_lies_between_apcer_and_bpcer_and_minimises_the_gap(data):
    scores, labels, _ = data
    value, t = eer(scores, labels)
    r = error_rates(scores, labels, threshold=t)
    low, high = sorted([r["apcer_pooled"], r["bpcer"]])
    assert low - 1e-12 <= value <= high + 1e-12
    gaps = []
    for c in candidates(scores):
        rc = error_rates(scores, labels, threshold=c)
        gaps.append(abs(rc["apcer_pooled"] - rc["bpcer"]))
    assert abs(r["apcer_pooled"] - r["bpcer"]) <= min(gaps) + 1e-12


@SETTINGS
@given(score_sets(both=True), st.sampled_from([0.05, 0.01, 0.2]))
def test_bpcer_at_apcer_meets_target_with_the_lowest_threshold(data, target):
    scores, labels, species = data
    bpcer, t = bpcer_at_apcer(scores, labels, species, target)
    r = error_rates(scores, labels, species, threshold=t)
    assert r["apcer"] <= target
    assert r["bpcer"] == bpcer
    lower = [c for c in candidates(scores) if c < t]
    if lower:  # the next lower candidate breaks the constraint, so no lower BPCER is allowed
        assert error_rates(scores, labels, species, threshold=lower[-1])["apcer"] > target


@SETTINGS
@given(score_sets(both=True))
def test_bpcer20_and_bpcer100_thresholds(data):
    scores, labels, species = data
    m = compute_metrics(scores, labels, species, threshold=0.5, bootstrap=0)
    for key, target in (("bpcer20", 0.05), ("bpcer100", 0.01)):
        r = error_rates(scores, labels, species, threshold=m[key + "_threshold"])
        assert r["apcer"] <= target and r["bpcer"] == m[key]
    assert m["bpcer20"] <= m["bpcer100"]
    assert m["auc"] == pytest.approx(roc_auc_score(labels == BF, scores))


@SETTINGS
@given(score_sets(both=True), st.sampled_from([0.0, 0.1, 0.3]))
def test_bpcer_rule_meets_target_with_the_highest_threshold(data, target):
    scores, labels, species = data
    t = choose_threshold(f"bpcer={target}", scores, labels, species)
    assert error_rates(scores, labels, species, threshold=t)["bpcer"] <= target
    higher = [c for c in candidates(scores) if c > t]
    if higher:
        assert error_rates(scores, labels, species, threshold=higher[0])["bpcer"] > target
    assert apcer_at_bpcer(scores, labels, species, target)[1] == t


@SETTINGS
@given(score_sets(), st.floats(0, 1))
def test_apcer_is_at_least_pooled_apcer(data, threshold):
    scores, labels, species = data
    r = error_rates(scores, labels, species, threshold=threshold)
    if r["n_attack"]:
        assert r["apcer"] >= r["apcer_pooled"]
        assert r["apcer"] == max(r["apcer_per_species"].values())
    else:
        assert r["apcer"] is None and r["apcer_pooled"] is None
    if r["n_bona_fide"] == 0:
        assert r["bpcer"] is None


@settings(max_examples=25, deadline=None)
@given(score_sets(min_size=2), st.integers(0, 2**32 - 1), st.booleans())
def test_bootstrap_intervals_are_ordered_rates(data, seed, by_subject):
    scores, labels, species = data
    subjects = np.arange(scores.size) % 5 if by_subject else None
    m = compute_metrics(scores, labels, species, threshold=0.5, subjects=subjects, bootstrap=50, seed=seed)
    for key, ci in m["ci95"].items():
        for pair in ci.values() if key == "apcer_per_species" else [ci]:
            if pair is not None:
                low, high = pair
                assert 0 <= low <= high <= 1, key
