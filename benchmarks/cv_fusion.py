"""Score-level fusion of cross-validated models, judged on their pooled out-of-fold scores.

    python benchmarks/cv_fusion.py cv-texture cv-padnet [--weights 1,1]

Each argument is a `spoofguard cv --out` folder made on the same data with the same --seed and
--folds (so every sample sat in the same fold for every model: checked). The fused score of a sample
is the weighted mean of the models' logits, logit(p) = log(p / (1 - p)), mapped back to [0, 1].
Prints the threshold-free pooled figures (EER, BPCER20, AUC) of each model and of the fusion; a
fused threshold would need fused scores on each fold's training part, which the cv folders do not
hold, so APCER / BPCER / ACER are not claimed for the fusion here.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from spoofguard.evaluation import compute_metrics


def _read(folder: Path) -> dict[str, tuple[str, str, float, str]]:
    """path -> (label, species, score, fold); the fold from the score file, else from the fold runs' test splits."""
    from spoofguard.data.manifest import read_manifest

    fold_of = {}
    for split in sorted(folder.glob("repeat-1/fold-*/run/split.csv")):
        for s in read_manifest(split).split("test"):
            fold_of[s.path] = split.parts[-3]
    with open(folder / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["path"]: (r["label"], r["species"], float(r["score"]), fold_of.get(r["path"], r.get("fold", ""))) for r in rows}


def _logit(p: float, eps: float = 1e-6) -> float:
    p = min(max(p, eps), 1 - eps)
    return math.log(p / (1 - p))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--weights", default=None, help="comma-separated, one per folder (default: equal)")
    args = ap.parse_args(argv)
    tables = [_read(f) for f in args.folders]
    weights = [float(w) for w in args.weights.split(",")] if args.weights else [1.0] * len(tables)
    paths = sorted(set.intersection(*(set(t) for t in tables)))
    if len(paths) != len(tables[0]):
        raise SystemExit(f"the folders score different samples ({len(paths)} in common of {len(tables[0])})")
    folds = [tuple(t[p][3] for t in tables) for p in paths]
    if any(len(set(f)) > 1 for f in folds):
        raise SystemExit("a sample sits in different folds in different folders: make them with the same --seed and --folds")
    labels = np.array([tables[0][p][0] for p in paths], dtype=object)
    species = np.array([tables[0][p][1] for p in paths], dtype=object)
    print(f"{len(paths)} samples, pooled out-of-fold scores\n")
    print("| model | EER | BPCER20 | AUC |\n|---|---|---|---|")
    logits = []
    for folder, t in zip(args.folders, tables):
        s = np.array([t[p][2] for p in paths])
        logits.append(np.array([_logit(v) for v in s]))
        m = compute_metrics(s, labels, species, threshold=0.5, bootstrap=0)
        print(f"| {folder.name} | {100 * m['eer']:.2f} % | {100 * m['bpcer20']:.2f} % | {m['auc']:.4f} |")
    z = sum(w * lg for w, lg in zip(weights, logits)) / sum(weights)
    fused = 1.0 / (1.0 + np.exp(-z))
    m = compute_metrics(fused, labels, species, threshold=0.5, bootstrap=0)
    name = " + ".join(f"{w:g} x {f.name}" for w, f in zip(weights, args.folders))
    print(f"| fusion ({name}) | {100 * m['eer']:.2f} % | {100 * m['bpcer20']:.2f} % | {m['auc']:.4f} |")


if __name__ == "__main__":
    main()
