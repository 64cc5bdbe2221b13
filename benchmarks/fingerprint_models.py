"""Train padnet, spoofnet and seed-cnn on the same split of a fingerprint dataset; print one table.

    python benchmarks/fingerprint_models.py DATA_DIR --out bench-fingerprint \
        [--models padnet,spoofnet,seed-cnn] [--epochs padnet=40,spoofnet=15,seed-cnn=30] \
        [--input-size padnet@224=224] [--patience 100] [--subject-pattern '^(\\d+)_'] [--seed 0]

A model may be listed twice with another input size as ``name@size`` (e.g. ``padnet@224``) and with
another view as ``name:crop`` (``padnet:whole@128``: the whole print resized; padnet's default is
96 px native-resolution patches of the finger).

The split is the subject-disjoint protocol (deterministic for a seed), so every model sees the same
train / dev samples. Reported: dev accuracy and dev EER (threshold picked on that same dev split, as
the bundle stores it: these are development figures, not test results), training images/s (training
batches only) and wall time of the whole run. Models train one after another: never run two
benchmarks side by side on a small CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from spoofguard.training.train import TrainConfig, train


def parse_epochs(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (item.split("=") for item in text.split(",") if item)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--out", default="bench-fingerprint")
    ap.add_argument("--models", default="padnet,spoofnet,seed-cnn")
    ap.add_argument("--epochs", default="padnet=40,spoofnet=15,seed-cnn=30", help="per model (or name@size)")
    ap.add_argument("--patience", type=int, default=100, help="early-stopping patience (default: never stop early)")
    ap.add_argument("--subject-pattern", default=r"^(\d+)_")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    epochs = parse_epochs(args.epochs)
    rows = []
    for entry in args.models.split(","):
        spec, _, size = entry.partition("@")
        name, _, crop = spec.partition(":")
        t0 = time.time()
        cfg = TrainConfig(data=args.data, out=str(Path(args.out) / entry.replace("@", "-").replace(":", "-")), crop=crop or None, modality="fingerprint", model=name,
                          epochs=epochs.get(entry, epochs.get(name, 20)), input_size=int(size) if size else None,
                          patience=args.patience, subject_pattern=args.subject_pattern, seed=args.seed, progress=False)
        r = train(cfg, overwrite=True)
        rows.append({
            "model": name,
            "view": crop or "default",
            "input": size or "default",
            "epochs run": f"{r.epochs_run}/{cfg.epochs}",
            "dev accuracy": r.dev_metrics["accuracy"],
            "dev EER": r.dev_metrics["eer"],
            "dev threshold": r.threshold,
            "train img/s": r.train_images_per_s,
            "wall time (s)": time.time() - t0,
        })
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{torch.get_num_threads()} torch threads, dev n = {r.dev_metrics['n']}\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) and v < 1 else f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
