"""Bring your own ONNX model: spec-driven input contracts, ensembles, refusals, and the CLI."""

import json

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from spoofguard.cli import main
from spoofguard.errors import SpoofguardError
from spoofguard.inference.detector import Detector
from spoofguard.inference.import_onnx import import_onnx


class ChannelVote(nn.Module):
    """3 logits; logit 1 (bona fide in the spec) = mean(channel 0) - mean(channel 2), in raw pixel units / 25."""

    def forward(self, x):
        m = x.mean(dim=(2, 3))  # (N, 3)
        d = (m[:, 0:1] - m[:, 2:3]) / 25.0
        return torch.cat([d * 0, d, d * 0], dim=1)


class Constant(nn.Module):
    """Two equal logits; traced at batch 1, its output shape is baked in (as in many published models)."""

    def forward(self, x):
        return torch.zeros(x.shape[0], 2) + 0 * x.mean()


def _export(model, path, size, opset=17):
    # a fixed batch of 1, as many published models have it: the import makes it dynamic
    torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(path), dynamo=False, opset_version=opset,
                      input_names=["input"], output_names=["output"])
    return path


def _member(model, size, order="BGR", scale=2.7, bona=1):
    return {"model": str(model), "input_size": size, "channel_order": order, "pixel_range": 255, "mean": [0, 0, 0],
            "std": [1, 1, 1], "crop_scale": scale, "border": "shift", "output": "logits", "bona_fide_index": bona}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("peer")
    return _export(ChannelVote(), d / "vote.onnx", 16), _export(Constant(), d / "const.onnx", 24, opset=13)


def _blue_and_red():
    blue = np.zeros((40, 30, 3), np.uint8)
    blue[..., 2] = 255
    return blue, blue[..., ::-1].copy()


def test_channel_order_and_bona_fide_index_follow_the_spec(models, tmp_path):
    vote, _ = models
    blue, red = _blue_and_red()
    for order, expect_blue in (("BGR", True), ("RGB", False)):
        out = import_onnx([], {"modality": "face", "members": [_member(vote, 16, order)]}, tmp_path / f"{order}.onnx")
        d = Detector.from_file(out, precropped=True)
        b, r = d.predict(blue), d.predict(red)
        # BGR: blue lands in channel 0 -> positive bona fide logit
        assert (b.score > 0.5) == expect_blue and (r.score > 0.5) != expect_blue
        assert b.score + r.score == pytest.approx(1.0, abs=1e-4)  # softmax of +d and -d against two zeros, symmetric
        assert d.backend == "onnx" and d.classes == ["bona_fide", "attack"]


def test_an_ensemble_averages_its_members_and_handles_mixed_opsets_and_sizes(models, tmp_path):
    vote, const = models
    spec = {"modality": "face", "threshold": 0.4, "members": [_member(vote, 16), _member(const, 24, "RGB", 4.0, bona=0)]}
    single = Detector.from_file(import_onnx([], {"modality": "face", "members": [_member(vote, 16)]}, tmp_path / "one.onnx"), precropped=True)
    both = Detector.from_file(import_onnx([], spec, tmp_path / "two.onnx"), precropped=True)
    blue, _ = _blue_and_red()
    p = both.predict_batch([blue] * 3)  # a batch of 3 through inputs that were fixed at batch 1
    assert p[0].score == pytest.approx((single.predict(blue).score + 0.5) / 2, abs=1e-5)
    assert both.threshold == 0.4 and "not chosen on a dev split" in both.metadata["threshold_source"]
    assert [m["model"] for m in both.metadata["members"]] == ["vote.onnx", "const.onnx"]
    assert both.metadata["batch_size"] == 1 and "batch_size" not in single.metadata  # Constant only runs at batch 1


def test_models_on_the_command_line_fill_the_spec_in_order(models, tmp_path):
    vote, const = models
    spec = {"modality": "face", "members": [_member("x", 16), _member("y", 24, bona=0)]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "cli.onnx"
    assert main(["import-onnx", str(vote), str(const), "--spec", str(tmp_path / "spec.yaml"), "-o", str(out)]) == 0
    assert main(["import-onnx", str(vote), str(const), "--spec", str(tmp_path / "spec.yaml"), "-o", str(out)]) == 2  # exists
    blue, _ = _blue_and_red()
    from PIL import Image

    Image.fromarray(blue).save(tmp_path / "blue.png")
    assert main(["predict", str(out), str(tmp_path / "blue.png"), "--precropped", "--json"]) == 0


@pytest.mark.parametrize("change, message", [
    (lambda s: s["members"][0].update(input_size=20), "input is"),
    (lambda s: s["members"][0].update(bona_fide_index=5), "bona_fide_index 5"),
    (lambda s: s["members"][0].update(colour="BGR"), "unknown key"),
    (lambda s: s["members"][0].update(channel_order="GBR"), "channel order"),
    (lambda s: s.update(threshold=2), "threshold"),
    (lambda s: s["members"].append(dict(s["members"][0])), "2 member"),
    (lambda s: s["members"][0].update(model="missing.onnx"), "no such model file"),
])
def test_bad_specs_are_refused_with_a_reason(models, tmp_path, change, message):
    vote, _ = models
    spec = {"modality": "face", "members": [_member(vote, 16)]}
    change(spec)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    models_arg = [vote] if len(spec["members"]) == 2 else []
    with pytest.raises(SpoofguardError, match=message):
        import_onnx(models_arg, tmp_path / "spec.yaml", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_a_spec_that_is_not_yaml_or_has_no_members(tmp_path):
    (tmp_path / "bad.yaml").write_text("members: [\n")
    with pytest.raises(SpoofguardError, match="not valid YAML"):
        import_onnx([], tmp_path / "bad.yaml", tmp_path / "o.onnx")
    (tmp_path / "empty.yaml").write_text("modality: face\n")
    with pytest.raises(SpoofguardError, match="members"):
        import_onnx([], tmp_path / "empty.yaml", tmp_path / "o.onnx")


def test_a_non_onnx_model_file_is_refused(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    spec = {"modality": "face", "members": [_member(tmp_path / "model.onnx", 16)]}
    with pytest.raises(SpoofguardError, match="not a readable ONNX model"):
        import_onnx([], spec, tmp_path / "out.onnx")


def test_the_imported_model_keeps_its_provenance(models, tmp_path):
    vote, _ = models
    out = import_onnx([], {"modality": "face", "name": "vote-net", "members": [_member(vote, 16)]}, tmp_path / "v.onnx")
    import onnx

    meta = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["spoofguard"])
    assert meta["architecture"]["name"] == "vote-net" and len(meta["imported"]["files"][0]["sha256"]) == 64
