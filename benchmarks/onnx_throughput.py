"""onnxruntime throughput of an exported (untrained) padnet at batch 32, through spoofguard's own session.

    python benchmarks/onnx_throughput.py [--size 128] [--channels 3] [--batch 32] [--runs 3]

Builds padnet, saves a bundle, exports it with ``spoofguard.inference.onnx_model.export_onnx`` (the CDC
term folded), opens it with ``load_onnx`` (the session the onnx backend uses) and times batches of
random normalised input. Target on the 2-core reference CPU: >= 2000 images/s at 128x128.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    from spoofguard.inference.bundle import save_bundle
    from spoofguard.inference.onnx_model import export_onnx, load_onnx
    from spoofguard.modalities import Preprocessing
    from spoofguard.models import create_model

    work = Path(tempfile.mkdtemp(prefix="onnx-bench-"))
    model = create_model("padnet", classes=["bona_fide", "attack"], in_chans=args.channels)
    modality = "face" if args.channels == 3 else "fingerprint"
    save_bundle(work / "m.safetensors", model, {"classes": ["bona_fide", "attack"], "threshold": 0.5,
                                                "preprocessing": Preprocessing(modality, args.size, channels=args.channels).to_dict()})
    session, _ = load_onnx(export_onnx(work / "m.safetensors", work / "m.onnx"))
    x = np.random.default_rng(0).standard_normal((args.batch, args.channels, args.size, args.size)).astype(np.float32)
    for _ in range(3):
        session.run(None, {"input": x})
    for _ in range(args.runs):
        n, t = 20, time.perf_counter()
        for _ in range(n):
            session.run(None, {"input": x})
        print(f"padnet {args.size}x{args.size}x{args.channels}, batch {args.batch}: {args.batch * n / (time.perf_counter() - t):.0f} img/s (onnxruntime)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
