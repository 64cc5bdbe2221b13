"""Threshold rules: how a decision threshold is chosen on a dev set.

A rule is one of (case-insensitive strings, or a number):

* ``"eer"``        the EER threshold (pooled attacks, see :func:`~spoofguard.evaluation.metrics.eer`);
* ``"bpcer20"``    same as ``"apcer=0.05"``; ``"bpcer100"`` same as ``"apcer=0.01"``;
* ``"apcer=R"``    the lowest threshold whose max-over-species APCER <= R (smallest BPCER under it);
* ``"bpcer=R"``    the highest threshold whose BPCER <= R (smallest APCER under it);
* ``"0.37"`` or ``0.37``  a fixed threshold in [0, 1].

Rates R lie in [0, 1]. The decision is always :func:`spoofguard.verdict.accepted` (at or above: bona fide). Chosen thresholds
are candidate values: a unique score, or the value just above the maximum score (rejects all).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from spoofguard.errors import SpoofguardError
from spoofguard.evaluation.metrics import apcer_at_bpcer, bpcer_at_apcer, check_threshold, eer
from spoofguard.verdict import accepted

ACCEPTED_FORMS = (
    '"eer", "bpcer20", "bpcer100", "apcer=<rate>", "bpcer=<rate>" (rate in [0, 1]), '
    'or a fixed threshold such as "0.37" (in [0, 1])'
)


@dataclass(frozen=True)
class ThresholdRule:
    """A parsed rule: ``kind`` is "eer", "apcer", "bpcer" or "fixed"; ``text`` is its canonical form."""

    kind: str
    value: float | None
    text: str

    def __str__(self) -> str:
        return self.text


def _bad(rule) -> SpoofguardError:
    return SpoofguardError(f"unknown threshold rule {rule!r}; accepted: {ACCEPTED_FORMS}.")


def parse_threshold_rule(rule) -> ThresholdRule:
    """Validate a threshold rule (string, number or ThresholdRule) and return a :class:`ThresholdRule`."""
    if isinstance(rule, ThresholdRule):
        return rule
    if isinstance(rule, numbers.Real) and not isinstance(rule, bool):
        t = check_threshold(rule)
        return ThresholdRule("fixed", t, repr(t))
    if not isinstance(rule, str):
        raise _bad(rule)
    text = rule.strip().lower().replace(" ", "")
    if text == "eer":
        return ThresholdRule("eer", None, "eer")
    if text == "bpcer20":
        return ThresholdRule("apcer", 0.05, "bpcer20")
    if text == "bpcer100":
        return ThresholdRule("apcer", 0.01, "bpcer100")
    for kind in ("apcer", "bpcer"):
        if text.startswith(kind + "="):
            try:
                rate = float(text[len(kind) + 1 :])
            except ValueError:
                raise _bad(rule) from None
            if not (0.0 <= rate <= 1.0):  # also rejects NaN
                raise SpoofguardError(f"{kind} target in {rule!r} must be a rate in [0, 1]; accepted: {ACCEPTED_FORMS}.")
            return ThresholdRule(kind, rate, f"{kind}={rate:g}")
    try:
        value = float(text)
    except ValueError:
        raise _bad(rule) from None
    if not math.isfinite(value):
        raise _bad(rule)
    t = check_threshold(value)
    return ThresholdRule("fixed", t, repr(t))


def choose_threshold(rule, scores, labels, species=None) -> float:
    """The threshold that ``rule`` picks on these (dev set) scores.

    Raises :class:`SpoofguardError` when the rule cannot be applied (e.g. "eer" without attacks).
    A fixed rule returns its value without looking at the scores.
    """
    r = parse_threshold_rule(rule)
    if r.kind == "fixed":
        return float(r.value)
    if r.kind == "eer":
        _, t = eer(scores, labels)
    elif r.kind == "apcer":
        _, t = bpcer_at_apcer(scores, labels, species, r.value)
    else:
        _, t = apcer_at_bpcer(scores, labels, species, r.value)
    if t is None:
        need = "bona fide samples" if r.kind == "bpcer" else "both bona fide and attack samples"
        raise SpoofguardError(f'threshold rule "{r}" needs {need} in the dev set.')
    return t


def centred_threshold(rule, scores, labels, species=None) -> float:
    """:func:`choose_threshold`, moved to the middle (in logit space) of the interval of thresholds
    that make exactly the same decisions on these scores.

    The rules pick a candidate score, which sits at the edge of that interval: on a well-separated
    set the EER threshold is the lowest bona fide score, so the slightest shift of new captures
    towards attack lets attacks through (a perfectly separated LivDet dev split put it at 0.25 and
    let a fifth of a fold's spoofs pass). The middle of the gap is the threshold with the most room
    on both sides; on the set itself it gives the same error rates.
    """
    import numpy as np

    t = choose_threshold(rule, scores, labels, species)
    if parse_threshold_rule(rule).kind == "fixed":
        return t
    s = np.asarray(scores, dtype=float)
    below = s[~accepted(s, t)]  # the scores rejected at t
    lo = float(below.max()) if below.size else 0.0
    hi = min(float(t), 1.0)
    eps = 1e-6
    logit = lambda p: math.log(max(p, eps) / max(1.0 - p, eps))  # noqa: E731
    mid = 1.0 / (1.0 + math.exp(-(logit(lo) + logit(hi)) / 2.0))
    return float(min(max(mid, math.nextafter(lo, 1.0)), hi))  # strictly above lo, at most t: the same decisions
