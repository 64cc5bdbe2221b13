"""The words every layer shares, and the one decision rule.

A capture is judged by its score (the probability of bona fide: higher = more bona fide) against a
threshold chosen on a dev set: :func:`accepted` is the rule, in this one place, used by the
detector, video aggregation, training, metrics, reports, plots and quantisation checks. A score
exactly at the threshold is accepted as bona fide.

Labels in data and verdicts in results are the same strings: ``bona_fide`` and ``attack``; a capture
with nothing to look at has a verdict without a score: ``no_face`` (face models) or ``no_finger``
(fingerprint models). Frame scores of a video (or a ``video_id`` in a score file) are combined by one
of :data:`AGGREGATIONS`.

Nothing here imports anything but numpy: every layer, down to the torch-free onnx backend, may use it.
"""

from __future__ import annotations

import numpy as np

BONA_FIDE = "bona_fide"
ATTACK = "attack"
LABELS = (BONA_FIDE, ATTACK)
NO_FACE = "no_face"
NO_FINGER = "no_finger"
NO_RESULT = (NO_FACE, NO_FINGER)  # verdicts without a score: nothing to look at in the capture
AGGREGATIONS = ("mean", "median", "max", "min")  # how frame scores make one score per video


def accepted(scores, threshold: float):
    """Whether each score is accepted as bona fide at ``threshold`` (an array for an array, a bool for a number)."""
    decided = np.asarray(scores, dtype=float) >= threshold
    return bool(decided) if decided.ndim == 0 else decided


def verdict(score: float, threshold: float) -> str:
    """``bona_fide`` or ``attack``: the verdict ``score`` gets at ``threshold``."""
    return BONA_FIDE if accepted(score, threshold) else ATTACK


def aggregate(values, how: str) -> float:
    """``values`` (frame scores or probabilities) combined by ``how``, one of :data:`AGGREGATIONS`."""
    if how not in AGGREGATIONS:
        raise ValueError(f"how must be one of {', '.join(AGGREGATIONS)}, not {how!r}")
    return float(getattr(np, how)(values))
