"""int8 quantisation: QDQ graph, metadata carried over, agreement with the float model, refusals."""

import json
from pathlib import Path

import numpy as np
import pytest

from spoofguard.errors import SpoofguardError
from spoofguard.inference.detector import Detector
from spoofguard.inference.onnx_model import export_onnx
from spoofguard.inference.quantize import agreement, calibration_inputs, quantize_onnx


def _images(tiny_dataset, n=20):
    return sorted(str(p) for p in Path(tiny_dataset).rglob("*.png"))[:n]


@pytest.fixture(scope="module")
def models(trained_run, tiny_dataset, tmp_path_factory):
    """(float .onnx, int8 .onnx, number of calibration inputs)."""
    folder = tmp_path_factory.mktemp("int8")
    float_onnx = export_onnx(trained_run.bundle, folder / "model.onnx")
    calibration = calibration_inputs(Detector.from_file(float_onnx), _images(tiny_dataset))
    return float_onnx, quantize_onnx(float_onnx, folder / "model.int8.onnx", calibration), len(calibration)


def _meta(path):
    import onnx

    return json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["spoofguard"])


def test_int8_model_is_qdq_and_keeps_the_metadata(models, tiny_dataset):
    import onnx

    float_onnx, int8_onnx, n = models
    ops = {node.op_type for node in onnx.load(str(int8_onnx)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    before, after = _meta(float_onnx), _meta(int8_onnx)
    marker = after["exported"].pop("int8")
    assert marker["format"] == "QDQ" and marker["calibration_inputs"] == n > 0
    assert after == before  # everything else travels unchanged
    det = Detector.from_file(int8_onnx)
    assert det.backend == "onnx" and det.threshold == pytest.approx(before["threshold"]) and det.classes == before["classes"]
    p = det.predict(_images(tiny_dataset)[0])
    assert 0 <= p.score <= 1 and p.verdict in det.classes


def test_int8_scores_stay_close_to_the_float_ones(models, tiny_dataset):
    float_onnx, int8_onnx, _ = models
    images = _images(tiny_dataset)
    real = agreement(float_onnx, int8_onnx, images + ["missing.png"])  # an unreadable image is skipped
    assert real.n == len(images) and 0 <= real.verdict_agreement <= 1
    assert np.isfinite(real.max_abs_diff) and 0 <= real.mean_abs_diff <= real.max_abs_diff < 0.5
    assert real.speedup is not None and real.speedup > 0
    noise = agreement(float_onnx, int8_onnx, n_random=4, measure_speed=False)
    assert noise.n == 4 and noise.speedup is None and noise.max_abs_diff < 0.5


def test_calibration_inputs_come_from_readable_images_only(models, tiny_dataset, tmp_path):
    det = Detector.from_file(models[0])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    images = _images(tiny_dataset, 5)
    views = sum(len(det.preprocessing.views(im).arrays) for im in images)  # fingerprint patches: several per image
    x = calibration_inputs(det, images + [str(bad)], max_inputs=3)
    assert x.shape == (3, 1, 32, 32) and x.dtype == np.float32
    assert len(calibration_inputs(det, images + [str(bad)], max_inputs=10_000)) == views
    with pytest.raises(SpoofguardError, match="real calibration images"):
        calibration_inputs(det, [])
    with pytest.raises(SpoofguardError, match="could be read"):
        calibration_inputs(det, [str(bad)])


def _listing(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def test_bad_inputs_are_refused_and_leave_nothing_behind(models, tmp_path, monkeypatch):
    float_onnx, int8_onnx, _ = models
    x = np.zeros((2, 1, 32, 32), np.float32)
    not_onnx = tmp_path / "junk.onnx"
    not_onnx.write_bytes(b"not a model")
    with pytest.raises(SpoofguardError, match="not a readable ONNX"):
        quantize_onnx(not_onnx, tmp_path / "a.onnx", x)
    with pytest.raises(SpoofguardError, match="must be"):
        quantize_onnx(float_onnx, tmp_path / "b.onnx", np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(SpoofguardError, match="must be"):
        quantize_onnx(float_onnx, tmp_path / "c.onnx", x[:0])
    with pytest.raises(SpoofguardError, match="already int8"):
        quantize_onnx(int8_onnx, tmp_path / "d.onnx", x)
    with pytest.raises(SpoofguardError, match=r"\.onnx"):
        quantize_onnx(float_onnx, tmp_path / "e.int8", x)
    assert _listing(tmp_path) == ["junk.onnx"]

    # onnxruntime failing half-way leaves an existing file untouched and no temporary files
    import onnxruntime.quantization

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure")

    out = tmp_path / "kept.onnx"
    out.write_bytes(b"old")
    monkeypatch.setattr(onnxruntime.quantization, "quantize_static", boom)
    with pytest.raises(SpoofguardError, match="could not quantise"):
        quantize_onnx(float_onnx, out, x)
    assert out.read_bytes() == b"old" and _listing(tmp_path) == ["junk.onnx", "kept.onnx"]
