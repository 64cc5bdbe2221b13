"""The one-command demo: synthetic data -> training -> ISO report -> predictions, offline.

    spoofguard demo [--out demo-run]

1. generate a synthetic fingerprint dataset (bona fide prints and five attack species),
2. train padnet on a subject-disjoint split (threshold at the dev EER),
3. evaluate on the held-out test split: report.html / report.md / metrics.json,
4. predict on a few held-out test prints: a table, and a heatmap picture per print (predictions/).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from spoofguard.errors import SpoofguardError
from spoofguard.progress import progress_bar


@dataclass
class DemoResult:
    out: Path
    data: Path
    run: Path
    bundle: Path
    report: Path
    metrics: dict
    predictions: list[dict] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def run_demo(out: str | Path = "demo-run", n: int = 600, size: int = 256, epochs: int = 30, seed: int = 0,
             overwrite: bool = False, progress: bool = True, say=print) -> DemoResult:
    from spoofguard.data.manifest import read_manifest
    from spoofguard.data.synth.fingerprint import SPECIES, generate_fingerprints
    from spoofguard.evaluation.evaluate import evaluate
    from spoofguard.inference.detector import Detector
    from spoofguard.training import run_folder
    from spoofguard.training.train import TrainConfig, train

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SpoofguardError(f"{out} already holds files; choose another --out, or pass --overwrite (the old folder is moved aside).")
        run_folder.prepare(out, overwrite=True, resume=False)
    data, run, report = out / "data", out / "run", out / "report"
    seconds = {}

    t = time.time()
    say(f"[1/4] generating {n} synthetic fingerprints ({', '.join(SPECIES)} attacks) in {data}")
    with progress_bar("prints", progress) as update:
        generate_fingerprints(data, n=n, species=SPECIES, seed=seed, size=size, progress=update)
    seconds["generate"] = time.time() - t

    t = time.time()
    say(f"[2/4] training padnet for {epochs} epochs in {run}")
    result = train(TrainConfig(data=str(data / "manifest.csv"), out=str(run), modality="fingerprint", model="padnet",
                               epochs=epochs, seed=seed, progress=progress))
    seconds["train"] = time.time() - t

    t = time.time()
    say(f"[3/4] evaluating on the held-out test split -> {report}")
    ev = evaluate(result.bundle, run / "split.csv", report, split="test", bootstrap=500, seed=seed)
    seconds["evaluate"] = time.time() - t

    t = time.time()
    test = read_manifest(run / "split.csv").split("test")
    picks = _one_per_class(test)
    detector = Detector(result.bundle)
    predictions = []
    from spoofguard.inference.explain import save_overlay

    for s, p in zip(picks, detector.predict_batch([s.path for s in picks])):
        rel = Path(s.path).relative_to(data.resolve())
        picture = save_overlay(s.path, p, out / "predictions" / f"{'-'.join(rel.with_suffix('').parts)}.png")
        predictions.append({"file": str(rel), "truth": s.class_name, "score": p.score, "verdict": p.verdict,
                            "patches": p.views, "heatmap": str(picture)})
    seconds["predict"] = time.time() - t
    say("[4/4] predictions on held-out test prints")
    return DemoResult(out, data, run, result.bundle, ev.paths["html"], ev.metrics, predictions, seconds)


def _one_per_class(manifest, per_class: int = 2):
    seen: dict[str, int] = {}
    picks = []
    for s in manifest:
        if seen.get(s.class_name, 0) < per_class:
            seen[s.class_name] = seen.get(s.class_name, 0) + 1
            picks.append(s)
    return picks
