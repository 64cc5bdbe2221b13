import json
import pickle

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from spoofguard import Detector, load_bundle
from spoofguard.errors import SpoofguardError
from spoofguard.inference.bundle import META_KEY, save_bundle
from spoofguard.models import create_model


def _metadata(**over):
    meta = {
        "classes": ["bona_fide", "attack"],
        "preprocessing": {"modality": "fingerprint", "input_size": 32, "channels": 1},
        "threshold": 0.4,
    }
    meta.update(over)
    return meta


@pytest.fixture()
def bundle_path(tmp_path):
    torch.manual_seed(0)
    model = create_model("padnet", classes=["bona_fide", "attack"], in_chans=1)
    model.eval()
    return save_bundle(tmp_path / "m.safetensors", model, _metadata()), model


def _rewrite(path, dest, edit_meta=None, edit_state=None):
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
        state = {k: f.get_tensor(k) for k in f.keys()}
    if edit_meta:
        edit_meta(meta)
    if edit_state:
        edit_state(state)
    save_file(state, str(dest), metadata={META_KEY: json.dumps(meta)})
    return dest


def test_round_trip_gives_identical_outputs(bundle_path):
    path, model = bundle_path
    bundle = load_bundle(path)
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), bundle.model(x))
    assert bundle.threshold == 0.4 and bundle.classes == ["bona_fide", "attack"]


def test_detector_prediction_contract(bundle_path):
    from tests.conftest import ridge_image

    det = Detector(bundle_path[0])
    p = det.predict(ridge_image(np.random.default_rng(0), attack=False, size=(50, 40)))
    assert 0.0 <= p.score <= 1.0
    assert p.verdict == ("bona_fide" if p.score >= 0.4 else "attack")
    assert set(p.probabilities) == {"bona_fide", "attack"}
    assert abs(sum(p.probabilities.values()) - 1) < 1e-5
    assert p.probabilities["bona_fide"] == pytest.approx(p.score)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p, d: d.write_bytes(b"\x00" * 100), "not a readable safetensors"),
        (lambda p, d: d.write_bytes(pickle.dumps({"state_dict": {}})), "never loads"),
        (lambda p, d: d.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "spoofguard model bundle"),
        (lambda p, d: save_file({"w": torch.zeros(2)}, str(d)), "without spoofguard metadata"),
        (lambda p, d: _rewrite(p, d, edit_meta=lambda m: m["architecture"].update(name="resnet9000")), "unknown model"),
        (lambda p, d: _rewrite(p, d, edit_meta=lambda m: m["architecture"]["kwargs"].update(width=2.0)), "do not fit the architecture"),
        (lambda p, d: _rewrite(p, d, edit_meta=lambda m: m.update(threshold="high")), "threshold"),
        (lambda p, d: _rewrite(p, d, edit_meta=lambda m: m.update(classes=["attack", "bona_fide"])), "classes"),
        (lambda p, d: _rewrite(p, d, edit_state=lambda s: s[next(iter(s))].add_(1.0)), "checksum"),
    ],
    ids=["random-bytes", "pickle", "truncated", "foreign-safetensors", "unknown-arch", "edited-kwargs", "bad-threshold", "bad-classes", "edited-weights"],
)
def test_files_that_are_not_valid_bundles_are_refused(bundle_path, tmp_path, make, message):
    dest = tmp_path / "bad.safetensors"
    make(bundle_path[0], dest)
    with pytest.raises(SpoofguardError, match=message):
        load_bundle(dest)


def test_missing_bundle(tmp_path):
    with pytest.raises(SpoofguardError, match="no such model file"):
        load_bundle(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("signature", [b"\x80", b"PK"])
def test_a_bundle_whose_header_length_looks_like_a_pickle_still_loads(tmp_path, signature):
    """safetensors files start with their header's length: a length whose first byte is 0x80 (pickle's
    opcode) or whose bytes spell "PK" (zip) must not be taken for a pickle (a real bundle hit this)."""
    torch.manual_seed(0)
    model = create_model("seed-cnn", classes=["bona_fide", "attack"], in_chans=1, input_size=32)
    base = int.from_bytes(save_bundle(tmp_path / "m.safetensors", model, _metadata(note="")).read_bytes()[:8], "little")
    target = int.from_bytes(signature.ljust(2, b"\x00")[:2], "little") if signature == b"PK" else 0x80 + 256 * (base // 256 + 1)
    for pad in range(max(0, target - base - 16), target - base + 16):
        path = save_bundle(tmp_path / "m.safetensors", model, _metadata(note="x" * pad))
        if path.read_bytes().startswith(signature):
            break
    else:
        pytest.fail("could not make a header of that length")
    assert load_bundle(path).classes == ["bona_fide", "attack"]


def test_non_finite_weights_and_normalisation_are_refused(bundle_path, tmp_path):
    """Issue 17: NaN weights or std were accepted and gave NaN scores (invalid JSON, HTTP 500)."""
    path, _ = bundle_path

    def nan_weight(state):
        k = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
        state[k][0] = float("nan")

    def with_digest(meta, state):
        from spoofguard.inference.bundle import weights_digest

        meta["weights_sha256"] = weights_digest(state)

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
        state = {k: f.get_tensor(k) for k in f.keys()}
    nan_weight(state)
    with_digest(meta, state)  # a consistent checksum: the forger recomputed it
    save_file(state, str(tmp_path / "nan.safetensors"), metadata={META_KEY: json.dumps(meta)})
    with pytest.raises(SpoofguardError, match="NaN or infinite"):
        load_bundle(tmp_path / "nan.safetensors")
    _rewrite(path, tmp_path / "std.safetensors", edit_meta=lambda m: m["preprocessing"].update(std=[float("nan")]))
    with pytest.raises(SpoofguardError):
        load_bundle(tmp_path / "std.safetensors")
