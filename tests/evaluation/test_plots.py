"""The report's plots say what the numbers say: no curve drawn along the DET's edges, species told
apart, a measured APCER of zero visible."""

import itertools

import numpy as np
from matplotlib.colors import to_rgb

from spoofguard.evaluation import plots


def test_det_curves_leave_out_rates_of_zero_instead_of_drawing_them_on_the_edges():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.uniform(0.6, 1.0, 50), rng.uniform(0.0, 0.7, 50)]
    labels = np.array(["bona_fide"] * 50 + ["attack"] * 50)
    fig = plots.det_curve(scores, labels, 0.65)
    ax = fig.axes[0]
    edge_lo = float(plots._probit(plots.RATE_CLIP))
    pooled = next(ln for ln in ax.get_lines() if ln.get_label() == "all attacks (pooled)")
    x, y = pooled.get_xdata(), pooled.get_ydata()
    assert len(x) > 5 and x.min() > edge_lo and y.min() > edge_lo


def test_a_perfectly_separated_det_says_so_and_marks_the_point_on_the_edge():
    scores = np.r_[np.full(10, 0.9), np.full(10, 0.1)]
    labels = np.array(["bona_fide"] * 10 + ["attack"] * 10)
    ax = plots.det_curve(scores, labels, 0.5).axes[0]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "no curve on probit axes" in texts
    assert any("on the edge" in ln.get_label() for ln in ax.get_lines())


def test_species_colours_are_far_apart_and_not_bona_fide_green():
    rgb = [np.array(to_rgb(c)) for c in plots.SPECIES_COLORS]
    closest = min(np.linalg.norm(a - b) for a, b in itertools.combinations(rgb, 2))
    assert closest > 0.25
    green = np.array(to_rgb(plots.BONA_FIDE_COLOR))
    assert min(np.linalg.norm(c - green) for c in rgb) > 0.25


def test_apcer_bars_show_a_measured_zero():
    ax = plots.apcer_bars({"print": 0.0, "replay": 0.0}, {"print": [0.0, 0.12], "replay": [0.0, 0.12]}, 0.0).axes[0]
    zero_marks = [ln for ln in ax.get_lines() if list(ln.get_ydata()) == [0, 0] and ln.get_linewidth() >= 4]
    assert len(zero_marks) == 2
    assert ax.get_ylim()[1] >= 12  # the exact upper bounds are in view
