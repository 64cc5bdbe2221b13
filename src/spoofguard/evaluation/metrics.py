"""ISO/IEC 30107-3 metrics on plain arrays.

Conventions (binding for every function here)
---------------------------------------------
* ``scores``: one float per row, **higher = more bona fide**, finite and inside [0, 1]. NaN, inf,
  out-of-range values and empty input raise :class:`~spoofguard.errors.SpoofguardError`; the message
  names the offending row indices (0-based positions in the input, first 10 shown).
* ``labels``: one string per row, exactly ``"bona_fide"`` or ``"attack"``; anything else raises
  :class:`SpoofguardError` naming the rows.
* ``species``: one string per row, the attack (PAI) species of attack rows. Empty / missing values and
  ``"attack"`` mean "unknown" and are grouped as species ``"attack"``; values on bona fide rows are
  ignored. ``species=None`` puts every attack in species ``"attack"``.
* Decision: :func:`spoofguard.verdict.accepted`: a score at or above the threshold is accepted as
  bona fide, below it is an attack. A score exactly at the threshold is accepted.
* APCER_s = fraction of attacks of species s accepted as bona fide.
  **APCER = max over species** (ISO/IEC 30107-3), not pooled; ``apcer_pooled`` is the pooled rate.
* BPCER = fraction of bona fide rows rejected as attacks.
* ACER = (APCER + BPCER) / 2 — the community convention, **not** an ISO/IEC 30107-3 metric.
* HTER = (pooled APCER + BPCER) / 2.
* Candidate thresholds for every sweep (EER, BPCER@APCER, AUC) are the unique scores plus the value
  just above the maximum score (``np.nextafter(max, inf)``: everything rejected, APCER = 0).
* EER uses the **pooled** attack set: among the candidates, the threshold minimising
  ``|APCER_pooled - BPCER|`` (lowest threshold on ties); the EER reported is the mean of the two rates
  there, so it always lies between them.
* BPCER@APCER=t (BPCER20: t = 0.05, BPCER100: t = 0.01): the lowest candidate threshold whose
  **max-over-species** APCER <= t, i.e. the smallest BPCER meeting the constraint.
* AUC: area under the ROC with bona fide as the positive class (ties count one half).
* Undefined values are ``None``, never 0: APCER without attacks, BPCER without bona fide,
  EER / AUC / BPCER@APCER when either class is missing.

The sweeps work on per-score-group counts and accept a matrix of row weights, so the same code
evaluates the point estimate (weights = 1) and a whole batch of bootstrap resamples at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spoofguard.errors import SpoofguardError
from spoofguard.verdict import AGGREGATIONS, ATTACK, BONA_FIDE, accepted

UNKNOWN_SPECIES = ATTACK

# Largest threshold that makes sense: just above a score of 1.0, which rejects everything.
MAX_THRESHOLD = float(np.nextafter(1.0, np.inf))
_EPS = 1e-9  # tolerance when turning a target rate into an allowed count (0.29 * 100 = 28.999...)


# --------------------------------------------------------------------------- input checking


def _rows(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in idx[:10])
    more = f" (first 10 of {idx.size} rows shown)" if idx.size > 10 else ""
    return f"rows {shown}{more}"


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return str(value).strip() == ""


def check_scores(scores) -> np.ndarray:
    """Return ``scores`` as a 1-D float array, or raise SpoofguardError naming the bad rows."""
    try:
        s = np.asarray(scores, dtype=float)
    except (TypeError, ValueError) as exc:
        raise SpoofguardError(f"scores must be numbers in [0, 1] ({exc}).") from None
    if s.ndim != 1:
        raise SpoofguardError(f"scores must be a 1-D sequence, got shape {s.shape}.")
    if s.size == 0:
        raise SpoofguardError("no samples: the scores are empty; evaluate at least one row.")
    bad = ~np.isfinite(s)
    if bad.any():
        raise SpoofguardError(
            f"scores must be finite; NaN or infinite values at {_rows(bad)}. Fix or drop those rows."
        )
    out = (s < 0.0) | (s > 1.0)
    if out.any():
        raise SpoofguardError(
            f"scores must lie in [0, 1] (higher = more bona fide); out of range at {_rows(out)}."
        )
    return s


def check_threshold(threshold) -> float:
    """A decision threshold: a finite number in [0, 1] (or the value just above 1, 'reject all')."""
    if threshold is None:
        raise SpoofguardError("a decision threshold is required (choose it on a dev set).")
    if isinstance(threshold, bool):
        raise SpoofguardError(f"threshold must be a number, got {threshold!r}.")
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise SpoofguardError(f"threshold must be a number, got {threshold!r}.") from None
    if not (0.0 <= t <= MAX_THRESHOLD):  # also rejects NaN
        raise SpoofguardError(f"threshold must be a number in [0, 1], got {threshold!r}.")
    return t


def _check_rate(value, name: str) -> float:
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise SpoofguardError(f"{name} must be a rate in [0, 1], got {value!r}.") from None
    if isinstance(value, bool) or not (0.0 <= r <= 1.0):
        raise SpoofguardError(f"{name} must be a rate in [0, 1], got {value!r}.")
    return r


def _as_1d(values, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1 or arr.size != n:
        raise SpoofguardError(f"{name} must have one value per score ({n}), got shape {arr.shape}.")
    return arr


@dataclass
class _Data:
    """Validated rows: scores, which rows are bona fide, and a species code per attack row."""

    scores: np.ndarray  # float (n,)
    is_bf: np.ndarray  # bool (n,)
    species: list[str]  # sorted names of the attack species present
    species_code: np.ndarray  # int (n,): -1 for bona fide, else index into ``species``


def _prepare(scores, labels, species=None) -> _Data:
    s = check_scores(scores)
    lab = _as_1d(labels, s.size, "labels")
    is_bf = lab == BONA_FIDE
    is_att = lab == ATTACK
    bad = ~(is_bf | is_att)
    if bad.any():
        examples = sorted({repr(v) for v in lab[bad][:10]})
        raise SpoofguardError(
            f'labels must be "{BONA_FIDE}" or "{ATTACK}"; got {", ".join(examples)} at {_rows(bad)}.'
        )
    if species is None:
        names = np.full(s.size, UNKNOWN_SPECIES, dtype=object)
    else:
        sp = _as_1d(species, s.size, "species")
        names = np.array(
            [UNKNOWN_SPECIES if _is_missing(v) else str(v).strip() for v in sp], dtype=object
        )
    att_names = names[is_att].astype(str)
    uniq, inv = np.unique(att_names, return_inverse=True)
    code = np.full(s.size, -1, dtype=np.int64)
    code[is_att] = inv
    return _Data(s, is_bf, [str(u) for u in uniq], code)


# --------------------------------------------------------------------------- vectorised core


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0 (undefined rate)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _nanmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Max ignoring NaN; NaN where every value is NaN or there are none (no attack species)."""
    if x.shape[axis] == 0:
        return np.full(np.delete(x.shape, axis), np.nan)
    m = np.where(np.isnan(x), -np.inf, x).max(axis=axis)
    return np.where(np.isneginf(m), np.nan, m)


class _Sweep:
    """Rows grouped by unique score; turns row weights (B, n) into counts (B, classes, groups).

    Class 0 is bona fide, class 1 + k is attack species k. Candidate threshold j is
    ``candidates[j]`` (j = 0 .. m): score groups ``< j`` are rejected, groups ``>= j`` accepted.
    """

    def __init__(self, data: _Data):
        self.unique, group = np.unique(data.scores, return_inverse=True)
        self.candidates = np.append(self.unique, np.nextafter(self.unique[-1], np.inf))
        self.n_classes = 1 + len(data.species)
        self.cell = (data.species_code + 1) * self.unique.size + group

    def counts(self, weights: np.ndarray) -> "_Counts":
        b = weights.shape[0]
        size = self.unique.size * self.n_classes
        idx = (np.arange(b)[:, None] * size + self.cell[None, :]).ravel()
        flat = np.bincount(idx, weights=weights.ravel(), minlength=b * size)
        return _Counts(flat.reshape(b, self.n_classes, self.unique.size))

    def group_index(self, threshold: float) -> int:
        """The candidate index of ``threshold``: the first score group it accepts."""
        return int(np.searchsorted(self.unique, threshold, side="left"))


def _exclusive_cumsum(x: np.ndarray) -> np.ndarray:
    """Cumulative sum over the last axis, shifted by one: entry j = sum of entries < j (m+1 long)."""
    out = np.zeros(x.shape[:-1] + (x.shape[-1] + 1,))
    np.cumsum(x, axis=-1, out=out[..., 1:])
    return out


class _Counts:
    """Counts of a batch of B resamples (B, classes, groups) and their running sums per candidate."""

    def __init__(self, g: np.ndarray):
        self.bf, self.att_sp = g[:, 0], g[:, 1:]  # (B, m), (B, S, m)
        self.n_bf = self.bf.sum(1)  # (B,)
        self.n_sp = self.att_sp.sum(2)  # (B, S)
        self.n_att = self.n_sp.sum(1)
        self.bf_rej = _exclusive_cumsum(self.bf)  # (B, m+1): bona fide rejected at candidate j
        self.sp_rej = _exclusive_cumsum(self.att_sp)  # (B, S, m+1): attacks of species s rejected
        self.att_rej = self.sp_rej.sum(1)  # (B, m+1)
        self.both = (self.n_bf > 0) & (self.n_att > 0)

    def rates_at(self, j: int) -> dict[str, np.ndarray]:
        """Threshold-dependent rates at candidate index ``j``, one value per resample."""
        bf_rej = self.bf_rej[:, j]
        acc_sp = self.n_sp - self.sp_rej[:, :, j]
        acc = acc_sp.sum(1)
        apcer_sp = _ratio(acc_sp, self.n_sp)
        apcer = _nanmax(apcer_sp, axis=1)
        pooled = _ratio(acc, self.n_att)
        bpcer = _ratio(bf_rej, self.n_bf)
        return {
            "apcer": apcer,
            "apcer_pooled": pooled,
            "apcer_per_species": apcer_sp,
            "bpcer": bpcer,
            "acer": (apcer + bpcer) / 2,
            "hter": (pooled + bpcer) / 2,
            "accuracy": _ratio(self.n_bf - bf_rej + self.n_att - acc, self.n_bf + self.n_att),
        }

    def eer(self) -> tuple[np.ndarray, np.ndarray]:
        """EER on pooled attacks and the chosen candidate index (NaN / -1 where undefined)."""
        att_acc = self.n_att[:, None] - self.att_rej
        # |APCER - BPCER| * n_att * n_bf, compared exactly on whole counts; first (lowest) minimum.
        gap = np.abs(att_acc * self.n_bf[:, None] - self.bf_rej * self.n_att[:, None])
        j = np.argmin(gap, axis=1)
        rows = np.arange(j.size)
        value = (_ratio(att_acc[rows, j], self.n_att) + _ratio(self.bf_rej[rows, j], self.n_bf)) / 2
        return np.where(self.both, value, np.nan), np.where(self.both, j, -1)

    def bpcer_at_apcer(self, target: float) -> tuple[np.ndarray, np.ndarray]:
        """BPCER at the lowest candidate whose max-species APCER <= target, and that index."""
        allowed = np.floor(target * self.n_sp + _EPS)  # accepted attacks allowed per species
        must_reject = self.n_sp - allowed
        # Rejections grow with j, so species s is satisfied from the first j with enough rejected.
        first_ok = (self.sp_rej < must_reject[:, :, None]).sum(2)  # (B, S)
        j = first_ok.max(1, initial=0)
        value = _ratio(self.bf_rej[np.arange(j.size), j], self.n_bf)
        return np.where(self.both, value, np.nan), np.where(self.both, j, -1)

    def apcer_at_bpcer_index(self, target: float) -> int:
        """Point estimate (row 0): the highest candidate whose BPCER <= target (the smallest APCER
        there); -1 without bona fide rows. Rejected bona fide grow with j, and j = 0 rejects none."""
        if self.n_bf[0] == 0:
            return -1
        return int(np.flatnonzero(self.bf_rej[0] <= math.floor(target * self.n_bf[0] + _EPS))[-1])

    def auc(self) -> np.ndarray:
        """ROC AUC with bona fide positive: P(bona fide score > attack score) + P(tie) / 2."""
        att = self.att_sp.sum(1)
        pairs = (self.bf * (self.att_rej[:, :-1] + 0.5 * att)).sum(1)
        return _ratio(pairs, self.n_bf * self.n_att)


def _py(x) -> float | None:
    """numpy scalar -> float, NaN -> None (undefined)."""
    x = float(x)
    return None if math.isnan(x) else x


# --------------------------------------------------------------------------- public functions


def error_rates(scores, labels, species=None, threshold=None) -> dict:
    """APCER (max over species), pooled APCER, per-species APCER, BPCER, ACER, HTER at ``threshold``.

    Returns a dict with ``apcer, apcer_pooled, apcer_per_species {species: rate}, bpcer, acer, hter,
    accuracy, n_bona_fide, n_attack, n_per_species``. Undefined rates are ``None``. ACER is the community
    convention, not an ISO/IEC 30107-3 metric; HTER uses the pooled APCER; accuracy is the fraction of
    rows decided right.
    """
    data = _prepare(scores, labels, species)
    t = check_threshold(threshold)
    sweep = _Sweep(data)
    c = sweep.counts(np.ones((1, data.scores.size)))
    r = c.rates_at(sweep.group_index(t))
    return {
        "apcer": _py(r["apcer"][0]),
        "apcer_pooled": _py(r["apcer_pooled"][0]),
        "apcer_per_species": {s: _py(v) for s, v in zip(data.species, r["apcer_per_species"][0])},
        "bpcer": _py(r["bpcer"][0]),
        "acer": _py(r["acer"][0]),
        "hter": _py(r["hter"][0]),
        "accuracy": _py(r["accuracy"][0]),
        "n_bona_fide": int(data.is_bf.sum()),
        "n_attack": int((~data.is_bf).sum()),
        "n_per_species": {s: int(n) for s, n in zip(data.species, c.n_sp[0])},
    }


def eer(scores, labels) -> tuple[float | None, float | None]:
    """Equal error rate on the pooled attacks and its threshold; ``(None, None)`` if undefined."""
    data = _prepare(scores, labels)
    sweep = _Sweep(data)
    value, j = sweep.counts(np.ones((1, data.scores.size))).eer()
    if j[0] < 0:
        return None, None
    return float(value[0]), float(sweep.candidates[j[0]])


def bpcer_at_apcer(scores, labels, species=None, apcer_target=0.05) -> tuple[float | None, float | None]:
    """BPCER at the lowest threshold whose max-over-species APCER <= ``apcer_target``.

    ``apcer_target=0.05`` gives BPCER20, ``0.01`` BPCER100. Returns ``(bpcer, threshold)``, or
    ``(None, None)`` when bona fide or attack rows are missing.
    """
    target = _check_rate(apcer_target, "apcer_target")
    data = _prepare(scores, labels, species)
    sweep = _Sweep(data)
    value, j = sweep.counts(np.ones((1, data.scores.size))).bpcer_at_apcer(target)
    if j[0] < 0:
        return None, None
    return float(value[0]), float(sweep.candidates[j[0]])


def apcer_at_bpcer(scores, labels, species=None, bpcer_target=0.01) -> tuple[float | None, float | None]:
    """Max-over-species APCER at the highest threshold whose BPCER <= ``bpcer_target``.

    The highest such threshold gives the smallest APCER. Returns ``(apcer, threshold)``; the
    threshold needs only bona fide rows, the APCER is ``None`` without attacks, and both are
    ``None`` without bona fide rows.
    """
    target = _check_rate(bpcer_target, "bpcer_target")
    data = _prepare(scores, labels, species)
    sweep = _Sweep(data)
    c = sweep.counts(np.ones((1, data.scores.size)))
    j = c.apcer_at_bpcer_index(target)
    if j < 0:
        return None, None
    return _py(c.rates_at(j)["apcer"][0]), float(sweep.candidates[j])


def error_rate_curve(scores: np.ndarray, is_bf: np.ndarray, attack_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """APCER and BPCER at every candidate threshold of the sweep, lowest threshold first (the curves
    of the report's DET and ROC plots).

    ``is_bf`` marks the bona fide rows; ``attack_mask`` the attacks counted in APCER (all attacks for
    the pooled curve, one species for a species curve). Returns ``(thresholds, apcer, bpcer)``; a rate
    without rows to count is 1 (APCER) or 0 (BPCER) everywhere.
    """
    s = np.asarray(scores, dtype=float)
    is_bf, attack_mask = np.asarray(is_bf, dtype=bool), np.asarray(attack_mask, dtype=bool)
    sweep = _Sweep(_Data(s, is_bf, [ATTACK], np.where(is_bf, -1, 0)))
    c = sweep.counts((is_bf | attack_mask)[None].astype(float))  # the other attacks weigh nothing
    apcer = 1.0 - c.att_rej[0] / max(c.n_att[0], 1)
    bpcer = c.bf_rej[0] / max(c.n_bf[0], 1)
    return sweep.candidates, apcer, bpcer


def aggregate_by_video(scores, video_ids, how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Combine frame scores into one score per video.

    Returns ``(agg_scores, first_rows)``: one aggregated score per video, in order of first
    appearance, and the index of each video's first row (use it to pick labels / species /
    subjects). Rows with an empty video id (``None``, NaN, ``""``) stay items of their own.
    ``how`` is one of :data:`~spoofguard.verdict.AGGREGATIONS`: ``"mean"``, ``"median"``, ``"max"`` or ``"min"``.
    """
    if how not in AGGREGATIONS:
        raise SpoofguardError(f'how must be "mean", "median", "max" or "min", got {how!r}.')
    s = check_scores(scores)
    ids = _as_1d(video_ids, s.size, "video_ids")
    missing = np.array([_is_missing(v) for v in ids], dtype=bool)
    _, inv = np.unique(ids[~missing].astype(str), return_inverse=True)
    key = np.empty(s.size, dtype=np.int64)
    key[~missing] = inv
    key[missing] = inv.max(initial=-1) + 1 + np.arange(missing.sum())
    # Number the videos in order of first appearance.
    _, first, key_inv = np.unique(key, return_index=True, return_inverse=True)
    by_first = np.argsort(first)
    rank = np.empty_like(by_first)
    rank[by_first] = np.arange(by_first.size)
    group = rank[key_inv]
    first_rows = first[by_first]
    # Sort rows by (group, score): each group is a contiguous, sorted run.
    order = np.lexsort((s, group))
    sorted_s = s[order]
    n = np.bincount(group)
    start = np.concatenate(([0], np.cumsum(n)[:-1]))
    if how == "mean":
        agg = np.add.reduceat(sorted_s, start) / n
    elif how == "min":
        agg = sorted_s[start]
    elif how == "max":
        agg = sorted_s[start + n - 1]
    else:
        agg = (sorted_s[start + (n - 1) // 2] + sorted_s[start + n // 2]) / 2
    return agg, first_rows


# --------------------------------------------------------------------------- compute_metrics


_BOOT_KEYS = ("apcer", "bpcer", "acer", "hter", "eer", "bpcer20", "bpcer100", "auc", "accuracy")


def _batch_metrics(c: _Counts, j: int) -> dict[str, np.ndarray]:
    """Every bootstrapped metric for a batch; arrays of shape (B,) (per species: (B, S))."""
    out = c.rates_at(j)
    out["eer"] = c.eer()[0]
    out["bpcer20"] = c.bpcer_at_apcer(0.05)[0]
    out["bpcer100"] = c.bpcer_at_apcer(0.01)[0]
    out["auc"] = c.auc()
    return out


def _classification(data: _Data, t: float) -> dict:
    acc = accepted(data.scores, t)
    bf, att = data.is_bf, ~data.is_bf
    cm = {
        BONA_FIDE: {BONA_FIDE: int((bf & acc).sum()), ATTACK: int((bf & ~acc).sum())},
        ATTACK: {BONA_FIDE: int((att & acc).sum()), ATTACK: int((att & ~acc).sum())},
    }

    def stats(cls: str, other: str) -> dict:
        tp, fn, fp = cm[cls][cls], cm[cls][other], cm[other][cls]
        p = tp / (tp + fp) if tp + fp else None
        r = tp / (tp + fn) if tp + fn else None
        f1 = None if p is None or r is None else (2 * p * r / (p + r) if p + r else 0.0)
        return {"precision": p, "recall": r, "f1": f1, "support": tp + fn}

    return {
        "per_class": {BONA_FIDE: stats(BONA_FIDE, ATTACK), ATTACK: stats(ATTACK, BONA_FIDE)},
        "confusion_matrix": cm,
        "mean_confidence": {
            BONA_FIDE: float(data.scores[bf].mean()) if bf.any() else None,
            ATTACK: float((1.0 - data.scores[att]).mean()) if att.any() else None,
        },
    }


def _resample_weights(rng, b: int, n: int, cluster: np.ndarray | None, n_clusters: int) -> np.ndarray:
    """Row multiplicities (b, n) for b bootstrap resamples of rows or of clusters (subjects)."""
    k = n if cluster is None else n_clusters
    draws = rng.integers(0, k, size=(b, k))
    counts = np.bincount((np.arange(b)[:, None] * k + draws).ravel(), minlength=b * k).reshape(b, k)
    return counts if cluster is None else counts[:, cluster]


def compute_metrics(
    scores,
    labels,
    species=None,
    threshold=None,
    subjects=None,
    bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict:
    """All ISO/IEC 30107-3 numbers at a fixed ``threshold`` plus bootstrap confidence intervals.

    Keys: ``apcer, apcer_pooled, bpcer, acer, hter, eer, bpcer20, bpcer100, auc, accuracy,
    threshold, apcer_per_species, n_bona_fide, n_attack, n_per_species, eer_threshold,
    bpcer20_threshold, bpcer100_threshold, apcer_at_bpcer1, apcer_at_bpcer5, notes, classification,
    ci95, ci_method, warnings``.

    ``classification`` = ``{"per_class": {"bona_fide"|"attack": {precision, recall, f1, support}},
    "confusion_matrix": {true label: {predicted label: n}}, "mean_confidence": {"bona_fide": mean
    score of bona fide rows, "attack": mean (1 - score) of attack rows}}``.

    Bootstrap (``bootstrap`` resamples, ``numpy.random.default_rng(seed)``, percentile intervals at
    ``confidence``; the key is ``ci95`` whatever the level): resamples subjects (all rows of a drawn
    subject come along) when ``subjects`` is given with no empty value, else rows. The threshold
    stays fixed for apcer/bpcer/acer/hter/accuracy; eer/bpcer20/bpcer100/auc are recomputed per
    resample. Resamples where a metric is undefined are skipped for it; an interval is ``None``
    with fewer than 2 valid resamples. ``bootstrap=0`` disables intervals (all ``None``).
    Where the bootstrap degenerates (a zero-width interval, e.g. no error seen) and for every error
    rate when fewer than ``MIN_SUBJECTS`` subjects are resampled, the error rates get exact binomial
    (Clopper-Pearson) intervals instead, listed in ``ci_method["exact_binomial"]``; ``warnings`` says
    why in words.
    """
    data = _prepare(scores, labels, species)
    t = check_threshold(threshold)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise SpoofguardError(f"bootstrap must be a whole number >= 0, got {bootstrap!r}.")
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise SpoofguardError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}.")
    n = data.scores.size
    sweep = _Sweep(data)
    gi = sweep.group_index(t)
    result = _point_estimates(data, sweep, gi, t)
    cluster, n_clusters, note = _subject_clusters(subjects, n)
    ci = _bootstrap_intervals(data, sweep, gi, cluster, n_clusters, bootstrap, seed, confidence)
    result["ci95"] = ci
    result["ci_method"] = None
    result["warnings"] = []
    if bootstrap:
        few = cluster is not None and n_clusters < MIN_SUBJECTS
        if few:
            result["warnings"].append(
                f"only {n_clusters} subject(s) judged: a bootstrap over so few people says little; exact binomial "
                f"(Clopper-Pearson) intervals per presentation are given for the error rates instead; they assume "
                f"independent presentations, so with {n_clusters} people they are still too narrow. Judge at least "
                f"{MIN_SUBJECTS} subjects.")
        exact = _exact_where_degenerate(result, ci, confidence, always=few)
        result["ci_method"] = {
            "method": "bootstrap over subjects" if cluster is not None else "bootstrap over samples",
            "n_resamples": int(bootstrap),
            "seed": seed,
            "confidence": float(confidence),
        }
        if cluster is not None:
            result["ci_method"]["n_subjects"] = int(n_clusters)
        if note:
            result["ci_method"]["note"] = note
        if exact:
            result["ci_method"]["exact_binomial"] = exact
    return result


def _point_estimates(data: _Data, sweep: _Sweep, gi: int, t: float) -> dict:
    """compute_metrics' numbers on the rows themselves (no intervals yet)."""
    c = sweep.counts(np.ones((1, data.scores.size)))
    point = _batch_metrics(c, gi)
    _, eer_j = c.eer()
    thr = {}
    for name, target in (("bpcer20", 0.05), ("bpcer100", 0.01)):
        _, j = c.bpcer_at_apcer(target)
        thr[name] = float(sweep.candidates[j[0]]) if j[0] >= 0 else None

    apcer_at = {}
    for name, target in (("apcer_at_bpcer1", 0.01), ("apcer_at_bpcer5", 0.05)):  # APCER at BPCER = 1 % / 5 %
        j = c.apcer_at_bpcer_index(target)
        apcer_at[name] = _py(c.rates_at(j)["apcer"][0]) if j >= 0 else None

    result = {k: _py(point[k][0]) for k in ("apcer", "apcer_pooled", "bpcer", "acer", "hter")}
    result.update({k: _py(point[k][0]) for k in ("eer", "bpcer20", "bpcer100", "auc", "accuracy")})
    result.update({"apcer_at_bpcer1": apcer_at.get("apcer_at_bpcer1"), "apcer_at_bpcer5": apcer_at.get("apcer_at_bpcer5")})
    result.update(
        threshold=t,
        apcer_per_species={s: _py(v) for s, v in zip(data.species, point["apcer_per_species"][0])},
        n_bona_fide=int(data.is_bf.sum()),
        n_attack=int((~data.is_bf).sum()),
        n_per_species={s: int(v) for s, v in zip(data.species, c.n_sp[0])},
        eer_threshold=float(sweep.candidates[eer_j[0]]) if eer_j[0] >= 0 else None,
        bpcer20_threshold=thr["bpcer20"],
        bpcer100_threshold=thr["bpcer100"],
        notes={
            "apcer": "max over attack species (ISO/IEC 30107-3)",
            "acer": "(APCER + BPCER) / 2: community convention, not an ISO/IEC 30107-3 metric",
            "hter": "(pooled APCER + BPCER) / 2",
            "eer": "on the pooled attack set",
            "apcer_at_bpcer1": "max-over-species APCER at the highest threshold whose BPCER <= 1 %",
        },
        classification=_classification(data, t),
    )
    return result


def _subject_clusters(subjects, n: int) -> tuple[np.ndarray | None, int, str | None]:
    """(cluster index per row, number of clusters, note): the subjects a bootstrap resamples; rows
    (cluster None) when no subjects are given or some are missing (then the note says where)."""
    if subjects is None:
        return None, 0, None
    subj = _as_1d(subjects, n, "subjects")
    empty = np.array([_is_missing(v) for v in subj], dtype=bool)
    if empty.any():
        return None, 0, f"subject missing at {_rows(empty)}; resampled samples instead"
    uniq, cluster = np.unique(subj.astype(str), return_inverse=True)
    return cluster, uniq.size, None


def _bootstrap_intervals(data: _Data, sweep: _Sweep, gi: int, cluster, n_clusters: int, bootstrap: int, seed: int,
                         confidence: float) -> dict:
    """Percentile intervals of every bootstrapped metric over ``bootstrap`` resamples (None where fewer
    than 2 resamples define it), per species for APCER."""
    n = data.scores.size
    samples = {k: [] for k in _BOOT_KEYS}
    per_species = []
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // (sweep.unique.size * sweep.n_classes + n))
    done = 0
    while done < bootstrap:
        b = min(chunk, bootstrap - done)
        weights = _resample_weights(rng, b, n, cluster, n_clusters)
        batch = _batch_metrics(sweep.counts(weights), gi)
        for k in _BOOT_KEYS:
            samples[k].append(batch[k])
        per_species.append(batch["apcer_per_species"])
        done += b

    def interval(values: np.ndarray):
        values = values[~np.isnan(values)]
        if values.size < 2:
            return None
        lo, hi = np.percentile(values, [50 * (1 - confidence), 50 * (1 + confidence)])
        return [float(lo), float(hi)]

    ci = {k: interval(np.concatenate(v)) if v else None for k, v in samples.items()}
    sp = np.concatenate(per_species) if per_species else np.empty((0, len(data.species)))
    ci["apcer_per_species"] = {s: interval(sp[:, i]) for i, s in enumerate(data.species)}
    return ci


MIN_SUBJECTS = 5  # fewer test subjects than this: a bootstrap over subjects is not an interval worth printing


def clopper_pearson(errors: int, n: int, confidence: float = 0.95) -> list[float] | None:
    """Exact binomial (Clopper-Pearson) interval of a rate of ``errors`` in ``n`` trials; None when n = 0.
    Unlike a bootstrap it does not collapse to [0, 0] when no error was seen: 0 errors in 30 trials
    gives [0, 11.6 %] at 95 %."""
    if n <= 0:
        return None
    from scipy.stats import beta

    alpha = 1.0 - confidence
    low = 0.0 if errors == 0 else float(beta.ppf(alpha / 2, errors, n - errors + 1))
    high = 1.0 if errors == n else float(beta.ppf(1 - alpha / 2, errors + 1, n - errors))
    return [low, high]


def _exact_where_degenerate(result: dict, ci: dict, confidence: float, always: bool) -> list[str]:
    """Replace, in ``ci``, the bootstrap interval of each error rate by its exact binomial one where the
    bootstrap degenerates (a zero-width interval: no error, or every presentation an error, or too few
    resamples) or ``always`` (too few subjects). APCER (max over species) takes the largest bounds of
    its species, ACER and HTER the means of their parts' bounds. Returns the keys replaced."""
    def degenerate(interval) -> bool:
        return always or interval is None or interval[0] == interval[1]

    done = []
    n_sp, rates = result["n_per_species"], result["apcer_per_species"]
    species_ci = {}
    for sp, n in n_sp.items():
        exact = clopper_pearson(round((rates.get(sp) or 0.0) * n), n, confidence) if rates.get(sp) is not None else None
        species_ci[sp] = exact
        if exact is not None and degenerate(ci["apcer_per_species"].get(sp)):
            ci["apcer_per_species"][sp] = exact
            done.append(f"apcer_per_species.{sp}")
    parts = {}
    if result["bpcer"] is not None:
        parts["bpcer"] = clopper_pearson(round(result["bpcer"] * result["n_bona_fide"]), result["n_bona_fide"], confidence)
    if result["apcer_pooled"] is not None:
        parts["apcer_pooled"] = clopper_pearson(round(result["apcer_pooled"] * result["n_attack"]), result["n_attack"], confidence)
    known = [v for v in species_ci.values() if v is not None]
    if known:
        parts["apcer"] = [max(v[0] for v in known), max(v[1] for v in known)]
    for key, exact in parts.items():
        if key in ci and degenerate(ci[key]):
            ci[key] = exact
            done.append(key)
    for key, (a, b) in (("acer", ("apcer", "bpcer")), ("hter", ("apcer_pooled", "bpcer"))):
        if a in parts and b in parts and key in ci and degenerate(ci[key]):
            ci[key] = [(parts[a][0] + parts[b][0]) / 2, (parts[a][1] + parts[b][1]) / 2]
            done.append(key)
    return done
