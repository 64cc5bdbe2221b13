"""Evaluation by ISO/IEC 30107-3: error rates, EER, BPCER@APCER, thresholds, bootstrap intervals.

See :mod:`spoofguard.evaluation.metrics` for the conventions (a score at or above the threshold is
bona fide: :func:`spoofguard.verdict.accepted`; APCER = max over species; undefined values are ``None``).
"""

from spoofguard.evaluation.metrics import (
    aggregate_by_video,
    apcer_at_bpcer,
    bpcer_at_apcer,
    compute_metrics,
    eer,
    error_rates,
)
from spoofguard.evaluation.thresholds import ThresholdRule, choose_threshold, parse_threshold_rule

__all__ = [
    "ThresholdRule",
    "aggregate_by_video",
    "apcer_at_bpcer",
    "bpcer_at_apcer",
    "choose_threshold",
    "compute_metrics",
    "eer",
    "error_rates",
    "parse_threshold_rule",
]
