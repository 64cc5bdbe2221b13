"""Face PAD on real captures: padnet trained on face crops vs third-party ONNX models, same test split.

    python benchmarks/face_models.py ../shared/data/face/nuaa-subjects-0001-0009 --out bench-face \
        [--epochs 15] [--scales 2.7] [--peers ../shared/peers] [--samples ../shared/data/face/samples]

1. trains padnet on face crops (subject-disjoint split, subjects from ``ID_...`` file names), the
   face detector running once per image (cached);
2. scores the test split with the trained bundle (its dev-EER threshold) and with each peer model
   imported through ``spoofguard import-onnx`` with the specs in ``examples/`` (their own thresholds,
   and a threshold chosen on the same dev split, so the comparison is fair to them);
3. with ``--samples``: the peer check on the three sample frames (T1 bona fide, F1/F2 attacks).

Printed: APCER, BPCER, EER and AUC on the test split, with the threshold's origin, and how many
test captures had no face. Never run two benchmarks side by side on a small CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = {  # name -> (spec, model files relative to the peers folder)
    "silent-face": ("examples/silent-face.yaml", ["silent-face-minifasnet/MiniFASNetV2.onnx", "silent-face-minifasnet/MiniFASNetV1SE.onnx"]),
    "celebaspoof-minifasnet": ("examples/celebaspoof-minifasnet.yaml", ["celebaspoof-minifasnet-se/model.onnx"]),
}


def nuaa_manifest(root: Path, path: Path) -> Path:
    """NUAA's ClientRaw (bona fide) / ImposterRaw (printed photos), subject = first field of the name.
    (The dataset-layout importers are their own piece of work; this is just enough to benchmark.)"""
    from spoofguard.data.manifest import Manifest, Sample, write_manifest

    samples = [Sample(str(p.resolve()), "bona_fide" if kind == "ClientRaw" else "attack", "" if kind == "ClientRaw" else "print", p.name.split("_")[0])
               for kind in ("ClientRaw", "ImposterRaw") for p in sorted((root / kind).rglob("*.jpg"))]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(Manifest(samples), path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--out", default="bench-face")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--scales", default="2.7")
    ap.add_argument("--peers", default=None)
    ap.add_argument("--samples", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from spoofguard.data.manifest import read_manifest
    from spoofguard.evaluation import evaluate as ev
    from spoofguard.inference.detector import Detector
    from spoofguard.inference.import_onnx import import_onnx
    from spoofguard.training.train import train

    out = Path(args.out)
    data = nuaa_manifest(Path(args.data), out / "nuaa.csv")
    t = time.time()
    r = train(data=str(data), out=str(out / "padnet"), modality="face", model="padnet", epochs=args.epochs,
              face_scales=[float(v) for v in args.scales.split(",")], seed=args.seed, overwrite=True)
    print(f"padnet trained in {time.time() - t:.0f} s: dev accuracy {r.dev_metrics['accuracy']:.4f}, dev EER {r.dev_metrics['eer']:.4f}")
    split = read_manifest(out / "padnet" / "split.csv")
    dev, test = split.split("dev"), split.split("test")

    models = {"padnet (ours)": str(r.bundle)}
    if args.peers:
        for name, (spec, files) in PEERS.items():
            paths = [Path(args.peers) / f for f in files]
            if all(p.is_file() for p in paths):
                models[name] = str(import_onnx(paths, ROOT / spec, out / f"{name}.onnx"))
    rows = []
    for name, path in models.items():
        det = Detector.from_file(path)
        t = time.time()
        dev_table, _ = ev.score_samples(det, dev)
        test_table, failed = ev.score_samples(det, test)
        seconds = time.time() - t
        for label, thr in (("own", ev.resolve_threshold(test_table)), ("dev EER", ev.resolve_threshold(test_table, "eer", dev_table))):
            if name == "padnet (ours)" and label == "dev EER":
                continue  # the bundle's own threshold is already the dev EER one
            m = ev.metrics_for(test_table, thr, bootstrap=0)
            rows.append((name, label, m, len(failed), len(test_table), seconds))
    print(f"\ntest split: {len(test)} captures, subjects {sorted({s.subject for s in test})}")
    print(f"{'model':24s} {'threshold':10s} {'APCER':>7s} {'BPCER':>7s} {'EER':>7s} {'AUC':>7s} {'no face':>8s} {'s':>5s}")
    for name, label, m, nf, n, s in rows:
        print(f"{name:24s} {label:10s} {100 * m['apcer']:6.2f}% {100 * m['bpcer']:6.2f}% {100 * m['eer']:6.2f}% {m['auc']:7.4f} "
              f"{nf:4d}/{n + nf:<4d} {s:5.0f}")
    if args.samples:
        print("\npeer check on the sample frames:")
        for name, path in models.items():
            det = Detector.from_file(path)
            for f in sorted(Path(args.samples).glob("*.jpg")):
                p = det.predict(str(f))
                print(f"  {name:24s} {f.name:14s} score {p.score if p.score is None else round(p.score, 4)!s:8s} {p.verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
