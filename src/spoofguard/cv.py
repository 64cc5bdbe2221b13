"""Subject-disjoint k-fold cross-validation: model selection that does not hang on one small dev split.

    result = cross_validate(data="prints/", out="cv", folds=5, repeats=1, model="texture",
                            subject_pattern=r"^(\\d+)_")
    # -> cv/cv.json, cv/cv.md, cv/scores.csv (pooled out-of-fold scores), cv/repeat-1/fold-k/ (runs)

How, top to bottom:

1. **Folds.** Every sample gets a fold by scikit-learn's ``StratifiedGroupKFold`` (seeded; ``seed + r``
   for repeat r): groups are subjects (fingers, people) where known, else the file's sha256, so a
   subject and byte-identical copies never straddle folds; strata are bona fide and each attack
   species. Too few subjects for the folds asked is refused before anything trains.
2. **One training per fold**, with the same options: fold k is that fold's ``test`` part and the rest
   its ``train`` part; ``train`` (protocol ``manifest``) carves the inner ``dev`` part from the training
   subjects and picks the threshold there (for ``texture``: on out-of-fold training scores plus dev),
   never on fold k.
3. **Judged on fold k** at the fold's own threshold (the bundle's), by the project's ISO/IEC 30107-3
   code: APCER per species and max, BPCER, ACER, EER, BPCER20, AUC.
4. **Summary.** Mean ± sd over folds (and repeats), and the **pooled out-of-fold** figures: every sample
   scored once by the model that did not see it; the error rates from each sample's decision at its own
   fold's threshold, EER / BPCER20 / AUC from the pooled scores. ``scores.csv`` holds those pooled
   scores (first repeat; ``scores-repeat-R.csv`` the others) with a sidecar giving the median fold
   threshold, so ``spoofguard metrics scores.csv`` judges them like any score file.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from spoofguard.errors import SpoofguardError

METRICS = ("apcer", "bpcer", "acer", "eer", "bpcer20", "auc")
NOT_TRAIN_OPTIONS = ("data", "out", "protocol", "seed", "progress")


@dataclass
class FoldResult:
    repeat: int
    fold: int
    train_n: int
    test_n: int
    threshold: float
    metrics: dict  # METRICS + apcer_per_species
    train_seconds: float
    run: str


@dataclass
class CVResult:
    folds: list[FoldResult]
    pooled: list[dict]  # one per repeat: pooled out-of-fold metrics
    summary: dict  # metric -> {"mean", "sd"} over folds; "pooled_" + metric -> mean/sd over repeats
    paths: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)


def assign_folds(manifest, folds: int, seed: int, hashes: dict[str, str] | None = None) -> list[int]:
    """Fold index of every sample (see the module docstring)."""
    from sklearn.model_selection import StratifiedGroupKFold

    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise SpoofguardError(f"--folds must be a whole number >= 2 (got {folds!r}).")
    samples = list(manifest)
    groups = [s.subject or f"sha256:{(hashes or {}).get(s.path, s.path)}" for s in samples]
    strata = [s.class_name for s in samples]
    for cls in sorted(set(strata)):
        n = len({g for g, c in zip(groups, strata) if c == cls})
        if n < folds:
            what = "subjects" if any(s.subject for s in samples) else "distinct files (no subjects known: pass --subject-pattern)"
            raise SpoofguardError(f"{cls} has {n} {what}, fewer than --folds {folds}; every fold needs each class. Use fewer folds.")
    out = [0] * len(samples)
    for k, (_, test) in enumerate(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(samples)), strata, groups)):
        for i in test:
            out[i] = k
    return out


def cross_validate(data: str | Path, out: str | Path, folds: int = 5, repeats: int = 1, seed: int = 0, *, overwrite: bool = False,
                   say: Callable[[str], None] = print, **train_options) -> CVResult:
    """Cross-validate one training configuration (``train_options``: TrainConfig fields such as
    ``model``, ``modality``, ``epochs``, ``subject_pattern``, ``format``); see the module docstring."""
    from spoofguard.data.manifest import Manifest, write_manifest
    from spoofguard.data.scan import file_hashes
    from spoofguard.training import run_folder
    from spoofguard.training.config import DataSpec, TrainConfig, validate
    from spoofguard.training.stages import load_source
    from spoofguard.verdict import accepted

    clash = sorted(set(train_options) & set(NOT_TRAIN_OPTIONS))
    if clash:
        raise SpoofguardError(f"cv sets {', '.join(clash)} itself for every fold; pass them as cv's own arguments.")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise SpoofguardError(f"--repeats must be a whole number >= 1 (got {repeats!r}).")
    if not Path(data).exists():
        raise SpoofguardError(f"--data {data} does not exist; give a dataset folder or a manifest .csv.")
    out = Path(out)
    try:
        base = TrainConfig(data=str(data), out=str(out), seed=seed, progress=False, **train_options)
    except TypeError as err:
        raise SpoofguardError(f"unknown training option: {err}") from None
    validate(base)
    source = load_source(base.part(DataSpec))  # the samples as training reads them (every fold then trains through train())
    manifest = Manifest([replace(s, split="") for s in source.manifest])
    hashes = file_hashes(manifest)
    assignments = [assign_folds(manifest, folds, seed + r, hashes) for r in range(repeats)]  # refuses before anything is written
    run_folder.prepare_output(out, overwrite=overwrite)
    context = {"data": str(Path(data).resolve()), "folds": folds, "repeats": repeats, "seed": seed, "samples": len(manifest),
               "subjects": len({s.subject for s in manifest if s.subject}),
               "options": dict(train_options), "model": base.model, "started": _now()}

    results: list[FoldResult] = []
    pooled: list[dict] = []
    paths: dict = {}
    for r, fold_of in enumerate(assignments):
        rows, decisions = [], []
        for k in range(folds):
            where = out / f"repeat-{r + 1}" / f"fold-{k + 1}"
            part = Manifest([replace(s, split="test" if f == k else "train") for s, f in zip(manifest, fold_of)])
            write_manifest(part, where / "data.csv")
            say(f"repeat {r + 1}/{repeats}, fold {k + 1}/{folds}: train {sum(f != k for f in fold_of)}, test {sum(f == k for f in fold_of)}")
            cfg = replace(base, data=str(where / "data.csv"), out=str(where / "run"), protocol="manifest", seed=seed + r)
            fold, table = _one_fold(cfg, part.split("test"), r + 1, k + 1)
            results.append(fold)
            rows += [{**row, "fold": k + 1} for row in table.rows()]
            decisions += list(accepted(table.score, fold.threshold))
            say(f"    ACER {_pct(fold.metrics['acer'])}, EER {_pct(fold.metrics['eer'])}, AUC {_num(fold.metrics['auc'])}, "
                f"threshold {fold.threshold:.3f}, {fold.train_seconds:.0f} s")
        pooled.append(_pooled(rows, decisions))
        paths[f"scores_repeat_{r + 1}"] = _write_pooled_scores(rows, out / ("scores.csv" if r == 0 else f"scores-repeat-{r + 1}.csv"),
                                                               [f.threshold for f in results if f.repeat == r + 1])
    summary = summarise(results, pooled)
    context["finished"] = _now()
    result = CVResult(results, pooled, summary, paths, context)
    result.paths.update(write_cv(result, out))
    return result


def _one_fold(cfg, test_part, repeat: int, fold: int):
    from spoofguard.evaluation import compute_metrics
    from spoofguard.evaluation.evaluate import score_samples
    from spoofguard.inference.detector import Detector
    from spoofguard.training.train import train

    t0 = time.time()
    trained = train(cfg)
    seconds = time.time() - t0
    detector = Detector.from_file(trained.bundle)
    table, failed = score_samples(detector, test_part)
    m = compute_metrics(table.score, table.label, table.species, threshold=detector.threshold, bootstrap=0)
    metrics = {k: m.get(k) for k in METRICS} | {"apcer_per_species": m.get("apcer_per_species", {}), "failed": len(failed)}
    used = ("train", "dev") if trained.fitted else ("train",)  # a feature model is fitted on train + dev
    train_n = sum(1 for s in trained_samples(trained.out) if s.split in used)
    return FoldResult(repeat, fold, train_n, len(table), detector.threshold, metrics, seconds, str(trained.out)), table


def trained_samples(run: Path):
    from spoofguard.data.manifest import read_manifest

    return read_manifest(Path(run) / "split.csv")


def _pooled(rows: list[dict], decisions: list[bool]) -> dict:
    """Pooled out-of-fold metrics: rates from each sample's own-fold decision, sweeps from the scores."""
    from spoofguard.evaluation import compute_metrics

    scores = np.array([r["score"] for r in rows], float)
    labels = np.array([r["label"] for r in rows], dtype=object)
    species = np.array([r["species"] for r in rows], dtype=object)
    sweeps = compute_metrics(scores, labels, species, threshold=0.5, bootstrap=0)
    # the decisions as 0/1 scores at threshold 0.5: the ISO rates of exactly those accept/reject decisions
    rates = compute_metrics(np.array(decisions, float), labels, species, threshold=0.5, bootstrap=0)
    return {"n": len(rows), "apcer": rates["apcer"], "apcer_per_species": rates.get("apcer_per_species", {}), "bpcer": rates["bpcer"],
            "acer": rates["acer"], "eer": sweeps["eer"], "bpcer20": sweeps["bpcer20"], "auc": sweeps["auc"]}


def summarise(folds: list[FoldResult], pooled: list[dict]) -> dict:
    out = {}
    for k in METRICS:
        out[k] = _mean_sd([f.metrics.get(k) for f in folds])
        out["pooled_" + k] = _mean_sd([p.get(k) for p in pooled])
    out["train_seconds"] = _mean_sd([f.train_seconds for f in folds])
    return out


def _mean_sd(values) -> dict:
    v = [float(x) for x in values if x is not None]
    if not v:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v)}


def _write_pooled_scores(rows: list[dict], path: Path, thresholds: list[float]) -> Path:
    from spoofguard.evaluation.scorefile import ScoreTable, write_scores

    meta = {"threshold": float(statistics.median(thresholds)), "threshold_rule": "eer",
            "threshold_source": f"cross-validation: median of the {len(thresholds)} fold thresholds (each picked on its fold's own training data); "
                                "cv.json's pooled rates use each fold's own threshold",
            "fold_thresholds": thresholds, "architecture": "cross-validation"}
    return write_scores(ScoreTable.from_rows(rows, meta), path, extra={"fold": [r["fold"] for r in rows]})


def write_cv(result: CVResult, out: Path) -> dict:
    from spoofguard.evaluation.evaluate import finite_json

    out.mkdir(parents=True, exist_ok=True)
    doc = {"context": result.context, "summary": result.summary, "pooled": result.pooled,
           "folds": [f.__dict__ for f in result.folds]}
    (out / "cv.json").write_text(json.dumps(finite_json(doc), indent=2, allow_nan=False, default=str))  # never NaN: not JSON
    (out / "cv.md").write_text(markdown(result))
    return {"json": out / "cv.json", "markdown": out / "cv.md"}


def markdown(result: CVResult) -> str:
    c, s = result.context, result.summary
    lines = [f"# Cross-validation: {c['model']}", "",
             f"Data `{c['data']}`: {c['samples']} samples, {c['subjects']} subjects; {c['folds']} subject-disjoint folds x {c['repeats']} "
             f"repeat(s), seed {c['seed']}. Options: `{json.dumps(c['options'])}`.", "",
             "| | APCER (max) | BPCER | ACER | EER | BPCER20 | AUC |", "|---|---|---|---|---|---|---|",
             "| mean ± sd over folds | " + " | ".join(_pm(s[k], k) for k in METRICS) + " |",
             "| pooled out-of-fold | " + " | ".join(_pm(s["pooled_" + k], k) for k in METRICS) + " |", "",
             f"Training time per fold: {_num(s['train_seconds']['mean'], 1)} ± {_num(s['train_seconds']['sd'], 1)} s.", "",
             "| repeat | fold | train | test | threshold | APCER | BPCER | ACER | EER | AUC | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in result.folds:
        m = f.metrics
        lines.append(f"| {f.repeat} | {f.fold} | {f.train_n} | {f.test_n} | {f.threshold:.4f} | {_pct(m['apcer'])} | {_pct(m['bpcer'])} | "
                     f"{_pct(m['acer'])} | {_pct(m['eer'])} | {_num(m['auc'])} | {f.train_seconds:.0f} |")
    lines += ["", "Pooled rates: each sample judged at its own fold's threshold; EER, BPCER20 and AUC from the pooled scores "
              "(`scores.csv`). ACER is the community convention, not an ISO/IEC 30107-3 metric.", ""]
    return "\n".join(lines)


def _pm(d: dict, key: str) -> str:
    if d["mean"] is None:
        return "n/a"
    if key == "auc":
        return f"{d['mean']:.4f} ± {d['sd']:.4f}"
    return f"{100 * d['mean']:.2f} ± {100 * d['sd']:.2f} %"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def _num(v, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
