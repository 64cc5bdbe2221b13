"""Ensemble bundles: members with their own crops in one safetensors file, scored like an imported ONNX pair."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from spoofguard.errors import SpoofguardError
from spoofguard.inference.bundle import META_KEY, load_bundle
from spoofguard.inference.detector import Detector
from spoofguard.inference.ensemble import SILENT_FACE, silent_face_bundle
from spoofguard.models import create_model
from tests.conftest import face_frame

torch.set_num_threads(1)
UPSTREAM = ["attack_0", "bona_fide", "attack_2"]


@pytest.fixture(scope="module")
def published_like(tmp_path_factory):
    """Randomly initialised MiniFASNets saved the way upstream published theirs (DataParallel `module.` keys)."""
    folder = tmp_path_factory.mktemp("sf")
    torch.manual_seed(0)
    models = {}
    for arch, name, _ in SILENT_FACE:
        m = create_model(arch, classes=UPSTREAM).eval()
        with torch.no_grad():  # BatchNorm statistics away from 0/1 so the members differ visibly
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.1, 0.1)
                    mod.running_var.uniform_(0.5, 2.0)
        torch.save({f"module.{k}": v for k, v in m.state_dict().items()}, folder / name)
        models[name] = m
    return folder, models


@pytest.fixture(scope="module")
def bundle(published_like, tmp_path_factory):
    folder, _ = published_like
    return silent_face_bundle({p.name: p for p in folder.glob("*.pth")}, tmp_path_factory.mktemp("b") / "sf.safetensors")


def test_the_bundle_records_both_members_and_their_contract(bundle):
    b = load_bundle(bundle)
    assert b.architecture == "ensemble" and b.classes == ["bona_fide", "attack"] and b.threshold == 0.5
    members = b.metadata["members"]
    assert [m["architecture"]["name"] for m in members] == ["minifasnet-v2", "minifasnet-v1se"]
    assert [m["preprocessing"]["face_scales"] for m in members] == [[2.7], [4.0]]
    assert all(m["preprocessing"]["channel_order"] == "BGR" and m["preprocessing"]["pixel_range"] == 255.0 and m["bona_fide_index"] == 1
               for m in members)


def test_score_is_the_mean_of_the_members_bona_fide_softmax(bundle, published_like):
    _, models = published_like
    det = Detector.from_file(bundle)
    frame = face_frame()
    p = det.predict(frame)
    assert p.verdict in ("bona_fide", "attack") and p.faces == 1
    src = det.source(frame)
    expected = []
    for member, (arch, name, _) in zip(det.members, SILENT_FACE):
        crop = member.preprocessing.views(src).arrays
        x = member.preprocessing.normalise(member.preprocessing.to_tensor(crop))
        with torch.no_grad():
            expected.append(torch.softmax(models[name](x), 1)[0, 1].item())
    assert p.score == pytest.approx(float(np.mean(expected)), abs=1e-6)


def test_equals_the_imported_onnx_pair_of_the_same_weights(bundle, published_like, tmp_path):
    """The torch bundle and `import-onnx` with examples/silent-face.yaml give the same scores."""
    from spoofguard.inference.import_onnx import import_onnx

    _, models = published_like
    paths = []
    for arch, name, _ in SILENT_FACE:
        path = tmp_path / f"{arch}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(models[name], (torch.zeros(1, 3, 80, 80),), str(path), dynamo=False, opset_version=17,
                              input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "n"}, "output": {0: "n"}})
        paths.append(str(path))
    spec = Path(__file__).resolve().parents[2] / "examples" / "silent-face.yaml"
    onnx = import_onnx(paths, str(spec), tmp_path / "pair.onnx")
    frames = [face_frame(), face_frame(at=(300, 60), face_width=160)]
    a = Detector.from_file(bundle).predict_batch(frames)
    b = Detector.from_file(onnx).predict_batch(frames)
    assert max(abs(x.score - y.score) for x, y in zip(a, b)) < 1e-5


def test_an_ensemble_is_not_exported_and_a_forged_member_is_refused(bundle, tmp_path):
    from spoofguard.inference.onnx_model import export_onnx

    with pytest.raises(SpoofguardError, match="import-onnx"):
        export_onnx(bundle, tmp_path / "x.onnx")
    with safe_open(str(bundle), framework="pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
        state = {k: f.get_tensor(k) for k in f.keys()}
    meta["members"][1]["architecture"]["name"] = "os.system"
    save_file(state, str(tmp_path / "forged.safetensors"), metadata={META_KEY: json.dumps(meta)})
    with pytest.raises(SpoofguardError, match="registered architecture"):
        load_bundle(tmp_path / "forged.safetensors")


def test_a_missing_published_file_is_named(published_like, tmp_path):
    folder, _ = published_like
    with pytest.raises(SpoofguardError, match="4_0_0_80x80_MiniFASNetV1SE.pth"):
        silent_face_bundle({"2.7_80x80_MiniFASNetV2.pth": folder / "2.7_80x80_MiniFASNetV2.pth"}, tmp_path / "x.safetensors")
