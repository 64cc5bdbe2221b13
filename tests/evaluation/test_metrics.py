"""Hand-computed checks of the ISO/IEC 30107-3 metrics, thresholds and input refusals."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from spoofguard.errors import SpoofguardError
from spoofguard.evaluation import (
    ThresholdRule,
    aggregate_by_video,
    apcer_at_bpcer,
    bpcer_at_apcer,
    choose_threshold,
    compute_metrics,
    eer,
    error_rates,
    parse_threshold_rule,
)
from spoofguard.evaluation.metrics import MAX_THRESHOLD, _resample_weights

BF, AT = "bona_fide", "attack"


# --------------------------------------------------------------------------- two species, threshold 0.5
# bona fide: 0.9 0.8 0.7 0.4          -> 0.4 rejected          BPCER        = 1/4 = 0.25
# print:     0.6 0.3 0.2 0.1          -> 0.6 accepted          APCER_print  = 1/4 = 0.25
# replay:    0.6 0.2                  -> 0.6 accepted          APCER_replay = 1/2 = 0.5
# APCER (max over species) = 0.5; pooled APCER = 2/6 = 1/3
# ACER = (0.5 + 0.25)/2 = 0.375;  HTER = (1/3 + 1/4)/2 = 7/24
TWO_SCORES = [0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1, 0.6, 0.2]
TWO_LABELS = [BF] * 4 + [AT] * 6
TWO_SPECIES = ["", "", "", "", "print", "print", "print", "print", "replay", "replay"]


def test_error_rates_max_over_species_differs_from_pooled():
    r = error_rates(TWO_SCORES, TWO_LABELS, TWO_SPECIES, threshold=0.5)
    assert r["apcer_per_species"] == {"print": 0.25, "replay": 0.5}
    assert r["apcer"] == 0.5
    assert r["apcer_pooled"] == pytest.approx(1 / 3)
    assert r["bpcer"] == 0.25
    assert r["acer"] == pytest.approx(0.375)
    assert r["hter"] == pytest.approx(7 / 24)
    assert (r["n_bona_fide"], r["n_attack"]) == (4, 6)
    assert r["n_per_species"] == {"print": 4, "replay": 2}


def test_threshold_can_be_positional():
    assert error_rates(TWO_SCORES, TWO_LABELS, TWO_SPECIES, 0.5)["apcer"] == 0.5


def test_unknown_species_grouped_as_attack_and_bona_fide_species_ignored():
    # "" , None and "attack" are all the unknown species "attack"; "print" on a bona fide row is ignored.
    scores = [0.9, 0.6, 0.6, 0.1, 0.2]
    labels = [BF, AT, AT, AT, AT]
    species = ["print", "", None, "attack", "replay"]
    r = error_rates(scores, labels, species, threshold=0.5)
    assert r["n_per_species"] == {"attack": 3, "replay": 1}
    assert r["apcer_per_species"] == {"attack": pytest.approx(2 / 3), "replay": 0.0}
    r = error_rates(scores, labels, threshold=0.5)  # species=None -> all "attack"
    assert r["apcer_per_species"] == {"attack": 0.5}


def test_score_equal_to_threshold_is_accepted_as_bona_fide():
    # bona fide at exactly 0.5 is accepted (BPCER 0); attack at exactly 0.5 is accepted (APCER 1/2).
    r = error_rates([0.5, 0.5, 0.49], [BF, AT, AT], threshold=0.5)
    assert r["bpcer"] == 0.0
    assert r["apcer"] == 0.5
    r = error_rates([0.5, 0.5, 0.49], [BF, AT, AT], threshold=float(np.nextafter(0.5, 1)))
    assert (r["bpcer"], r["apcer"]) == (1.0, 0.0)


def test_threshold_just_above_one_rejects_everything():
    r = error_rates([1.0, 1.0], [BF, AT], threshold=MAX_THRESHOLD)
    assert (r["bpcer"], r["apcer"]) == (1.0, 0.0)


# --------------------------------------------------------------------------- BPCER20 / BPCER100
# 40 attacks: 38 at 0.01 .. 0.38, two high ones at 0.85 and 0.75.
# 10 bona fide: 0.95 0.9 0.88 0.8 0.78 0.72 0.7 0.6 0.35 0.3
# BPCER20: 5% of 40 = 2 attacks may be accepted -> the threshold must lie above 0.38 (the 3rd highest
#   attack); the lowest candidate above 0.38 is 0.6 -> accepted attacks 0.85, 0.75 (APCER 0.05);
#   bona fide below 0.6: 0.35, 0.3 -> BPCER20 = 2/10 = 0.2, threshold 0.6.
# BPCER100: 1% of 40 = 0.4 -> no attack may be accepted -> threshold above 0.85, i.e. 0.88;
#   bona fide below 0.88: 0.8 0.78 0.72 0.7 0.6 0.35 0.3 -> BPCER100 = 7/10 = 0.7.
# With species: the two high attacks are both "print" (20 print, 20 replay): 5% of 20 = 1 print may be
#   accepted -> threshold above 0.75 -> 0.78; bona fide below: 0.72 0.7 0.6 0.35 0.3 -> BPCER20 = 0.5.
B20_ATTACKS = [i / 100 for i in range(1, 39)] + [0.85, 0.75]
B20_BONA = [0.95, 0.9, 0.88, 0.8, 0.78, 0.72, 0.7, 0.6, 0.35, 0.3]
B20_SCORES = B20_ATTACKS + B20_BONA
B20_LABELS = [AT] * 40 + [BF] * 10
B20_SPECIES = ["print"] * 18 + ["replay"] * 20 + ["print", "print"] + [""] * 10


def test_bpcer20_between_samples_pooled_species():
    assert bpcer_at_apcer(B20_SCORES, B20_LABELS, None, 0.05) == (pytest.approx(0.2), 0.6)
    assert error_rates(B20_SCORES, B20_LABELS, threshold=0.6)["apcer"] == 0.05
    assert error_rates(B20_SCORES, B20_LABELS, threshold=0.38)["apcer"] == 0.075  # 3/40: too many


def test_bpcer100():
    assert bpcer_at_apcer(B20_SCORES, B20_LABELS, None, 0.01) == (pytest.approx(0.7), 0.88)


def test_bpcer20_uses_max_over_species():
    assert bpcer_at_apcer(B20_SCORES, B20_LABELS, B20_SPECIES, 0.05) == (pytest.approx(0.5), 0.78)


def test_bpcer_at_apcer_when_nothing_may_pass_uses_value_above_max():
    # every attack scores 1.0, so only the value just above 1 rejects them all.
    bpcer, t = bpcer_at_apcer([1.0, 1.0, 0.9], [AT, BF, BF], None, 0.0)
    assert (bpcer, t) == (1.0, MAX_THRESHOLD)


# --------------------------------------------------------------------------- EER
def test_eer_exact_crossing():
    # bona fide 0.2 0.6 0.7 0.8 0.9; attacks 0.1 0.3 0.4 0.5 0.65.
    # At 0.6: attacks >= 0.6: 0.65 -> APCER 1/5; bona fide < 0.6: 0.2 -> BPCER 1/5. EER = 0.2.
    scores = [0.2, 0.6, 0.7, 0.8, 0.9, 0.1, 0.3, 0.4, 0.5, 0.65]
    labels = [BF] * 5 + [AT] * 5
    assert eer(scores, labels) == (pytest.approx(0.2), 0.6)


def test_eer_is_mean_at_closest_threshold():
    # bona fide 0.3 0.6 0.8 0.9 (4); attacks 0.1 0.5 0.7 (3).
    # t=0.5: APCER 2/3, BPCER 1/4 (gap 5/12); t=0.6: APCER 1/3, BPCER 1/4 (gap 1/12, smallest);
    # t=0.7: APCER 1/3, BPCER 2/4 (gap 1/6).  EER = (1/3 + 1/4)/2 = 7/24 at threshold 0.6.
    value, t = eer([0.3, 0.6, 0.8, 0.9, 0.1, 0.5, 0.7], [BF] * 4 + [AT] * 3)
    assert t == 0.6
    assert value == pytest.approx(7 / 24)


def test_eer_uses_pooled_attacks():
    # Species split does not change the EER (eer() takes no species at all).
    v1 = eer(TWO_SCORES, TWO_LABELS)
    m = compute_metrics(TWO_SCORES, TWO_LABELS, TWO_SPECIES, threshold=0.5, bootstrap=0)
    assert (m["eer"], m["eer_threshold"]) == v1


def test_perfect_separation():
    scores = [0.9, 0.8, 0.2, 0.1]
    labels = [BF, BF, AT, AT]
    assert eer(scores, labels) == (0.0, 0.8)
    m = compute_metrics(scores, labels, threshold=0.5, bootstrap=0)
    assert (m["auc"], m["bpcer20"], m["bpcer100"], m["accuracy"]) == (1.0, 0.0, 0.0, 1.0)


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, 200) / 4
    labels = np.where(rng.random(200) < 0.5, BF, AT)
    m = compute_metrics(scores, labels, threshold=0.5, bootstrap=0)
    assert m["auc"] == pytest.approx(roc_auc_score(labels == BF, scores))


# --------------------------------------------------------------------------- undefined -> None
def test_only_bona_fide_gives_none_not_zero():
    r = error_rates([0.9, 0.3], [BF, BF], threshold=0.5)
    assert r["bpcer"] == 0.5
    assert r["apcer"] is None and r["apcer_pooled"] is None
    assert r["acer"] is None and r["hter"] is None
    assert r["apcer_per_species"] == {}
    assert eer([0.9, 0.3], [BF, BF]) == (None, None)
    assert bpcer_at_apcer([0.9, 0.3], [BF, BF], None, 0.05) == (None, None)
    m = compute_metrics([0.9, 0.3], [BF, BF], threshold=0.5, bootstrap=20)
    for key in ("apcer", "acer", "hter", "eer", "bpcer20", "bpcer100", "auc"):
        assert m[key] is None and m["ci95"][key] is None, key
    assert m["bpcer"] == 0.5 and m["accuracy"] == 0.5
    assert m["classification"]["per_class"][AT]["recall"] is None
    assert m["classification"]["mean_confidence"][AT] is None


def test_only_attacks_gives_none_not_zero():
    r = error_rates([0.9, 0.3], [AT, AT], ["print", "replay"], threshold=0.5)
    assert r["bpcer"] is None and r["acer"] is None and r["hter"] is None
    assert r["apcer"] == 1.0 and r["apcer_pooled"] == 0.5
    m = compute_metrics([0.9, 0.3], [AT, AT], threshold=0.5, bootstrap=0)
    assert m["bpcer"] is None and m["eer"] is None and m["auc"] is None
    assert m["eer_threshold"] is None and m["bpcer20_threshold"] is None


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    "bad, words",
    [(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite"), (-0.1, "[0, 1]"), (1.2, "[0, 1]")],
)
def test_bad_scores_are_refused_with_rows(bad, words):
    scores = [0.1, 0.2, bad, 0.4, 0.5, bad]
    with pytest.raises(SpoofguardError) as e:
        error_rates(scores, [BF, AT] * 3, threshold=0.5)
    assert words in str(e.value) and "rows 2, 5" in str(e.value)


def test_many_bad_rows_show_first_ten():
    with pytest.raises(SpoofguardError, match=r"rows 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 \(first 10 of 12"):
        eer([float("nan")] * 12, [BF] * 12)


def test_unknown_labels_are_refused_with_rows():
    with pytest.raises(SpoofguardError, match=r"'live'.*rows 1, 3"):
        error_rates([0.1, 0.2, 0.3, 0.4], [BF, "live", AT, "live"], threshold=0.5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: error_rates([], [], threshold=0.5),
        lambda: error_rates([0.5, 0.5], [BF], threshold=0.5),
        lambda: error_rates([0.5], [BF], ["a", "b"], threshold=0.5),
        lambda: error_rates(["x"], [BF], threshold=0.5),
        lambda: error_rates([[0.5]], [BF], threshold=0.5),
        lambda: error_rates([0.5], [BF]),  # threshold missing
        lambda: error_rates([0.5], [BF], threshold=1.5),
        lambda: error_rates([0.5], [BF], threshold=float("nan")),
        lambda: bpcer_at_apcer([0.5], [BF], None, 1.5),
        lambda: compute_metrics([0.5], [BF], threshold=0.5, bootstrap=-1),
        lambda: compute_metrics([0.5], [BF], threshold=0.5, confidence=1.0),
        lambda: compute_metrics([0.5], [BF], threshold=0.5, subjects=["a", "b"]),
        lambda: aggregate_by_video([0.5], ["v"], how="mode"),
        lambda: aggregate_by_video([0.5, 2.0], ["v", "v"]),
    ],
)
def test_other_bad_inputs_raise_spoofguard_error(call):
    with pytest.raises(SpoofguardError):
        call()


# --------------------------------------------------------------------------- per-video aggregation
AGG_SCORES = [0.2, 0.4, 0.9, 0.5, 0.1, 0.3, 0.7]
AGG_IDS = ["b", "b", "b", "", "a", "a", None]  # "" and None rows stay items of their own


@pytest.mark.parametrize(
    "how, expected",
    [
        ("mean", [0.5, 0.5, 0.2, 0.7]),
        ("median", [0.4, 0.5, 0.2, 0.7]),  # median of (0.1, 0.3) = 0.2
        ("max", [0.9, 0.5, 0.3, 0.7]),
        ("min", [0.2, 0.5, 0.1, 0.7]),
    ],
)
def test_aggregate_by_video(how, expected):
    agg, first = aggregate_by_video(AGG_SCORES, AGG_IDS, how=how)
    np.testing.assert_allclose(agg, expected)
    assert first.tolist() == [0, 3, 4, 6]


def test_aggregate_by_video_interleaved_keeps_first_appearance_order():
    agg, first = aggregate_by_video([0.1, 0.8, 0.3, 0.6], ["x", "y", "x", "y"], how="median")
    np.testing.assert_allclose(agg, [0.2, 0.7])
    assert first.tolist() == [0, 1]


# --------------------------------------------------------------------------- threshold rules
@pytest.mark.parametrize(
    "rule, expected",
    [
        ("eer", 0.35),  # see test_choose_threshold_eer_value below
        ("bpcer20", 0.6),
        ("BPCER20", 0.6),
        ("apcer=0.05", 0.6),
        ("bpcer100", 0.88),
        ("apcer=0.01", 0.88),
        ("bpcer=0.1", 0.35),  # 1 of 10 bona fide may be rejected: highest such threshold is 0.35
        ("bpcer=0", 0.3),  # the lowest bona fide score
        ("bpcer=1", float(np.nextafter(0.95, 1))),  # all may be rejected: value above the max
        ("0.37", 0.37),
        (" 0.37 ", 0.37),
        (0.37, 0.37),
        (1, 1.0),
        (ThresholdRule("fixed", 0.2, "0.2"), 0.2),
    ],
)
def test_choose_threshold_every_rule_form(rule, expected):
    assert choose_threshold(rule, B20_SCORES, B20_LABELS) == expected


def test_choose_threshold_eer_value():
    # t=0.35: attacks >= 0.35: 0.35 0.36 0.37 0.38 0.75 0.85 -> 6/40 = 0.15; bona fide < 0.35: 0.3 -> 0.1
    #         gap 0.05 (smallest);
    # t=0.36: APCER 5/40 = 0.125, BPCER 2/10 = 0.2 (gap 0.075); t=0.34: APCER 7/40, BPCER 0.1 (gap 0.075).
    value, t = eer(B20_SCORES, B20_LABELS)
    assert t == 0.35 and value == pytest.approx((0.15 + 0.1) / 2)


def test_choose_threshold_uses_species_for_apcer_rules():
    assert choose_threshold("bpcer20", B20_SCORES, B20_LABELS, B20_SPECIES) == 0.78


def test_choose_threshold_bpcer_rule_meets_target():
    t = choose_threshold("bpcer=0.1", B20_SCORES, B20_LABELS)
    assert error_rates(B20_SCORES, B20_LABELS, threshold=t)["bpcer"] <= 0.1
    # at 0.35 the accepted attacks are 0.35 0.36 0.37 0.38 0.75 0.85 -> APCER 6/40
    assert apcer_at_bpcer(B20_SCORES, B20_LABELS, None, 0.1) == (pytest.approx(6 / 40), 0.35)


def test_choose_threshold_needs_both_classes():
    with pytest.raises(SpoofguardError, match="both bona fide and attack"):
        choose_threshold("eer", [0.9, 0.3], [BF, BF])
    with pytest.raises(SpoofguardError, match="bona fide"):
        choose_threshold("bpcer=0.1", [0.9, 0.3], [AT, AT])


def test_parse_threshold_rule_forms():
    assert parse_threshold_rule("eer") == ThresholdRule("eer", None, "eer")
    assert parse_threshold_rule("bpcer20") == ThresholdRule("apcer", 0.05, "bpcer20")
    assert parse_threshold_rule("bpcer100") == ThresholdRule("apcer", 0.01, "bpcer100")
    assert parse_threshold_rule("APCER = 0.1") == ThresholdRule("apcer", 0.1, "apcer=0.1")
    assert parse_threshold_rule("bpcer=0.01") == ThresholdRule("bpcer", 0.01, "bpcer=0.01")
    assert parse_threshold_rule("0.37").kind == "fixed" and parse_threshold_rule(0.37).value == 0.37
    assert str(parse_threshold_rule("bpcer20")) == "bpcer20"


@pytest.mark.parametrize(
    "rule",
    ["foo", "", "apcer=", "apcer=x", "apcer=1.5", "bpcer=-0.1", "1.5", "-0.2", "nan", "inf", "eer2",
     None, True, [0.5], float("nan"), 2.0],
)
def test_parse_threshold_rule_errors(rule):
    with pytest.raises(SpoofguardError):
        parse_threshold_rule(rule)


def test_parse_error_lists_accepted_forms():
    with pytest.raises(SpoofguardError) as e:
        parse_threshold_rule("median")
    for form in ("eer", "bpcer20", "bpcer100", "apcer=", "bpcer=", "0.37"):
        assert form in str(e.value)


# --------------------------------------------------------------------------- compute_metrics
def test_compute_metrics_point_values_and_classification():
    m = compute_metrics(TWO_SCORES, TWO_LABELS, TWO_SPECIES, threshold=0.5, bootstrap=0)
    assert m["apcer"] == 0.5 and m["bpcer"] == 0.25 and m["apcer_pooled"] == pytest.approx(1 / 3)
    assert m["threshold"] == 0.5 and m["n_bona_fide"] == 4 and m["n_attack"] == 6
    assert m["accuracy"] == pytest.approx(7 / 10)  # 3 bona fide + 4 attacks right
    c = m["classification"]
    assert c["confusion_matrix"] == {BF: {BF: 3, AT: 1}, AT: {BF: 2, AT: 4}}  # rows = true label
    assert c["per_class"][BF] == {
        "precision": pytest.approx(3 / 5), "recall": 0.75, "f1": pytest.approx(2 * 0.6 * 0.75 / 1.35), "support": 4
    }
    assert c["per_class"][AT]["precision"] == pytest.approx(4 / 5)
    assert c["per_class"][AT]["recall"] == pytest.approx(4 / 6)
    assert c["mean_confidence"][BF] == pytest.approx((0.9 + 0.8 + 0.7 + 0.4) / 4)
    assert c["mean_confidence"][AT] == pytest.approx(1 - (0.6 + 0.3 + 0.2 + 0.1 + 0.6 + 0.2) / 6)
    assert "not an ISO" in m["notes"]["acer"]
    assert m["ci_method"] is None and all(v is None for k, v in m["ci95"].items() if k != "apcer_per_species")


def _example(n=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(n) < 0.4, BF, AT)
    scores = np.clip(np.where(labels == BF, rng.normal(0.7, 0.15, n), rng.normal(0.4, 0.15, n)), 0, 1)
    species = rng.choice(["print", "replay", "mask"], n)
    subjects = rng.integers(0, 40, n).astype(str)
    return scores, labels, species, subjects


def test_bootstrap_seeded_and_labelled():
    s, l, sp, subj = _example()
    a = compute_metrics(s, l, sp, threshold=0.5, subjects=subj, bootstrap=200, seed=7)
    b = compute_metrics(s, l, sp, threshold=0.5, subjects=subj, bootstrap=200, seed=7)
    assert a["ci95"] == b["ci95"]
    assert a["ci_method"] == {
        "method": "bootstrap over subjects", "n_resamples": 200, "seed": 7, "confidence": 0.95, "n_subjects": 40
    }
    for key, ci in a["ci95"].items():
        pairs = ci.values() if key == "apcer_per_species" else [ci]
        for low, high in pairs:
            assert 0 <= low <= high <= 1, key
    rows = compute_metrics(s, l, sp, threshold=0.5, bootstrap=200, seed=7)
    assert rows["ci_method"]["method"] == "bootstrap over samples"


def test_bootstrap_falls_back_to_rows_when_a_subject_is_missing():
    s, l, sp, subj = _example()
    subj = subj.astype(object)
    subj[3] = ""
    m = compute_metrics(s, l, sp, threshold=0.5, subjects=subj, bootstrap=50)
    assert m["ci_method"]["method"] == "bootstrap over samples"
    assert "rows 3" in m["ci_method"]["note"]


def test_subject_resampling_keeps_all_rows_of_a_subject_together():
    cluster = np.array([0, 0, 1, 2, 2, 2])
    w = _resample_weights(np.random.default_rng(0), 50, 6, cluster, 3)
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 3] == w[:, 5]).all()
    assert (w[:, [0, 2, 3]].sum(1) == 3).all()  # 3 subjects drawn per resample


def test_results_are_plain_python_numbers():
    m = compute_metrics(TWO_SCORES, TWO_LABELS, TWO_SPECIES, threshold=0.5, bootstrap=10)
    for key in ("apcer", "bpcer", "eer", "auc", "threshold", "n_attack"):
        assert type(m[key]) in (float, int), key
    assert not any(isinstance(v, float) and math.isnan(v) for v in m.values())


def test_centred_threshold_sits_in_the_middle_of_the_decision_gap():
    from spoofguard.evaluation.thresholds import centred_threshold

    scores = [0.05, 0.1, 0.2, 0.8, 0.9, 0.95]  # perfectly separated: any threshold in (0.2, 0.8] decides the same
    labels = [AT, AT, AT, BF, BF, BF]
    edge = choose_threshold("eer", scores, labels)
    mid = centred_threshold("eer", scores, labels)
    assert edge == 0.8 and mid == pytest.approx(0.5, abs=1e-9)  # logit middle of 0.2 and 0.8
    assert centred_threshold("0.3", scores, labels) == 0.3  # a fixed rule stays fixed
    overlap = [0.1, 0.4, 0.45, 0.5, 0.6, 0.9]
    lab = [AT, BF, AT, BF, AT, BF]
    t, c = choose_threshold("eer", overlap, lab), centred_threshold("eer", overlap, lab)
    s = np.array(overlap)
    assert ((s >= t) == (s >= c)).all() and c <= t  # the same decisions on the set itself


def _separated(n_bf=20, n_at=30, subjects=("a", "b")):
    scores = np.r_[np.full(n_bf, 0.9), np.full(n_at, 0.1)]
    labels = np.array([BF] * n_bf + [AT] * n_at)
    species = np.array([""] * n_bf + ["print"] * n_at)
    subj = np.array([subjects[i % len(subjects)] for i in range(n_bf + n_at)])
    return scores, labels, species, subj


def test_clopper_pearson_known_values():
    from spoofguard.evaluation.metrics import clopper_pearson

    assert clopper_pearson(0, 30) == [0.0, pytest.approx(0.1157, abs=1e-4)]  # the "rule of three" region: 1 - 0.025 ** (1/30)
    assert clopper_pearson(30, 30)[0] == pytest.approx(1 - 0.1157, abs=1e-4) and clopper_pearson(30, 30)[1] == 1.0
    low, high = clopper_pearson(5, 50)
    assert low == pytest.approx(0.0333, abs=1e-3) and high == pytest.approx(0.2181, abs=1e-3)
    assert clopper_pearson(0, 0) is None


def test_zero_errors_get_an_exact_interval_not_zero_zero():
    s, l, sp, subj = _separated(subjects=[str(i) for i in range(10)])
    m = compute_metrics(s, l, sp, threshold=0.5, subjects=subj, bootstrap=200)
    assert m["apcer"] == 0.0 and m["ci95"]["apcer"][1] == pytest.approx(0.1157, abs=1e-4)  # 0 of 30 attacks
    assert m["ci95"]["bpcer"][1] == pytest.approx(0.1684, abs=1e-4)  # 0 of 20 bona fide
    assert "apcer" in m["ci_method"]["exact_binomial"] and m["warnings"] == []  # 10 subjects: no warning


def test_few_subjects_warned_and_exact_for_every_rate():
    s, l, sp, subj = _separated()
    s[-1] = 0.95  # one attack accepted: the bootstrap interval would not be zero-width
    m = compute_metrics(s, l, sp, threshold=0.5, subjects=subj, bootstrap=200)
    assert m["ci_method"]["n_subjects"] == 2 and "only 2 subject(s)" in m["warnings"][0]
    from spoofguard.evaluation.metrics import clopper_pearson

    assert m["ci95"]["apcer_per_species"]["print"] == clopper_pearson(1, 30)
    from spoofguard.evaluation.report import ci_method_text

    assert "Clopper-Pearson" in ci_method_text(m) and "Warning: only 2 subject(s)" in ci_method_text(m)


def test_apcer_at_bpcer_in_the_metrics_equals_the_sweep():
    from spoofguard.evaluation.metrics import apcer_at_bpcer

    s, l, sp, _ = _example()
    m = compute_metrics(s, l, sp, threshold=0.5, bootstrap=0)
    assert m["apcer_at_bpcer1"] == apcer_at_bpcer(s, l, sp, 0.01)[0]
    assert m["apcer_at_bpcer5"] == apcer_at_bpcer(s, l, sp, 0.05)[0]
    assert m["apcer_at_bpcer5"] <= m["apcer_at_bpcer1"]


def test_the_plots_curve_is_the_metrics_sweep():
    """plots' DET and ROC curves come from the same candidate thresholds and counts as every metric:
    at each candidate the curve's rates are error_rates' pooled APCER (or one species') and BPCER."""
    from spoofguard.evaluation import plots
    from spoofguard.evaluation.metrics import error_rate_curve

    rng = np.random.default_rng(3)
    scores = np.round(rng.random(40), 2)
    labels = np.where(rng.random(40) < 0.5, "bona_fide", "attack")
    species = np.where(labels == "attack", np.where(rng.random(40) < 0.5, "print", "replay"), "")
    is_bf = labels == "bona_fide"
    assert plots.error_rate_curve is error_rate_curve
    for mask, key in ((~is_bf, "apcer_pooled"), (species == "print", "print")):
        thresholds, apcer, bpcer = error_rate_curve(scores, is_bf, mask)
        for t, a, b in zip(thresholds, apcer, bpcer):
            r = error_rates(scores, labels, species, threshold=t)
            assert b == pytest.approx(r["bpcer"])
            assert a == pytest.approx(r["apcer_pooled"] if key == "apcer_pooled" else r["apcer_per_species"]["print"])
