"""The one decision rule and the shared words (spoofguard.verdict)."""

import numpy as np
import pytest

from spoofguard.verdict import AGGREGATIONS, ATTACK, BONA_FIDE, accepted, aggregate, verdict


def test_a_score_at_the_threshold_is_accepted():
    assert accepted(0.5, 0.5) is True and accepted(np.nextafter(0.5, 0), 0.5) is False
    assert accepted([0.2, 0.5, 0.9], 0.5).tolist() == [False, True, True]
    assert verdict(0.5, 0.5) == BONA_FIDE and verdict(0.49, 0.5) == ATTACK


def test_every_layer_decides_by_it():
    """The detector's verdict, the metrics' confusion matrix and the report's worst errors agree with it."""
    from spoofguard.evaluation import compute_metrics
    from spoofguard.evaluation.report import worst_errors
    from spoofguard.evaluation.scorefile import ScoreTable

    scores = np.array([0.1, 0.5, 0.5, 0.9])
    labels = np.array([ATTACK, ATTACK, BONA_FIDE, BONA_FIDE])
    cm = compute_metrics(scores, labels, threshold=0.5, bootstrap=0)["classification"]["confusion_matrix"]
    assert cm[ATTACK][BONA_FIDE] == 1 and cm[BONA_FIDE][BONA_FIDE] == 2
    table = ScoreTable.from_rows([{"sample_id": str(i), "path": f"{i}.png", "label": lab, "species": "", "subject": "", "video_id": "",
                                   "score": float(s)} for i, (s, lab) in enumerate(zip(scores, labels))], {"threshold": 0.5})
    attacks, bona = worst_errors(table, 0.5, 2)
    assert [e.accepted for e in attacks] == [True, False] and [e.accepted for e in bona] == [True, True]


@pytest.mark.parametrize("how", AGGREGATIONS)
def test_aggregations(how):
    values = [0.2, 0.4, 0.9]
    assert aggregate(values, how) == pytest.approx(getattr(np, how)(values))
    with pytest.raises(ValueError, match="mean, median, max, min"):
        aggregate(values, "mode")
