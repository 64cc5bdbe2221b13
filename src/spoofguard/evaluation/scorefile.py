"""Score files: one CSV row per sample, the common ground between any model and the metrics.

Columns: ``sample_id, path, label, species, subject, video_id, score`` where ``score`` is the
probability of bona fide (higher = more bona fide) in [0, 1]. Any model, ours or a third party's,
that writes this file is judged by the same metrics code (the bob.pad way).

A score file written by ``spoofguard score`` has a sidecar ``<name>.json`` holding where its scores
came from (the bundle, its dev threshold and rule), so ``spoofguard metrics`` can use the bundle's
threshold without the bundle at hand.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spoofguard.errors import SpoofguardError

COLUMNS = ("sample_id", "path", "label", "species", "subject", "video_id", "score")
LABELS = ("bona_fide", "attack")


@dataclass
class ScoreTable:
    """Columns of a score file as arrays (strings, and float scores)."""

    sample_id: np.ndarray
    path: np.ndarray
    label: np.ndarray
    species: np.ndarray
    subject: np.ndarray
    video_id: np.ndarray
    score: np.ndarray
    meta: dict = field(default_factory=dict)  # the sidecar: bundle, threshold, rule ...

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def from_rows(cls, rows: list[dict], meta: dict | None = None) -> "ScoreTable":
        cols = {c: np.array([str(r.get(c, "") or "") for r in rows], dtype=object) for c in COLUMNS if c != "score"}
        return cls(**cols, score=np.array([float(r["score"]) for r in rows], dtype=float), meta=dict(meta or {}))

    def rows(self) -> list[dict]:
        return [{c: (float(self.score[i]) if c == "score" else str(getattr(self, c)[i])) for c in COLUMNS} for i in range(len(self))]

    def select(self, mask: np.ndarray) -> "ScoreTable":
        return ScoreTable(**{c: getattr(self, c)[mask] for c in COLUMNS}, meta=self.meta)

    @property
    def has_subjects(self) -> bool:
        return len(self) > 0 and all(self.subject != "")


def sidecar(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".json")


def write_scores(table: ScoreTable, path: str | os.PathLike, extra: dict[str, list] | None = None) -> Path:
    """Write the score file (and its sidecar); ``extra`` adds columns after the standard ones (e.g.
    cross-validation's ``fold``), which readers that do not know them ignore."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = extra or {}
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS) + list(extra))
        w.writeheader()
        for i, row in enumerate(table.rows()):
            row["score"] = repr(row["score"])  # full precision: metrics from the file equal metrics in memory
            w.writerow({**row, **{k: v[i] for k, v in extra.items()}})
    if table.meta:
        sidecar(path).write_text(json.dumps(table.meta, indent=2, sort_keys=True))
    return path


def read_scores(path: str | os.PathLike) -> ScoreTable:
    """Read and check a score file; bad rows are refused with their line numbers."""
    path = Path(path)
    if not path.is_file():
        raise SpoofguardError(f"{path}: no such score file.")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"label", "score"} - set(reader.fieldnames or [])
        if missing:
            raise SpoofguardError(f"{path} is not a score file: it lacks the column(s) {', '.join(sorted(missing))}; expected {', '.join(COLUMNS)}.")
        rows = list(reader)
    if not rows:
        raise SpoofguardError(f"{path}: the score file has no rows.")
    bad_score, bad_label = [], []
    for i, r in enumerate(rows, start=2):
        try:
            s = float(r["score"])
            if not math.isfinite(s) or not 0.0 <= s <= 1.0:
                bad_score.append(i)
        except (TypeError, ValueError):
            bad_score.append(i)
        if (r.get("label") or "").strip() not in LABELS:
            bad_label.append(i)
        r["label"] = (r.get("label") or "").strip()
    problems = []
    if bad_score:
        problems.append(f"scores that are not finite numbers in [0, 1] on line(s) {_lines(bad_score)}")
    if bad_label:
        problems.append(f"labels other than bona_fide/attack on line(s) {_lines(bad_label)}")
    if problems:
        raise SpoofguardError(f"{path}: " + "; ".join(problems) + ".")
    for i, r in enumerate(rows):
        if not r.get("sample_id"):
            r["sample_id"] = r.get("path") or str(i)
    meta = {}
    if sidecar(path).is_file():
        try:
            meta = json.loads(sidecar(path).read_text())
        except json.JSONDecodeError:
            meta = {}
    return ScoreTable.from_rows(rows, meta)


def _lines(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:10]))
    return shown + (f" (and {len(lines) - 10} more)" if len(lines) > 10 else "")
