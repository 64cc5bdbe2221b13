"""Is the synthetic fingerprint task learnable but not trivial? Global statistics vs padnet.

    python benchmarks/synth_separability.py [--n 600] [--size 256] [--seed 0] [--epochs 30] [--out DIR] [--lr-only]

Generates a data set with all five attack species (``spoofguard.data.synth.fingerprint``), splits it
subject-disjoint (train / dev / test, the ``subject`` protocol), then

(a) a logistic regression (standardised features) on global image statistics: mean, standard
    deviation and a 32-bin normalised histogram, trained on train + dev, scored on test;
(b) padnet (default input size 128) trained by ``spoofguard.training.train`` on the same split,
    the test split scored with ``Detector.predict_batch`` at the bundle's threshold (chosen on dev).

Targets: (a) <= 70 % test accuracy (the classes do not differ in global statistics), (b) >= 95 %
(they differ in local texture that a CNN learns). Also prints the generation time per print.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from spoofguard.media.images import load_image
from spoofguard.data.manifest import BONA_FIDE, Manifest, write_manifest
from spoofguard.data.protocols import split_manifest
from spoofguard.data.synth.fingerprint import SPECIES, generate_fingerprints


def global_stats(path: str) -> np.ndarray:
    """Mean, standard deviation and 32-bin normalised histogram of an 8-bit grey image."""
    a = load_image(path, 1)[..., 0].astype(np.float64)
    hist = np.bincount((a // 8).astype(np.int64).ravel(), minlength=32) / a.size
    return np.concatenate([[a.mean() / 255, a.std() / 255], hist])


def logistic_accuracy(train: Manifest, test: Manifest) -> float:
    x_tr = np.stack([global_stats(s.path) for s in train])
    x_te = np.stack([global_stats(s.path) for s in test])
    y_tr = np.array([s.label == BONA_FIDE for s in train])
    y_te = np.array([s.label == BONA_FIDE for s in test])
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(x_tr, y_tr)
    return float((clf.predict(x_te) == y_te).mean())


def padnet_accuracy(split: Manifest, out: Path, epochs: int, seed: int) -> tuple[float, dict]:
    from spoofguard.inference.detector import Detector
    from spoofguard.training.train import train

    csv = write_manifest(split, out / "split-input.csv")
    result = train(data=str(csv), out=str(out / "padnet"), modality="fingerprint", model="padnet",
                   epochs=epochs, seed=seed, progress=False)
    test = split.split("test")
    preds = Detector(result.bundle).predict_batch([s.path for s in test])
    right = np.array([p.verdict == s.label for p, s in zip(preds, test)])
    per_class: dict[str, list[bool]] = {}
    for ok, s in zip(right, test):
        per_class.setdefault(s.class_name, []).append(bool(ok))
    return float(right.mean()), {k: float(np.mean(v)) for k, v in sorted(per_class.items())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--lr-only", action="store_true", help="skip padnet (quick check of the global statistics)")
    args = ap.parse_args(argv)
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="synth-sep-"))

    t0 = time.perf_counter()
    manifest = generate_fingerprints(work / "data", n=args.n, species=SPECIES, seed=args.seed, size=args.size)
    per_print = (time.perf_counter() - t0) / len(manifest) * 1000
    print(f"generated {len(manifest)} prints ({args.size}x{args.size}) in {work / 'data'}: {per_print:.1f} ms per print")

    split, _ = split_manifest(manifest, "subject", seed=args.seed)
    train_part = Manifest([s for s in split if s.split in ("train", "dev")])
    test = split.split("test")
    print(f"subject-disjoint split: {len(train_part)} train+dev / {len(test)} test samples")
    lr = logistic_accuracy(train_part, test)
    print(f"(a) logistic regression on global statistics (mean, std, 32-bin histogram): test accuracy {lr:.1%}  (target <= 70%)")
    if args.lr_only:
        return 0
    t1 = time.perf_counter()
    acc, per_class = padnet_accuracy(split, work, args.epochs, args.seed)
    print(f"(b) padnet, {args.epochs} epochs ({time.perf_counter() - t1:.0f} s): test accuracy {acc:.1%} "
          "at the bundle's threshold  (target >= 95%)")
    print("    per class: " + ", ".join(f"{k} {v:.0%}" for k, v in per_class.items()))
    print(f"summary: generation {per_print:.1f} ms/print, LR {lr:.1%}, padnet {acc:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
