"""Few-shot value of the siamese model: an unseen attack species before and after enrolling it.

    python benchmarks/few_shot.py --data bench-loso/data/manifest.csv --out bench-fewshot [--species latex] [--epochs 15]

Trains ``siamese`` with ``--protocol leave-one-species-out:SPECIES`` (train and dev never see the
species; the threshold comes from dev), evaluates on the test split (bona fide + the unseen species),
then enrols 5 and 20 examples of the species taken from subjects that are *not* in the test split
(``spoofguard enroll``: a new prototype, no retraining) and evaluates the same test split again at the
same threshold. The data is the synthetic fingerprint set (``spoofguard synth fingerprint -n 600``, or
the one ``benchmarks/leave_one_species_out.py`` wrote).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="bench-fewshot")
    ap.add_argument("--species", default="latex")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--shots", default="5,20")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from spoofguard.data.manifest import read_manifest
    from spoofguard.evaluation.evaluate import evaluate
    from spoofguard.inference.enroll import enroll
    from spoofguard.training.train import train

    out = Path(args.out)
    r = train(data=args.data, out=str(out / "run"), model="siamese", modality="fingerprint", epochs=args.epochs,
              protocol=f"leave-one-species-out:{args.species}", seed=args.seed, overwrite=True, progress=False)
    split = read_manifest(r.out / "split.csv")
    test_subjects = {s.subject for s in split if s.split == "test"}
    pool = sorted(s.path for s in read_manifest(args.data) if s.species == args.species and s.subject not in test_subjects)
    random.Random(args.seed).shuffle(pool)
    rows = []

    def judge(bundle, label):
        m = evaluate(bundle, r.out / "split.csv", out / f"report-{label}", split="test", bootstrap=0).metrics
        rows.append((label, m["apcer_per_species"].get(args.species), m["bpcer"], m["eer"], m["auc"]))
        print(f"{label}: APCER({args.species}) {m['apcer_per_species'].get(args.species)}, BPCER {m['bpcer']}, EER {m['eer']}", flush=True)

    judge(r.bundle, "before")
    for k in (int(v) for v in args.shots.split(",")):
        if k > len(pool):
            print(f"only {len(pool)} {args.species} examples outside the test subjects; skipping {k} shots")
            continue
        e = enroll(r.bundle, pool[:k], r.out / f"enrolled-{k}.safetensors", species=args.species)
        judge(e.bundle, f"{k} shots")
    n_test = sum(1 for s in split if s.split == "test" and s.species == args.species)
    print(f"\n{args.species} held out: {n_test} test spoofs (subjects {sorted(test_subjects)}), pool of {len(pool)} other {args.species} spoofs")
    print(f"{'':10s} {'APCER':>7s} {'BPCER':>7s} {'EER':>7s} {'AUC':>7s}")
    for label, apcer, bpcer, eer, auc in rows:
        print(f"{label:10s} {100 * apcer:6.1f}% {100 * bpcer:6.1f}% {100 * eer:6.1f}% {auc:7.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
