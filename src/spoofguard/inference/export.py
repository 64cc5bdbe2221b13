"""Export with its checks: a bundle becomes an ONNX model only when the two score alike.

    result = export(bundle, "model.onnx", images=["caps/a.png", ...], int8=True)
    # -> model.onnx (float), model.int8.onnx; result.parity, result.agreement

1. :func:`~spoofguard.inference.onnx_model.export_onnx` writes the self-contained ``.onnx``.
2. :func:`parity`: the largest ``|score torch - score onnx|`` on random views and on the real images
   given (their views, cut, scored and fused as the Detector does).
3. :func:`accept_parity`, the acceptance rule: more than :data:`PARITY_TOLERANCE` apart and the
   export is refused (the file is named in the message: do not use it).
4. With ``int8``: static quantisation calibrated on the real images
   (:mod:`spoofguard.inference.quantize`), then the int8 model's agreement with the float one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spoofguard.errors import SpoofguardError
from spoofguard.inference.detector import Detector
from spoofguard.inference.onnx_model import export_onnx

PARITY_TOLERANCE = 1e-4  # the most an exported model's score may differ from its bundle's
PARITY_IMAGES = 32  # real images the parity check scores (all of them calibrate an int8 model)


@dataclass
class Parity:
    random_max_abs_diff: float
    real_max_abs_diff: float | None
    n_random: int
    n_real: int

    @property
    def max_abs_diff(self) -> float:
        return max(self.random_max_abs_diff, self.real_max_abs_diff or 0.0)


def parity(bundle_path: str | os.PathLike, onnx_path: str | os.PathLike, images: list | None = None,
           n_random: int = 16, seed: int = 0) -> Parity:
    """Max |score_torch - score_onnx| on random inputs and on real images (their views)."""
    torch_det = Detector.from_file(bundle_path, backend="torch")
    onnx_det = Detector.from_file(onnx_path)
    pre = torch_det.preprocessing
    rng = np.random.default_rng(seed)
    arrays = rng.integers(0, 256, (n_random, pre.input_size, pre.input_size, pre.channels), dtype=np.uint8)
    d_random = float(np.abs(torch_det.runner(arrays)[:, 0] - onnx_det.runner(arrays)[:, 0]).max())
    d_real, n_real = None, 0
    if images:
        both = zip(torch_det.predict_batch(images, errors="collect"), onnx_det.predict_batch(images, errors="collect"))
        pairs = [(x.score, y.score) for x, y in both  # errors and captures without a face or finger have no score
                 if not isinstance(x, SpoofguardError) and not isinstance(y, SpoofguardError) and x.score is not None and y.score is not None]
        if pairs:
            d_real = float(max(abs(x - y) for x, y in pairs))
            n_real = len(pairs)
    return Parity(d_random, d_real, n_random, n_real)


def accept_parity(result: Parity, onnx: str | os.PathLike) -> None:
    """Refuse an export whose scores differ from its bundle's by more than :data:`PARITY_TOLERANCE`."""
    if result.max_abs_diff > PARITY_TOLERANCE:
        raise SpoofguardError(f"the exported model disagrees with the bundle (max |delta score| {result.max_abs_diff:.2e} > "
                              f"{PARITY_TOLERANCE:g}); do not use {onnx}.")


def int8_path_for(onnx: str | os.PathLike) -> Path:
    """Where the int8 model of ``NAME.onnx`` goes: ``NAME.int8.onnx`` beside it."""
    onnx = Path(onnx)
    return onnx.with_name(onnx.stem + ".int8.onnx")


@dataclass
class Exported:
    onnx: Path
    parity: Parity
    int8: Path | None = None
    agreement: object = None  # quantize.Agreement of the int8 model with the float one


def export(bundle, onnx: str | os.PathLike, images: list[str] | None = None, int8: bool = False) -> Exported:
    """Export ``bundle`` to ``onnx``, check it (see the module docstring) and, with ``int8``, write
    and check the int8 model too. ``images``: real captures for the checks (and the int8 calibration)."""
    images = [str(p) for p in images or []]
    if int8 and not images:
        raise SpoofguardError("--int8 calibrates the int8 model on real inputs: give some with --check IMAGES (a folder of typical captures).")
    onnx = export_onnx(bundle, onnx)
    result = Exported(onnx, parity(bundle, onnx, images[:PARITY_IMAGES]))
    accept_parity(result.parity, onnx)
    if int8:
        from spoofguard.inference.quantize import agreement, calibration_inputs, quantize_onnx

        result.int8 = quantize_onnx(onnx, int8_path_for(onnx), calibration_inputs(Detector.from_file(onnx), images))
        result.agreement = agreement(onnx, result.int8, images)
    return result
