"""Issue 17, finding 8: a model file is untrusted input. Forged bundles and ONNX metadata are refused by one
validator against declared bounds before anything is built or allocated: exit 2, one line, no traceback,
in well under a few seconds. Scores are finite or an explicit no-result; JSON output is valid JSON."""

import json
import time

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from spoofguard.cli import main
from spoofguard.errors import SpoofguardError
from spoofguard.inference.bundle import META_KEY, load_bundle, read_metadata, save_bundle
from spoofguard.inference.detector import NO_FINGER, Detector, PredictionFailed
from spoofguard.models import create_model, list_models, model_info
from spoofguard.models.registry import Float, model_bounds, register_model
from tests.conftest import ridge_image, write_video


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small fingerprint padnet bundle (patches of 32 px), its ONNX export and a print to score."""
    from spoofguard.inference.onnx_model import export_onnx

    d = tmp_path_factory.mktemp("forged")
    torch.manual_seed(0)
    model = create_model("padnet", classes=["bona_fide", "attack"], in_chans=1)
    pre = {"modality": "fingerprint", "input_size": 32, "channels": 1, "crop": "patches"}
    bundle = save_bundle(d / "base.safetensors", model, {"classes": ["bona_fide", "attack"], "preprocessing": pre, "threshold": 0.5})
    onnx_path = export_onnx(bundle, d / "base.onnx")
    Image.fromarray(ridge_image(np.random.default_rng(0), attack=False, size=(96, 96))).save(d / "print.png")
    return d


def _forge_bundle(src, dest, edit):
    with safe_open(str(src), framework="pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
        state = {k: f.get_tensor(k) for k in f.keys()}
    edit(meta)
    save_file(state, str(dest), metadata={META_KEY: json.dumps(meta)})
    return dest


def _forge_onnx(src, dest, edit):
    import onnx

    proto = onnx.load(str(src))
    meta = json.loads(proto.metadata_props[0].value)
    edit(meta)
    proto.metadata_props[0].value = json.dumps(meta)
    onnx.save(proto, str(dest))
    return dest


def _imported(input_name="input", output_name="logits", index=0):
    def edit(m):
        m["format"] = "spoofguard.imported-onnx"
        m["members"] = [{"preprocessing": m["preprocessing"], "input": input_name, "output": output_name,
                         "bona_fide_index": index, "output_kind": "logits"}]
    return edit


def _update(where, **values):
    def edit(m):
        (m if where is None else m[where] if where != "kwargs" else m["architecture"]["kwargs"]).update(values)
    return edit


BUNDLES = {
    "width=1e4": (_update("kwargs", width=1e4), "width must lie in"),
    "depth=5.0": (_update("kwargs", depth=5.0), "depth must be a whole number"),
    "unknown-option": (_update("kwargs", layers=3), "no option"),
    "max_patches=1e9,stride=1": (_update("preprocessing", max_patches=1e9, patch_stride=1), "max_patches"),
    "max_patches=10**9 (int)": (_update("preprocessing", max_patches=10**9, patch_stride=1), "max_patches"),
    "views-over-budget": (_update("preprocessing", input_size=1024, max_patches=1024), "views would hold"),
    "threshold=-1": (_update(None, threshold=-1), "threshold"),
    "threshold=5": (_update(None, threshold=5), "threshold"),
    "threshold=NaN": (_update(None, threshold=float("nan")), "threshold"),
    'classes="ab"': (_update(None, classes="ab"), "classes"),
    "classes=1e6 names": (_update(None, classes=["bona_fide"] + [f"c{i}" for i in range(1000)]), "classes"),
    "std=[NaN]": (_update("preprocessing", std=[float("nan")]), "std"),
    "input_size=1e9": (_update("preprocessing", input_size=10**9), "input_size"),
    "clip_frames=1e6": (_update("preprocessing", clip_frames=10**6), "clip_frames"),
    "face_scales x1000": (_update("preprocessing", modality="face", channels=3, crop="face", face_scales=[1.0] * 1000), "face_scales"),
    "preprocessing=[]": (_update(None, preprocessing=[]), "preprocessing"),
}

ONNX = {
    "batch_size=-4": (_update(None, batch_size=-4), "batch_size"),
    "batch_size=1e9": (_update(None, batch_size=10**9), "batch_size"),
    "bogus input name": (_imported(input_name="nope"), "'nope' is not an input"),
    "bogus output name": (_imported(output_name="nope"), "'nope' is not an output"),
    "bona_fide_index=7": (_imported(index=7), "bona_fide_index"),
    "threshold=-1": (_update(None, threshold=-1), "threshold"),
    "threshold=5": (_update(None, threshold=5), "threshold"),
    'classes="ab"': (_update(None, classes="ab"), "classes"),
    "classes 3 for a 2-output graph": (_update(None, classes=["bona_fide", "a", "b"]), "3 classes"),
    "max_patches=1e9,stride=1": (_update("preprocessing", max_patches=10**9, patch_stride=1), "max_patches"),
    "input_size other than the graph's": (_update("preprocessing", input_size=64), "has shape"),
    "members on an exported model": (lambda m: m.update(members=[]), "members"),
}


def _strict_json(line: str):
    """json.loads, refusing NaN and Infinity (which Python's json accepts and JSON does not)."""
    def refuse(constant):
        raise AssertionError(f"invalid JSON constant {constant}")
    return json.loads(line, parse_constant=refuse)


def _refused_in_one_line(args, capsys, message):
    t0 = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - t0
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, err
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err
    assert seconds < 10, seconds  # typically ~0.1 s: nothing was built, decoded or allocated
    return err


@pytest.mark.parametrize("name", list(BUNDLES))
def test_a_forged_bundle_is_refused_in_one_line(files, tmp_path, capsys, name):
    edit, message = BUNDLES[name]
    forged = _forge_bundle(files / "base.safetensors", tmp_path / "forged.safetensors", edit)
    _refused_in_one_line(["predict", str(forged), str(files / "print.png"), "--json"], capsys, message)
    _refused_in_one_line(["info", str(forged)], capsys, message)
    with pytest.raises(SpoofguardError):
        Detector.from_file(forged)


@pytest.mark.parametrize("name", list(ONNX))
def test_forged_onnx_metadata_is_refused_like_a_bundle(files, tmp_path, capsys, name):
    edit, message = ONNX[name]
    forged = _forge_onnx(files / "base.onnx", tmp_path / "forged.onnx", edit)
    _refused_in_one_line(["predict", str(forged), str(files / "print.png"), "--json"], capsys, message)
    with pytest.raises(SpoofguardError, match="invalid"):
        Detector.from_file(forged)


def test_info_reads_an_onnx_model_and_checks_it(files, tmp_path, capsys):
    assert main(["info", str(files / "base.onnx")]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["classes"] == ["bona_fide", "attack"] and meta["exported"]["format"] == "onnx"
    forged = _forge_onnx(files / "base.onnx", tmp_path / "t.onnx", _update(None, threshold=5))
    _refused_in_one_line(["info", str(forged)], capsys, "threshold")


def test_the_same_validator_reads_both_files(files):
    from spoofguard.inference.onnx_model import read_onnx_metadata

    a, b = read_metadata(files / "base.safetensors"), read_onnx_metadata(files / "base.onnx")
    assert {k: v for k, v in b.items() if k != "exported"} == a


def test_non_finite_model_output_is_a_failure_and_json_stays_valid(files, tmp_path, capsys):
    """An ONNX graph with a NaN weight (its metadata is fine): the capture fails by name, exit 1, valid JSON."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(files / "base.onnx"))
    for init in proto.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size > 1:
            a = a.copy()
            a.flat[0] = np.nan
            init.CopyFrom(numpy_helper.from_array(a, init.name))
            break
    onnx.save(proto, str(tmp_path / "nan.onnx"))
    assert main(["predict", str(tmp_path / "nan.onnx"), str(files / "print.png"), "--json"]) == 1
    out = capsys.readouterr()
    row = _strict_json(out.out.splitlines()[0])
    assert "NaN or infinite" in row["error"] and "print.png" in out.err
    with pytest.raises(PredictionFailed):
        Detector.from_file(tmp_path / "nan.onnx").predict(str(files / "print.png"))


def test_patch_grid_at_stride_1_is_fast_and_bounded(files):
    """max_patches and the view budget bound the views; the grid itself is cut without a Python loop."""
    from spoofguard.modalities.fingerprint import patch_grid

    t0 = time.perf_counter()
    corners = patch_grid(np.ones((2000, 2000), bool), 96, 1, 0.5, 1024)
    assert len(corners) == 1024 and time.perf_counter() - t0 < 3


# --- bounds declared with each model's registration -------------------------------------------------


@pytest.mark.parametrize("name", list_models())
def test_every_model_declares_a_bound_for_each_option_that_admits_its_default(name):
    bounds, defaults = model_bounds(name), model_info(name)["kwargs"]
    assert set(bounds) == set(defaults)
    assert all(b.problem(defaults[k]) is None for k, b in bounds.items())


def test_a_model_without_bounds_cannot_register_and_values_out_of_bounds_are_refused():
    with pytest.raises(ValueError, match="bounds"):
        register_model("undeclared-test-model", default_input_size=32)(lambda classes, in_chans=3, width=1.0: None)
    with pytest.raises(ValueError, match="default"):
        register_model("bad-bound-test-model", default_input_size=32,
                       bounds={"width": Float(2.0, 3.0)})(lambda classes, in_chans=3, width=1.0: None)
    assert "undeclared-test-model" not in list_models()
    with pytest.raises(SpoofguardError, match="width must lie in"):
        create_model("padnet", classes=["bona_fide", "attack"], width=1e4)
    with pytest.raises(SpoofguardError, match="hidden"):
        create_model("seed-cnn", classes=["bona_fide", "attack"], input_size=64, hidden=10**6)


def test_a_bundle_at_the_bounds_still_loads(files, tmp_path):
    """The bounds are not a new limit on real models: padnet at depth 11, width 2 round-trips."""
    model = create_model("padnet", classes=["bona_fide", "attack"], in_chans=1, width=2.0, depth=11)
    pre = {"modality": "fingerprint", "input_size": 32, "channels": 1}
    path = save_bundle(tmp_path / "big.safetensors", model, {"classes": ["bona_fide", "attack"], "preprocessing": pre, "threshold": 0.5})
    assert load_bundle(path).metadata["architecture"]["kwargs"]["depth"] == 11


# --- "no finger": a capture with no foreground is a result without a score ---------------------------


@pytest.mark.parametrize("image", [np.zeros((1, 1), np.uint8), np.full((120, 90), 200, np.uint8), np.full((40, 40, 3), 30, np.uint8)],
                         ids=["blank-1x1", "flat-grey", "flat-dark-rgb"])
def test_a_fingerprint_model_says_no_finger_for_a_capture_without_one(files, image):
    for det in (Detector.from_file(files / "base.safetensors"), Detector.from_file(files / "base.onnx")):
        p = det.predict(image)
        assert p.verdict == NO_FINGER and p.score is None and p.probabilities == {} and "no finger" in p.note
        assert _strict_json(json.dumps(p.to_dict()))["score"] is None


def test_no_finger_in_the_cli_and_for_a_whole_image_model(files, tmp_path, capsys):
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "blank.png")
    assert main(["predict", str(files / "base.safetensors"), str(tmp_path / "blank.png"), str(files / "print.png"), "--json"]) == 0
    rows = [_strict_json(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["verdict"] == "no_finger" and rows[0]["score"] is None and 0 <= rows[1]["score"] <= 1
    # a model that looks at the whole capture resized to 32 px judges the finger at the capture's own resolution:
    # resized, a 400 px print is flat (its ridges averaged away) and would read as "no finger"
    model = create_model("seed-cnn", classes=["bona_fide", "attack"], in_chans=1, input_size=32)
    pre = {"modality": "fingerprint", "input_size": 32, "channels": 1, "crop": "whole"}
    path = save_bundle(tmp_path / "whole.safetensors", model, {"classes": ["bona_fide", "attack"], "preprocessing": pre, "threshold": 0.5})
    det = Detector.from_file(path)
    assert det.predict(np.full((64, 64), 128, np.uint8)).verdict == NO_FINGER
    for attack in (False, True):
        assert det.predict(ridge_image(np.random.default_rng(5), attack=attack, size=(400, 400))).score is not None


def test_videos_for_a_fingerprint_model(files, tmp_path):
    pytest.importorskip("av")
    from tests.conftest import face_frame

    det = Detector.from_file(files / "base.safetensors")
    flat = write_video(tmp_path / "flat.mp4", [np.full((64, 64, 3), 120, np.uint8)] * 3)
    v = det.predict_video(flat, max_frames=3)
    assert v.verdict == NO_FINGER and v.score is None and "no finger" in v.note
    colour = write_video(tmp_path / "colour.mp4", [face_frame(size=(96, 128), at=(20, 5), face_width=80)] * 3)
    with pytest.raises(PredictionFailed, match="colour picture"):  # decodes fine: a prediction failure, not an unreadable video
        det.predict_video(colour, max_frames=3)
