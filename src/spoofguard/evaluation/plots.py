"""Figures for the evaluation report: DET, ROC, score histograms, confusion matrix, APCER per species.

Every function returns a :class:`matplotlib.figure.Figure` built with the object-oriented API and an
Agg canvas of its own. No figure goes through ``pyplot``, so nothing is kept in pyplot's global
figure registry (no leak, no ``plt.close`` needed, safe inside a server thread) and the process'
backend is left alone. :func:`figure_to_png` turns a figure into PNG bytes.

Conventions are those of :mod:`spoofguard.evaluation.metrics`: score = probability of bona fide
(higher = more bona fide), a score at or above the threshold is accepted as bona fide
(:func:`spoofguard.verdict.accepted`), labels are
``"bona_fide"`` / ``"attack"``, an attack's species is its PAI species (empty -> ``"attack"``).
APCER is the fraction of attacks accepted, BPCER the fraction of bona fide rejected.

Every function copes with a missing class, a single species, ties and identical scores: what
cannot be drawn is replaced by a short text on the axes, never by an exception.
"""

from __future__ import annotations

import io
from statistics import NormalDist

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from spoofguard.evaluation.metrics import error_rate_curve
from spoofguard.verdict import ATTACK, BONA_FIDE, accepted

RATE_CLIP = 1e-4  # rates are clipped to [RATE_CLIP, 1 - RATE_CLIP] before the probit transform
DET_TICKS = (0.0001, 0.001, 0.01, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99, 0.999)
BONA_FIDE_COLOR = "#2b8a3e"
OPERATING_COLOR = "#111111"
# Okabe-Ito's colour-blind-safe hues (without its green, which is bona fide's), each species also with its own line style
SPECIES_COLORS = ("#D55E00", "#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#882255", "#F0E442", "#666666")
SPECIES_STYLES = ("-", "--", "-.", ":")
POINT_COLOR = "#f03e3e"
FIGSIZE = (6.4, 4.8)


# --------------------------------------------------------------------------- helpers


def figure_to_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render ``fig`` to PNG bytes (no metadata, so the bytes hold no software name or URL)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _new_figure(figsize=FIGSIZE) -> tuple[Figure, object]:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _note(ax, text: str, y: float = 0.5) -> None:
    """A grey message in the middle of the axes, for what cannot be drawn."""
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center", fontsize=11, color="#555555",
            bbox={"boxstyle": "round", "facecolor": "#f8f9fa", "edgecolor": "#ced4da"})


def _pct(rate: float) -> str:
    return f"{100 * rate:.2f} %"


def _as_arrays(scores, labels, species=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores as floats, a bona fide mask, and a species name per row ("" for bona fide rows)."""
    s = np.asarray(scores, dtype=float).ravel()
    lab = np.asarray(labels, dtype=object).ravel()
    is_bf = lab == BONA_FIDE
    if species is None:
        sp = np.full(s.size, ATTACK, dtype=object)
    else:
        sp = np.array([str(v).strip() if v is not None and str(v).strip() not in ("", "nan") else ATTACK
                       for v in np.asarray(species, dtype=object).ravel()], dtype=object)
    sp[is_bf] = ""
    return s, is_bf, sp


def _species_names(sp: np.ndarray, is_bf: np.ndarray) -> list[str]:
    return sorted({str(v) for v in sp[~is_bf]})


def _species_label(name: str) -> str:
    return "attack (species unknown)" if name == ATTACK else f"attack: {name}"


def _color(i: int) -> str:
    return SPECIES_COLORS[i % len(SPECIES_COLORS)]


def _style(i: int) -> str:
    return SPECIES_STYLES[(i // 2) % len(SPECIES_STYLES)] if i else "-"


def _on_probit_scale(apcer: np.ndarray, bpcer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The curve's points a probit axis can show: rates of exactly 0 or 1 are at minus / plus
    infinity, so drawing them clipped would lay the curve along the plot's edges as if measured there."""
    keep = (apcer > 0) & (apcer < 1) & (bpcer > 0) & (bpcer < 1)
    return apcer[keep], bpcer[keep]


def _missing_class_text(is_bf: np.ndarray) -> str | None:
    """Why a curve comparing both classes cannot be drawn, or None when both classes exist."""
    if is_bf.size == 0:
        return "no scores in this file"
    if not is_bf.any():
        return "no bona fide samples in this file"
    if is_bf.all():
        return "no attacks in this file"
    return None


def _rates_at(scores, is_bf, attack_mask, threshold: float) -> tuple[float, float]:
    """(APCER, BPCER) at ``threshold``: the attacks in ``attack_mask`` accepted, the bona fide rejected."""
    apcer = float(np.mean(accepted(scores[attack_mask], threshold)))
    bpcer = float(np.mean(~accepted(scores[is_bf], threshold)))
    return apcer, bpcer


def _probit(rates) -> np.ndarray:
    """Normal deviate of rates clipped to [RATE_CLIP, 1 - RATE_CLIP] (scipy if present, else stdlib)."""
    r = np.clip(np.asarray(rates, dtype=float), RATE_CLIP, 1 - RATE_CLIP)
    try:
        from scipy.stats import norm
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        inv = NormalDist().inv_cdf
        return np.vectorize(inv, otypes=[float])(r)
    return norm.ppf(r)


def _tick_label(rate: float) -> str:
    return f"{100 * rate:g}"


# --------------------------------------------------------------------------- DET


def _setup_det_axes(ax) -> None:
    ticks = _probit(DET_TICKS)
    labels = [_tick_label(t) for t in DET_TICKS]
    lo, hi = float(_probit(RATE_CLIP)) - 0.15, float(_probit(1 - RATE_CLIP)) + 0.15
    for set_ticks, set_labels, set_lim in ((ax.set_xticks, ax.set_xticklabels, ax.set_xlim),
                                          (ax.set_yticks, ax.set_yticklabels, ax.set_ylim)):
        set_ticks(ticks)
        set_labels(labels, fontsize=8)
        set_lim(lo, hi)
    ax.set_xlabel("APCER (%) — attacks accepted as bona fide")
    ax.set_ylabel("BPCER (%) — bona fide rejected")
    ax.set_aspect("equal")
    ax.grid(True, color="#dee2e6", linewidth=0.6)
    ax.set_title("DET curve (normal-deviate scale)")


def det_curve(scores, labels, threshold: float, species=None) -> Figure:
    """DET curve: APCER (x) against BPCER (y) on normal-deviate (probit) axes.

    Draws the pooled attacks and, with more than one species in ``species``, one curve per species;
    the EER diagonal (APCER = BPCER); and the operating point at ``threshold``. Rates are clipped
    to [1e-4, 1 - 1e-4] before the probit transform; the curves leave out their points with a rate of
    exactly 0 % or 100 % (infinitely far on a probit axis), and an operating point at such a rate is
    drawn on the edge and says so.
    """
    s, is_bf, sp = _as_arrays(scores, labels, species)
    fig, ax = _new_figure((6.0, 6.0))
    _setup_det_axes(ax)
    lo, hi = ax.get_xlim()
    ax.plot([lo, hi], [lo, hi], linestyle="--", color="#868e96", linewidth=1, label="EER line (APCER = BPCER)")
    missing = _missing_class_text(is_bf)
    if missing:
        _note(ax, missing + "\nDET curve undefined")
        return fig
    names = _species_names(sp, is_bf)
    if len(names) > 1:
        for i, name in enumerate(names):
            apcer, bpcer = _on_probit_scale(*error_rate_curve(s, is_bf, sp == name)[1:])
            ax.plot(_probit(apcer), _probit(bpcer), color=_color(i), linestyle=_style(i), linewidth=1.4, alpha=0.9,
                    label=_species_label(name))
    apcer, bpcer = _on_probit_scale(*error_rate_curve(s, is_bf, ~is_bf)[1:])
    ax.plot(_probit(apcer), _probit(bpcer), color=OPERATING_COLOR, linewidth=2,
            label="all attacks (pooled)")
    a, b = _rates_at(s, is_bf, ~is_bf, threshold)
    edge = " (0 % or 100 %: on the edge)" if a in (0.0, 1.0) or b in (0.0, 1.0) else ""
    ax.plot(_probit(a), _probit(b), marker="o", markersize=9, color=POINT_COLOR, markeredgecolor="black",
            linestyle="none", label=f"threshold {threshold:.4g}: APCER {_pct(a)}, BPCER {_pct(b)}{edge}")
    if apcer.size == 0:
        _note(ax, "every error rate here is 0 % or 100 %:\nno curve on probit axes", y=0.3)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    return fig


# --------------------------------------------------------------------------- ROC


def roc_curve(scores, labels, threshold: float) -> Figure:
    """ROC with bona fide as the positive class: x = pooled APCER, y = 1 - BPCER.

    The AUC (ties count one half, trapezoids between the candidate points) is in the legend; the
    operating point at ``threshold`` is marked.
    """
    s, is_bf, _ = _as_arrays(scores, labels)
    fig, ax = _new_figure((6.0, 6.0))
    ax.plot([0, 1], [0, 1], linestyle="--", color="#868e96", linewidth=1, label="chance")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("APCER (pooled attacks accepted)")
    ax.set_ylabel("1 − BPCER (bona fide accepted)")
    ax.set_title("ROC curve (bona fide = positive)")
    ax.grid(True, color="#dee2e6", linewidth=0.6)
    missing = _missing_class_text(is_bf)
    if missing:
        _note(ax, missing + "\nROC curve undefined")
        return fig
    _, apcer, bpcer = error_rate_curve(s, is_bf, ~is_bf)
    x, y = apcer[::-1], 1.0 - bpcer[::-1]  # from (0, 0) (reject all) to (1, 1) (accept all)
    auc = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    ax.plot(x, y, color=OPERATING_COLOR, linewidth=2, label=f"ROC (AUC = {auc:.4f})")
    a, b = _rates_at(s, is_bf, ~is_bf, threshold)
    ax.plot(a, 1 - b, marker="o", markersize=9, color=POINT_COLOR, markeredgecolor="black", linestyle="none",
            label=f"threshold {threshold:.4f}: APCER {_pct(a)}, BPCER {_pct(b)}")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    return fig


# --------------------------------------------------------------------------- histograms


def score_histograms(scores, labels, species, threshold: float, bins: int = 30) -> Figure:
    """Overlaid score histograms of bona fide and of each attack species, with the threshold line.

    Heights are fractions of each class (so small and large classes compare), x spans [0, 1].
    """
    s, is_bf, sp = _as_arrays(scores, labels, species)
    fig, ax = _new_figure((8.0, 4.4))
    edges = np.linspace(0.0, 1.0, bins + 1)
    groups = [("bona fide", is_bf, BONA_FIDE_COLOR, "-")]
    groups += [(_species_label(name), sp == name, _color(i), _style(i)) for i, name in enumerate(_species_names(sp, is_bf))]
    for name, mask, color, style in groups:
        n = int(mask.sum())
        if n == 0:
            continue
        ax.hist(s[mask], bins=edges, weights=np.full(n, 1.0 / n), histtype="stepfilled", alpha=0.4,
                color=color, edgecolor=color, linewidth=1.6, linestyle=style, label=f"{name} (n={n})")
    ax.axvline(min(threshold, 1.0), color=OPERATING_COLOR, linestyle="--", linewidth=1.5,
               label=f"threshold {threshold:.4g}")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("score (probability of bona fide; ≥ threshold → bona fide)")
    ax.set_ylabel("fraction of class")
    ax.set_title("Score distributions per class")
    ax.grid(True, axis="y", color="#dee2e6", linewidth=0.6)
    missing = _missing_class_text(is_bf)
    if missing:
        _note(ax, missing, y=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=11, frameon=False)
    return fig


# --------------------------------------------------------------------------- confusion matrix


def confusion_matrix_plot(confusion: dict) -> Figure:
    """The 2 x 2 confusion matrix (rows = true label, columns = decision) with counts and row %.

    ``confusion`` is ``metrics["classification"]["confusion_matrix"]``:
    ``{true label: {predicted label: count}}`` over ``"bona_fide"`` and ``"attack"``.
    """
    classes = (BONA_FIDE, ATTACK)
    counts = np.array([[int((confusion.get(t) or {}).get(p, 0)) for p in classes] for t in classes])
    totals = counts.sum(1, keepdims=True)
    frac = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    fig, ax = _new_figure((5.2, 4.4))
    ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(2):
        for j in range(2):
            pct = _pct(frac[i, j]) if totals[i, 0] else "n/a"
            ax.text(j, i, f"{counts[i, j]}\n({pct})", ha="center", va="center", fontsize=12,
                    color="white" if frac[i, j] > 0.6 else "black")
    names = ["bona fide", "attack"]
    ax.set_xticks([0, 1], [f"decided {n}" for n in names])
    ax.set_yticks([0, 1], [f"true {n}\n(n={totals[i, 0]})" for i, n in enumerate(names)])
    ax.set_title("Confusion matrix (row % of true class)")
    return fig


# --------------------------------------------------------------------------- APCER per species


def apcer_bars(apcer_per_species: dict, ci95_per_species: dict | None, apcer_max: float | None) -> Figure:
    """Bars of APCER per species (in %), 95 % CI error bars where known, a line at the max.

    ``apcer_per_species`` maps species -> rate (or None), ``ci95_per_species`` species -> [lo, hi]
    (or None), ``apcer_max`` is the ISO APCER (max over species).
    """
    fig, ax = _new_figure((7.2, 4.4))
    ax.set_ylabel("APCER (%)")
    ax.set_title("APCER per attack species")
    ax.grid(True, axis="y", color="#dee2e6", linewidth=0.6)
    ax.set_axisbelow(True)
    names = list(apcer_per_species or {})
    if not names:
        ax.set_ylim(0, 100)
        ax.set_xticks([])
        _note(ax, "no attacks in this file\nAPCER undefined")
        return fig
    ci = ci95_per_species or {}
    x = np.arange(len(names))
    top = 0.0
    for i, name in enumerate(names):
        value = apcer_per_species[name]
        if value is None:
            ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=10, color="#555555")
            continue
        v = 100 * value
        ax.bar(i, v, color=_color(i), alpha=0.8, width=0.6)
        if v == 0:  # a bar of height 0 is invisible: mark the measured zero
            ax.plot([i - 0.3, i + 0.3], [0, 0], color=_color(i), linewidth=4, solid_capstyle="butt")
        interval = ci.get(name)
        if interval:
            lo, hi = 100 * interval[0], 100 * interval[1]
            ax.errorbar(i, v, yerr=[[max(v - lo, 0.0)], [max(hi - v, 0.0)]], color="black", capsize=6,
                        linewidth=1.2)
            top = max(top, hi)
        ax.text(i + 0.32, v, f"{v:.2f} %", ha="left", va="bottom", fontsize=9)
        top = max(top, v)
    if apcer_max is not None:
        ax.axhline(100 * apcer_max, color=POINT_COLOR, linestyle="--", linewidth=1.5,
                   label=f"APCER (max over species) = {_pct(apcer_max)}")
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
        top = max(top, 100 * apcer_max)
    ax.set_xticks(x, names, rotation=20 if len(names) > 4 else 0)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0, min(100.0, top * 1.25) if top > 0 else 5.0)
    if top >= 80:
        ax.set_ylim(0, 105)
    return fig
