"""From a bundle and data to scores, from scores to metrics, and both to a report.

score:    bundle + samples        -> ScoreTable (one row per sample, score = P(bona fide))
metrics:  ScoreTable [+ dev table] -> ISO/IEC 30107-3 metrics at a threshold whose origin is stated
evaluate: score + metrics + report

Where the threshold comes from, in order: a number given by the user; the dev scores (by the chosen
rule); the bundle that produced the scores (its dev threshold); else the rule applied to the very
scores being judged, which is optimistic and says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spoofguard.data.manifest import Manifest, common_root, read_manifest
from spoofguard.data.sources import load_samples
from spoofguard.errors import SpoofguardError
from spoofguard.evaluation.metrics import aggregate_by_video, compute_metrics
from spoofguard.evaluation.scorefile import COLUMNS, ScoreTable
from spoofguard.evaluation.thresholds import choose_threshold, parse_threshold_rule
from spoofguard.verdict import AGGREGATIONS

OPTIMISTIC = (
    "warning: the threshold was chosen on the same scores it is judged on, so these error rates are "
    "optimistic; pass --dev dev_scores.csv (or score with a bundle, whose dev threshold is used)."
)


@dataclass
class Threshold:
    value: float
    source: str
    optimistic: bool = False


# -- score -------------------------------------------------------------------------------------


def score_samples(detector, manifest: Manifest, batch_size: int = 32) -> tuple[ScoreTable, list[tuple[str, str]]]:
    """Score every sample; unreadable ones (and faces not found) are returned as (path, reason), not scored.
    A temporal model scores each video (its frames grouped by ``video_id``) as one clip: one row per video."""
    root = common_root(manifest.samples)
    rows, failed = [], []
    samples = list(manifest)
    if getattr(detector, "is_temporal", False):
        return _score_videos(detector, samples, root)
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        results = detector.predict_batch([s.path for s in chunk], errors="collect")
        for s, r in zip(chunk, results):
            if isinstance(r, SpoofguardError):
                failed.append((s.path, str(r) if str(r).startswith(s.path) else f"{s.path}: {r}"))
                continue
            if r.score is None:  # e.g. no face found: a failure to acquire, listed, never a made-up score
                failed.append((s.path, f"{s.path}: {r.note}"))
                continue
            rel = os.path.relpath(s.path, root) if root else s.path
            rows.append({"sample_id": Path(rel).as_posix(), "path": s.path, "label": s.label, "species": s.species,
                         "subject": s.subject, "video_id": s.video_id, "score": r.score})
    if not rows:
        raise SpoofguardError(f"none of the {len(samples)} sample(s) could be scored; first problem: {failed[0][1] if failed else 'no samples'}")
    return ScoreTable.from_rows(rows, _score_meta(detector)), failed


def _score_videos(detector, samples: list, root: str) -> tuple[ScoreTable, list[tuple[str, str]]]:
    videos: dict[str, list] = {}
    for s in samples:
        videos.setdefault(s.video_id or s.path, []).append(s)
    rows, failed = [], []
    for vid, frames in sorted(videos.items()):
        frames = sorted(frames, key=lambda s: s.path)
        usable = []
        for s in frames:
            try:
                usable.append(detector.source(s.path))
            except SpoofguardError as e:
                failed.append((s.path, str(e)))
        p = detector.predict_clip(usable) if usable else None
        if p is None or p.score is None:
            failed.append((frames[0].path, f"video {vid}: {p.note if p else 'no readable frame'}"))
            continue
        s = frames[0]
        rows.append({"sample_id": vid, "path": s.path, "label": s.label, "species": s.species, "subject": s.subject,
                     "video_id": vid, "score": p.score})
    if not rows:
        raise SpoofguardError(f"none of the {len(videos)} video(s) could be scored; first problem: {failed[0][1] if failed else 'no samples'}")
    return ScoreTable.from_rows(rows, _score_meta(detector)), failed


def _score_meta(detector) -> dict:
    """What a score file records of the model that wrote it (its threshold is used when no dev scores are
    given) and of how it was made: the spoofguard version, when, and the model's weights hash."""
    import time

    return {
        "bundle": detector.path,
        "threshold": detector.threshold,
        "threshold_rule": detector.metadata.get("threshold_rule", "eer"),
        "threshold_source": detector.metadata.get("threshold_source", "bundle"),
        "architecture": detector.architecture,
        "weights_sha256": detector.metadata.get("weights_sha256"),
        "spoofguard_version": _spoofguard_version(),
        "scored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _spoofguard_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spoofguard")
    except PackageNotFoundError:
        return "unknown"


def non_response_rates(manifest: Manifest, failed: list[tuple[str, str]]) -> dict:
    """ISO/IEC 30107-3's non-response rates: the share of bona fide (BPNRR) and of attack presentations
    (APNRR) the system gave no decision for (unreadable, no face or finger found), with their counts."""
    missing = {p for p, _ in failed}
    out = {}
    for key, label in (("bpnrr", "bona_fide"), ("apnrr", "attack")):
        rows = [s for s in manifest if s.label == label]
        lost = sum(1 for s in rows if s.path in missing)
        out[key] = lost / len(rows) if rows else None
        out[f"n_no_response_{label}"] = lost
    return out


def select_samples(data: str | Path, split: str | None, bundle_path: str | None = None, protocol: str | None = None,
                   seed: int = 0) -> tuple[Manifest, str]:
    """The samples to judge: ``split`` of a manifest with splits, else every sample. With ``protocol``
    (e.g. ``leave-one-species-out:latex``, ``cross-dataset:B.csv``) the protocol's split is made first
    (with the seed the bundle was trained with) and ``split`` defaults to test.

    Samples the bundle was trained or tuned on (train/dev rows of the run's split.csv) are refused:
    judging a model on its own training data is a silent wrong answer.
    """
    official = bool(protocol and protocol.startswith("official:"))
    manifest = load_samples(data, format="auto", protocol=protocol).manifest  # the layout detected, as train and data scan read it
    if protocol:
        from spoofguard.data.protocols import split_manifest

        manifest, protocol = split_manifest(manifest, protocol, seed=seed)
        split = split or "test"
    if split:
        if not manifest.has_splits:
            raise SpoofguardError(f"--split {split}: {data} has no split column; pass a run's split.csv, or leave --split out to judge every sample.")
        manifest = manifest.split(split)
        if len(manifest) == 0:
            raise SpoofguardError(f"{data} has no samples in the {split!r} split.")
        what = f"the {split} split ({len(manifest)} samples)" + (f" of protocol {protocol}" if protocol else "")
    else:
        what = f"all {len(manifest)} samples"
    if bundle_path:
        # dev rows are fair game only when asked for by name: they are what a threshold is tuned on
        used = _training_paths(Path(bundle_path), ("train",) if split == "dev" else ("train", "dev"))
        overlap = [s.path for s in manifest if os.path.realpath(s.path) in used]
        if overlap:
            raise SpoofguardError(
                f"{len(overlap)} of the samples to judge were used to train or tune this model (train/dev of its "
                f"split.csv), e.g. {overlap[0]}. Judge it on held-out data, e.g. --data {Path(bundle_path).parent / 'split.csv'} --split test."
            )
    return manifest, what


def _training_paths(bundle_path: Path, splits: tuple[str, ...]) -> set[str]:
    split_csv = (bundle_path if bundle_path.is_dir() else bundle_path.parent) / "split.csv"
    if not split_csv.is_file():
        return set()
    try:
        return {os.path.realpath(s.path) for s in read_manifest(split_csv) if s.split in splits}
    except SpoofguardError:
        return set()


# -- metrics -----------------------------------------------------------------------------------


def per_video(table: ScoreTable, how: str) -> ScoreTable:
    """One row per video_id (rows without one stay single), score combined by ``how``."""
    if how not in AGGREGATIONS:
        raise SpoofguardError(f"--per-video must be one of {', '.join(AGGREGATIONS)}.")
    agg, first = aggregate_by_video(table.score, table.video_id, how)
    cols = {c: getattr(table, c)[first] for c in COLUMNS if c != "score"}
    cols["sample_id"] = np.array([v or s for v, s in zip(cols["video_id"], cols["sample_id"])], dtype=object)
    return ScoreTable(**cols, score=np.asarray(agg, dtype=float), meta=table.meta)


def resolve_threshold(table: ScoreTable, rule: str | None = None, dev: ScoreTable | None = None) -> Threshold:
    """Pick the threshold and say where it came from (see the module docstring for the order)."""
    parsed = parse_threshold_rule(rule if rule is not None else "eer")
    if parsed.kind == "fixed":
        return Threshold(float(parsed.value), f"given value ({parsed.value:g})")
    name = str(parsed)
    if dev is not None:
        value = choose_threshold(parsed, dev.score, dev.label, dev.species)
        return Threshold(float(value), f"dev scores ({name}, {len(dev)} samples)")
    meta = table.meta or {}
    if "threshold" in meta and (rule is None or str(parse_threshold_rule(meta.get("threshold_rule", "eer"))) == name):
        return Threshold(float(meta["threshold"]), f"bundle, {meta.get('threshold_source', 'dev split')}")
    value = choose_threshold(parsed, table.score, table.label, table.species)
    return Threshold(float(value), f"the judged scores themselves ({name}) - optimistic", optimistic=True)


def metrics_for(table: ScoreTable, threshold: Threshold, bootstrap: int = 1000, seed: int = 0) -> dict:
    subjects = table.subject if table.has_subjects else None
    m = compute_metrics(table.score, table.label, table.species, threshold=threshold.value, subjects=subjects,
                        bootstrap=bootstrap, seed=seed)
    m["threshold_source"] = threshold.source
    m["threshold_optimistic"] = threshold.optimistic
    return m


def write_metrics_json(metrics: dict, path: str | Path) -> Path:
    """Write ``metrics`` as valid JSON: a figure that could not be computed (NaN, infinite) is ``null``."""
    path = Path(path)
    path.write_text(json.dumps(finite_json(metrics), indent=2, sort_keys=False, allow_nan=False))
    return path


def finite_json(v):
    """``v`` with numpy values as Python ones and every non-finite float as None: what ``json.dumps(...,
    allow_nan=False)`` accepts (``NaN`` is not JSON)."""
    if isinstance(v, dict):
        return {str(k): finite_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite_json(x) for x in v]
    if isinstance(v, np.ndarray):
        return finite_json(v.tolist())
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def report_files(out: str | Path) -> list[Path]:
    """Every file :func:`evaluate` writes into the report folder ``out`` (for the overwrite check)."""
    from spoofguard.evaluation.report import PLOTS
    from spoofguard.evaluation.scorefile import sidecar

    out = Path(out)
    return [out / "scores.csv", sidecar(out / "scores.csv"), out / "metrics.json", out / "report.md", out / "report.html"] + \
        [out / name for _, name, _, _ in PLOTS]


# -- evaluate ----------------------------------------------------------------------------------


@dataclass
class EvaluationResult:
    metrics: dict
    paths: dict
    failed: list
    what: str


def evaluate(bundle: str | Path, data: str | Path, out: str | Path, split: str | None = None, per_video_how: str | None = None,
             bootstrap: int = 1000, seed: int = 0, protocol: str | None = None) -> EvaluationResult:
    """Score ``data`` with ``bundle``, judge it at the bundle's dev threshold, write the report to ``out``.
    ``protocol``: judge the test split of that protocol (made with the bundle's training seed)."""
    from spoofguard.evaluation.report import write_report
    from spoofguard.evaluation.scorefile import write_scores
    from spoofguard.inference.detector import Detector

    detector = Detector.from_file(bundle)
    train_seed = int(detector.metadata.get("training", {}).get("seed", 0))
    manifest, what = select_samples(data, split, str(bundle), protocol=protocol, seed=train_seed)
    table, failed = score_samples(detector, manifest)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_scores(table, out / "scores.csv")
    judged = per_video(table, per_video_how) if per_video_how else table
    threshold = resolve_threshold(judged)
    metrics = metrics_for(judged, threshold, bootstrap=bootstrap, seed=seed)
    metrics.update(non_response_rates(manifest, failed))
    metrics["data_sha256"] = manifest.fingerprint()  # what was judged, for the report's provenance
    write_metrics_json(metrics, out / "metrics.json")
    title = f"{detector.architecture} on {what}" + (f", per video ({per_video_how})" if per_video_how else "")
    paths = write_report(out, metrics, judged, title=title, threshold_source=threshold.source)
    paths.update(scores=out / "scores.csv", metrics=out / "metrics.json")
    return EvaluationResult(metrics, paths, failed, what)
