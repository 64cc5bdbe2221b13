"""int8 ONNX: static quantisation of an exported model, and how far it moves the scores.

``quantize_onnx(float_onnx, out, calibration)`` turns a model written by ``export_onnx`` into an
int8 one with onnxruntime's *static* quantisation: its pre-processing (shape inference, batch norms
folded) first, then QDQ format, int8 weights per output channel, uint8 activations whose ranges are
measured (min/max) on ``calibration``, the model's own normalised inputs. (``quantize_dynamic`` made
conv nets several times slower here; int8 activations instead of uint8 halved padnet's int8 speed on
an AVX-512 VNNI CPU, as onnxruntime then leaves many convs unfused.) The spoofguard metadata travels
into the int8 file, marked ``meta["exported"]["int8"]``, so ``Detector.from_file("model.int8.onnx")``
works on it like on the float model.

Calibration wants real captures: :func:`calibration_inputs` cuts them from images through the
model's own preprocessing. :func:`agreement` then says how far the int8 scores stray from the float
ones, how often the verdict at the bundle threshold changes, and the speed-up, which depends on the
network and the CPU: measure it before shipping the int8 model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spoofguard.errors import SpoofguardError
from spoofguard.inference.onnx_model import META_KEY, load_onnx
from spoofguard.verdict import accepted

CALIBRATION_BATCH = 16


@contextlib.contextmanager
def _quiet():
    """onnxruntime.quantization logs advice through the root logger and warns freely; hush both."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _check_calibration(calibration, pre, path: Path) -> np.ndarray:
    x = np.asarray(calibration)
    want = (pre.channels, pre.input_size, pre.input_size)
    if x.ndim != 4 or len(x) < 1 or x.shape[1:] != want:
        raise SpoofguardError(f"calibration inputs for {path} must be (N >= 1, {', '.join(map(str, want))}) normalised "
                              f"float32 arrays, not shape {x.shape}; make them with calibration_inputs(detector, images).")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise SpoofguardError("calibration inputs contain NaN or infinity.")
    return x


def quantize_onnx(float_onnx: str | os.PathLike, out: str | os.PathLike, calibration: np.ndarray) -> Path:
    """Write the static int8 (QDQ) version of the spoofguard ONNX model ``float_onnx`` at ``out``,
    with activation ranges calibrated on ``calibration`` (normalised float32 NCHW model inputs)."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    float_onnx, out = Path(float_onnx), Path(out)
    if out.suffix.lower() != ".onnx":
        raise SpoofguardError(f"{out}: the ONNX file name must end in .onnx.")
    session, meta = load_onnx(float_onnx)  # refuses what is not a spoofguard ONNX model
    if "int8" in meta.get("exported", {}):
        raise SpoofguardError(f"{float_onnx} is already int8; quantise the float model that export wrote.")
    from spoofguard.modalities import Preprocessing

    x = _check_calibration(calibration, Preprocessing.from_dict(meta["preprocessing"]), float_onnx)
    if len(session.get_inputs()) != 1:
        raise SpoofguardError(f"{float_onnx} has {len(session.get_inputs())} inputs (an imported ensemble); int8 quantisation "
                              "takes a model with one input: quantise each member before importing them.")
    input_name = session.get_inputs()[0].name
    del session

    class Reader:  # onnxruntime's CalibrationDataReader protocol: dicts of input batches, then None
        def __init__(self):
            self.batches = iter(range(0, len(x), CALIBRATION_BATCH))

        def get_next(self):
            start = next(self.batches, None)
            return None if start is None else {input_name: x[start : start + CALIBRATION_BATCH]}

    tmp_out = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="spoofguard-int8-") as work, _quiet():
        prepared = Path(work) / "prepared.onnx"
        try:  # shape inference + graph optimisation, as onnxruntime advises before quantising
            quant_pre_process(str(float_onnx), str(prepared))
        except Exception:
            prepared = float_onnx  # an optional step: quantisation works without it
        try:
            quantize_static(str(prepared), str(Path(work) / "int8.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            proto = onnx.load(str(Path(work) / "int8.onnx"))
        except Exception as e:
            raise SpoofguardError(f"onnxruntime could not quantise {float_onnx} ({str(e).splitlines()[0][:200]}).") from None
    meta = dict(meta, exported=dict(meta.get("exported", {})))
    meta["exported"]["int8"] = {"format": "QDQ", "weights": "int8 per channel", "activations": "uint8",
                                "calibration": "minmax", "calibration_inputs": len(x),
                                "onnxruntime": onnxruntime.__version__}
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    proto.producer_name = "spoofguard"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp_out.write_bytes(proto.SerializeToString())
        tmp_out.replace(out)  # never leave a half-written model under the real name
    finally:
        tmp_out.unlink(missing_ok=True)
    return out


def calibration_inputs(detector, images: list, max_inputs: int = 256, seed: int = 0) -> np.ndarray:
    """Up to ``max_inputs`` normalised float32 model inputs cut from real ``images`` through the
    detector's preprocessing (every view of an image; unreadable images are skipped), spread over
    the images: at most ``ceil(max_inputs / len(images))`` views of one image."""
    if not images:
        raise SpoofguardError("int8 quantisation needs real calibration images (--check IMAGES): the activation ranges "
                              "are measured on them, and random noise would set them wrong.")
    pre = detector.preprocessing
    rng = np.random.default_rng(seed)
    per_image = max(1, math.ceil(max_inputs / len(images)))
    picked, count = [], 0
    for i in rng.permutation(len(images)):
        try:
            arrays = pre.views(images[i]).arrays
        except SpoofguardError:
            continue
        if len(arrays) > per_image:
            arrays = arrays[np.sort(rng.choice(len(arrays), per_image, replace=False))]
        picked.append(arrays)
        count += len(arrays)
        if count >= max_inputs:
            break
    if not count:
        raise SpoofguardError(f"none of the {len(images)} calibration images could be read (or, for a face model, had a face).")
    return pre.to_input(np.concatenate(picked)[:max_inputs])


@dataclass
class Agreement:
    n: int  # inputs (captures) compared
    max_abs_diff: float  # max |score_float - score_int8|
    mean_abs_diff: float
    verdict_agreement: float  # fraction of inputs whose verdict (bona fide or attack at the float model's threshold) is the same
    speedup: float | None  # float latency / int8 latency at batch 32, None if not measured


def _latency(path, x: np.ndarray, runs: int = 5) -> float:
    """Best of ``runs`` timed runs of the model's onnxruntime session on ``x``, after one warm-up."""
    session, _ = load_onnx(path)
    feed = {session.get_inputs()[0].name: x}
    session.run(None, feed)
    best = math.inf
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - t)
    return best


def agreement(float_onnx, int8_onnx, images: list | None = None, n_random: int = 16, seed: int = 0,
              measure_speed: bool = True) -> Agreement:
    """Compare the float and the int8 model on the captures in ``images`` (scored by ``Detector``;
    unreadable ones and faceless ones are left out), or on ``n_random`` random uint8 views when no
    images are given; verdicts at the threshold stored in the float model."""
    from spoofguard.inference.detector import Detector

    f, q = Detector.from_file(float_onnx, backend="onnx"), Detector.from_file(int8_onnx, backend="onnx")
    pre, rng = f.preprocessing, np.random.default_rng(seed)
    shape = (pre.input_size, pre.input_size, pre.channels)
    if images:  # whole captures, as a user sees them: views cut, scored and fused by the Detector
        scored = [[getattr(p, "score", None) for p in d.predict_batch(images, errors="collect")] for d in (f, q)]
        pairs = [(x, y) for x, y in zip(*scored) if x is not None and y is not None]  # errors and "no face" have no score
        if not pairs:
            raise SpoofguardError(f"none of the {len(images)} images could be scored (unreadable, or no face found).")
        a, b = np.array(pairs).T
    else:
        arrays = rng.integers(0, 256, (n_random,) + shape, dtype=np.uint8)
        a, b = f.runner(arrays)[:, 0], q.runner(arrays)[:, 0]
    diff = np.abs(a.astype(np.float64) - b)
    speedup = None
    if measure_speed:
        x = pre.to_input(rng.integers(0, 256, (32,) + shape, dtype=np.uint8))
        speedup = _latency(float_onnx, x) / _latency(int8_onnx, x)
    return Agreement(n=len(a), max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                     verdict_agreement=float(np.mean(accepted(a, f.threshold) == accepted(b, f.threshold))), speedup=speedup)
