"""ONNX export: parity with torch, metadata inside, CDC folded, a torch-free onnx backend, refusals."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spoofguard.cli import main
from spoofguard.errors import SpoofguardError
from spoofguard.inference.detector import Detector
from spoofguard.inference.onnx_model import export_onnx, load_onnx


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return export_onnx(trained_run.bundle, out)


def _images(tiny_dataset):
    return sorted(str(p) for p in Path(tiny_dataset).rglob("*.png"))[:6]


def test_export_has_metadata_dynamic_batch_and_plain_convs(trained_run, exported):
    import onnx

    proto = onnx.load(str(exported))
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["spoofguard"])
    assert meta["threshold"] == pytest.approx(trained_run.threshold) and meta["classes"] == ["bona_fide", "attack"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    ops = {n.op_type for n in proto.graph.node}
    assert "Conv" in ops and "ReduceSum" not in ops  # the central difference term is folded into the kernels
    session, _ = load_onnx(exported)
    x = np.zeros((5, 1, 32, 32), np.float32)
    assert session.run(None, {"input": x})[0].shape == (5, 2)


def test_onnx_detector_agrees_with_torch_and_gives_the_same_result_shape(trained_run, exported, tiny_dataset):
    images = _images(tiny_dataset)
    t = Detector.from_file(trained_run.bundle)
    o = Detector.from_file(exported)
    assert o.backend == "onnx" and t.backend == "torch"
    for a, b in zip(t.predict_batch(images), o.predict_batch(images)):
        assert abs(a.score - b.score) < 1e-5 and a.verdict == b.verdict and a.views == b.views
    # a bundle on the onnx backend (exported in memory)
    m = Detector.from_file(trained_run.bundle, backend="onnx")
    assert m.backend == "onnx" and abs(m.predict(images[0]).score - t.predict(images[0]).score) < 1e-5


def test_onnx_detector_does_not_import_torch(exported, tiny_dataset):
    code = (
        "import sys\n"
        "from spoofguard.inference.detector import Detector\n"
        f"p = Detector.from_file({str(exported)!r}).predict({_images(tiny_dataset)[0]!r})\n"
        "assert 0 <= p.score <= 1\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_onnx_files_that_are_not_ours_are_refused(tmp_path, exported):
    import onnx
    from onnx import TensorProto, helper

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(SpoofguardError, match="not a readable ONNX"):
        Detector.from_file(bad)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), str(foreign))
    with pytest.raises(SpoofguardError, match="without spoofguard metadata"):
        Detector.from_file(foreign)
    proto = onnx.load(str(exported))
    proto.metadata_props[0].value = "{broken"
    damaged = tmp_path / "damaged.onnx"
    onnx.save(proto, str(damaged))
    with pytest.raises(SpoofguardError, match="damaged"):
        Detector.from_file(damaged)
    with pytest.raises(SpoofguardError, match="onnx backend"):
        Detector.from_file(exported, backend="torch")
    with pytest.raises(SpoofguardError, match="backend"):
        Detector.from_file(exported, backend="tensorrt")


def test_export_command_prints_parity_and_refuses_to_overwrite(trained_run, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(trained_run.bundle), "--onnx", str(out), "--check", str(tiny_dataset)]) == 0
    text = capsys.readouterr().out
    assert "parity" in text and "real image" in text and out.is_file()
    before = out.read_bytes()
    assert main(["export", str(trained_run.bundle), "--onnx", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["predict", str(out), _images(tiny_dataset)[0], "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out.splitlines()[0])["score"] <= 1


def test_a_run_folder_stands_for_its_bundle(trained_run, tmp_path, capsys):
    """load_bundle, the Detector and export all accept the run folder that `train` wrote."""
    folder = trained_run.bundle.parent
    assert Detector.from_file(folder).threshold == pytest.approx(trained_run.threshold)
    assert main(["export", str(folder), "--onnx", str(tmp_path / "f.onnx")]) == 0
    assert "parity" in capsys.readouterr().out
