"""Export with its checks (spoofguard.inference.export): parity with torch, the acceptance rule, int8."""

from pathlib import Path

import pytest

from spoofguard.errors import SpoofguardError
from spoofguard.inference.export import PARITY_TOLERANCE, Parity, accept_parity, export, int8_path_for, parity
from spoofguard.inference.onnx_model import export_onnx


def _images(tiny_dataset):
    return sorted(str(p) for p in Path(tiny_dataset).rglob("*.png"))[:6]


def test_export_matches_torch_on_random_and_real_inputs(trained_run, tiny_dataset, tmp_path):
    exported = export_onnx(trained_run.bundle, tmp_path / "model.onnx")
    r = parity(trained_run.bundle, exported, _images(tiny_dataset))
    assert r.n_real == 6 and r.real_max_abs_diff < 1e-5 and r.random_max_abs_diff < 1e-5


def test_an_export_that_scores_otherwise_is_refused():
    accept_parity(Parity(PARITY_TOLERANCE, None, 16, 0), "m.onnx")  # at the tolerance: accepted
    with pytest.raises(SpoofguardError, match=r"disagrees with the bundle .*do not use m.onnx"):
        accept_parity(Parity(1e-6, 2 * PARITY_TOLERANCE, 16, 3), "m.onnx")


def test_export_checks_and_int8_needs_real_images(trained_run, tiny_dataset, tmp_path):
    with pytest.raises(SpoofguardError, match="--int8 calibrates"):
        export(trained_run.bundle, tmp_path / "a.onnx", [], int8=True)
    assert not (tmp_path / "a.onnx").exists()  # refused before anything is written
    done = export(trained_run.bundle, tmp_path / "b.onnx", _images(tiny_dataset))
    assert done.onnx.is_file() and done.parity.n_real == 6 and done.int8 is None
    assert int8_path_for(tmp_path / "b.onnx") == tmp_path / "b.int8.onnx"
