"""Parity of our MiniFASNet with the published Silent-Face-Anti-Spoofing models.

Loads the published PyTorch weights (``silent-face-pytorch/*.pth``) through
``spoofguard.models.published.load_minifasnet`` (weights_only, strict) and compares the logits with
the published ONNX exports of the same weights (``silent-face-minifasnet/*.onnx``) on onnxruntime, on
random BGR 0..255 inputs of shape 1x3x80x80 (the ONNX files have a fixed batch of 1). Also compares the
fused score of the pair (softmax averaged over the two models, bona fide = class 1).

    python benchmarks/minifasnet_parity.py [PEERS_DIR] [--n 32] [--seed 0]

PEERS_DIR defaults to ../shared/peers. Prints one row per model and exits 1 when a max |logit
difference| reaches 1e-4.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from spoofguard.models.published import UPSTREAM_BONA_FIDE_INDEX, load_minifasnet

PAIRS = [  # (our name, published .pth, published .onnx)
    ("minifasnet-v2", "silent-face-pytorch/2.7_80x80_MiniFASNetV2.pth", "silent-face-minifasnet/MiniFASNetV2.onnx"),
    ("minifasnet-v1se", "silent-face-pytorch/4_0_0_80x80_MiniFASNetV1SE.pth", "silent-face-minifasnet/MiniFASNetV1SE.onnx"),
]
TOLERANCE = 1e-4


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peers", nargs="?", default="../shared/peers", help="folder holding the reference models")
    parser.add_argument("--n", type=int, default=32, help="number of random 1x3x80x80 inputs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import onnxruntime as ort

    torch.set_num_threads(1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    peers = Path(args.peers)
    rng = np.random.default_rng(args.seed)
    inputs = [rng.integers(0, 256, size=(1, 3, 80, 80)).astype(np.float32) for _ in range(args.n)]  # BGR, raw 0..255

    print(f"{'model':<16} {'inputs':>6} {'max |logit diff|':>17} {'max |softmax diff|':>19} {'max |logit|':>12}")
    probs = {}
    worst = 0.0
    for name, pth, onnx_file in PAIRS:
        model = load_minifasnet(name, peers / pth)
        session = ort.InferenceSession(str(peers / onnx_file), options, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        ours, theirs = [], []
        with torch.no_grad():
            for x in inputs:
                ours.append(model(torch.from_numpy(x)).numpy())
                theirs.append(session.run(None, {input_name: x})[0])
        ours, theirs = np.concatenate(ours), np.concatenate(theirs)
        diff = float(np.abs(ours - theirs).max())
        prob_diff = float(np.abs(softmax(ours) - softmax(theirs)).max())
        probs[name] = (softmax(ours), softmax(theirs))
        worst = max(worst, diff)
        print(f"{name:<16} {len(inputs):>6} {diff:>17.3e} {prob_diff:>19.3e} {float(np.abs(theirs).max()):>12.3f}")

    (a_ours, a_theirs), (b_ours, b_theirs) = probs.values()
    fused_ours = (a_ours + b_ours)[:, UPSTREAM_BONA_FIDE_INDEX] / 2
    fused_theirs = (a_theirs + b_theirs)[:, UPSTREAM_BONA_FIDE_INDEX] / 2
    print(f"fused bona fide probability (mean of the two softmaxes, class 1): max |diff| "
          f"{float(np.abs(fused_ours - fused_theirs).max()):.3e}")
    print("PASS" if worst < TOLERANCE else "FAIL", f"(tolerance {TOLERANCE:g} on logits)")
    return 0 if worst < TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
