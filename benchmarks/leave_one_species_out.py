"""The unseen-attack question on synthetic fingerprints: train without one species, test on it.

    python benchmarks/leave_one_species_out.py --out bench-loso [--n 600] [--epochs 15] [--seed 0]

Generates the synthetic fingerprint set (``spoofguard synth fingerprint``: bona fide prints and
gelatine, latex, wood-glue, silicone and Play-Doh spoofs), then for every species trains padnet
with ``--protocol leave-one-species-out:SPECIES`` (subject-disjoint; train and dev never see the
species; the threshold comes from dev) and evaluates on the test split, which holds only bona fide
prints and the unseen species. Also one run with every species seen, for reference.

Printed per held-out species: APCER on it (the unseen attack), BPCER, EER and AUC on the test split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench-loso")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from spoofguard.data.synth.fingerprint import SPECIES, generate_fingerprints
    from spoofguard.evaluation.evaluate import evaluate
    from spoofguard.training.train import train

    out = Path(args.out)
    data = out / "data"
    if not (data / "manifest.csv").is_file():
        generate_fingerprints(data, n=args.n, seed=args.seed)
    rows = []
    for species in [None, *SPECIES]:
        name = species or "all-seen"
        protocol = f"leave-one-species-out:{species}" if species else "subject"
        t = time.time()
        r = train(data=str(data / "manifest.csv"), out=str(out / name), modality="fingerprint", model="padnet", epochs=args.epochs,
                  protocol=protocol, seed=args.seed, overwrite=True, progress=False)
        ev = evaluate(r.bundle, r.out / "split.csv", out / name / "report", split="test", bootstrap=0)
        m = ev.metrics
        unseen = m["apcer_per_species"].get(species) if species else m["apcer"]
        rows.append((name, unseen, m["bpcer"], m["eer"], m["auc"], m["n_attack"] if "n_attack" in m else None, time.time() - t))
        print(f"{name}: APCER {unseen}, BPCER {m['bpcer']}, EER {m['eer']}, AUC {m['auc']}", flush=True)
    print(f"\n{'held out':12s} {'APCER(unseen)':>14s} {'BPCER':>7s} {'EER':>7s} {'AUC':>7s} {'s':>5s}")
    for name, apcer, bpcer, eer, auc, _, s in rows:
        print(f"{name:12s} {100 * apcer:13.1f}% {100 * bpcer:6.1f}% {100 * eer:6.1f}% {auc:7.4f} {s:5.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
