"""MiniFASNet (Silent-Face-Anti-Spoofing) and the safe loader for published weights; offline, self-made files."""

import os
import pickle
import warnings

import pytest
import torch

from spoofguard.errors import SpoofguardError
from spoofguard.models import create_model, model_info
from spoofguard.models.minifasnet import final_kernel
from spoofguard.models.published import UPSTREAM_CLASSES, load_minifasnet, load_state_dict_file

torch.set_num_threads(1)

VARIANTS = ["minifasnet-v1", "minifasnet-v2", "minifasnet-v1se", "minifasnet-v2se"]
CLASSES = ["bona_fide", "attack"]


def randomised(model):
    """Random weights *and* BatchNorm statistics / PReLU slopes, so a wrong mapping cannot go unnoticed."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                if name.endswith("running_var"):
                    tensor.uniform_(0.5, 2.0)
                else:
                    tensor.normal_(0.0, 0.1 if name.endswith("conv.weight") or "fc" in name else 0.5)
    return model.eval()


def upstream(name, input_size=80):
    return create_model(name, classes=UPSTREAM_CLASSES, input_size=input_size)


def save_as_dataparallel(model, path):
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_builds_and_runs(name):
    info = model_info(name)
    assert info["default_input_size"] == 80 and info["face_only"] is True
    model = upstream(name).eval()
    assert model.arch_kwargs["input_size"] == 80
    assert model.conv_6_dw.conv.kernel_size == (5, 5)  # the global depthwise conv at 80x80
    with torch.no_grad():
        assert model(torch.rand(2, 3, 80, 80) * 255).shape == (2, 3)


def test_architecture_matches_the_published_checkpoints():
    """Sizes the published files are documented with (entries and numbers in the state_dict), and upstream key names."""
    v2, v1se = upstream("minifasnet-v2").state_dict(), upstream("minifasnet-v1se").state_dict()
    assert (len(v2), sum(t.numel() for t in v2.values())) == (334, 444_978)
    assert (len(v1se), sum(t.numel() for t in v1se.values())) == (370, 444_610)
    for key, shape in [("conv1.conv.weight", (32, 3, 3, 3)), ("conv2_dw.conv.weight", (32, 1, 3, 3)),
                       ("conv_4.model.0.conv.conv.weight", (231, 128, 1, 1)),
                       ("conv_6_dw.conv.weight", (512, 1, 5, 5)), ("linear.weight", (128, 512)),
                       ("bn.running_mean", (128,)), ("prob.weight", (3, 128))]:
        assert tuple(v2[key].shape) == shape, key
    assert tuple(v1se["conv_3.model.3.se_module.fc1.weight"].shape) == (16, 64, 1, 1)
    assert tuple(v1se["conv_4.model.5.se_module.bn2.running_var"].shape) == (128,)
    assert not any("se_module" in k for k in v2)
    assert [k for k in v1se if "se_module.fc1" in k] == [
        "conv_3.model.3.se_module.fc1.weight", "conv_4.model.5.se_module.fc1.weight", "conv_5.model.1.se_module.fc1.weight"]


@pytest.mark.parametrize("size, kernel", [(80, 5), (64, 4), (65, 5), (48, 3), (112, 7), (16, 1)])
def test_final_kernel_follows_the_input_size(size, kernel):
    assert final_kernel(size) == kernel
    model = create_model("minifasnet-v2", classes=CLASSES, input_size=size).eval()
    assert model.conv_6_dw.conv.kernel_size == (kernel, kernel)
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 2)


def test_input_size_is_checked():
    for bad in (8, 0, -80, 80.0, "80", True):
        with pytest.raises(SpoofguardError, match="input_size"):
            create_model("minifasnet-v2", classes=CLASSES, input_size=bad)
    model = create_model("minifasnet-v2", classes=CLASSES)
    with pytest.raises(SpoofguardError, match="80x80"):
        model(torch.randn(1, 3, 96, 96))


@pytest.mark.parametrize("in_chans, n_classes", [(1, 2), (3, 5)])
def test_in_chans_and_classes(in_chans, n_classes):
    model = create_model("minifasnet-v1se", classes=[f"c{i}" for i in range(n_classes)], in_chans=in_chans).eval()
    with torch.no_grad():
        assert model(torch.randn(2, in_chans, 80, 80)).shape == (2, n_classes)


# --- the loader ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["minifasnet-v2", "minifasnet-v1se"])
def test_dataparallel_checkpoint_round_trip(name, tmp_path):
    model = randomised(upstream(name, input_size=32))  # small input: a 2x2 final kernel
    path = tmp_path / "weights.pth"
    save_as_dataparallel(model, path)
    state = load_state_dict_file(path)
    assert list(state) == list(model.state_dict()) and not any(k.startswith("module.") for k in state)
    loaded = load_minifasnet(name, path)  # input size inferred from the kernel: 16 x 2
    assert loaded.arch_name == name and loaded.arch_kwargs["input_size"] == 32 and not loaded.training
    x = torch.rand(3, 3, 32, 32) * 255
    with torch.no_grad():
        expected = model(x)
        assert expected.std() > 1e-3
        torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


def test_loader_accepts_upstream_names_plain_keys_and_a_state_dict_wrapper(tmp_path):
    model = randomised(upstream("minifasnet-v2"))
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, path)
    loaded = load_minifasnet("MiniFASNetV2", path)
    x = torch.rand(1, 3, 80, 80) * 255
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    with pytest.raises(SpoofguardError, match="unknown MiniFASNet"):
        load_minifasnet("minifasnet-v3", path)


class Payload:
    """Pickles to a call of os.system: loading it with the plain unpickler would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Innocent:
    def __init__(self):
        self.weights = torch.zeros(3)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(writer, tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    obj = {"conv1.conv.weight": torch.zeros(1), "x": Payload(marker)}
    if writer == "torch.save":
        torch.save(obj, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(obj, f)
    with pytest.raises(SpoofguardError, match="nothing in it ran") as err:
        load_state_dict_file(path)
    assert "\n" not in str(err.value)
    if writer == "torch.save":
        assert "other than tensors (it refers to posix.system)" in str(err.value) or "nt.system" in str(err.value)
    with pytest.raises(SpoofguardError):
        load_minifasnet("minifasnet-v2", path)
    assert not marker.exists()


def test_a_pickled_class_instance_is_refused(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(Innocent(), path)
    with pytest.raises(SpoofguardError, match=r"other than tensors \(it refers to .*Innocent\)") as err:
        load_state_dict_file(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("obj, match", [
    ({"conv": {"weight": torch.zeros(2)}}, "nested mapping"),
    ({"module.a": torch.zeros(2), "b": 3}, "'b' is a int"),
    ({"a": torch.zeros(2), "b": "text"}, "not a tensor"),
    ({"state_dict": {"inner": {"w": torch.zeros(1)}}}, "nested mapping"),  # unwrapped once, not twice
    ({1: torch.zeros(2)}, "not a string"),
    ([torch.zeros(2)], "holds a list"),
    (torch.zeros(2), "holds a Tensor"),
    ({}, "empty"),
    ({"module.w": torch.zeros(1), "w": torch.zeros(1)}, "collide"),
])
def test_anything_but_a_flat_tensor_mapping_is_refused(obj, match, tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(obj, path)
    with pytest.raises(SpoofguardError, match=match) as err:
        load_state_dict_file(path)
    assert "\n" not in str(err.value)


def test_missing_truncated_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(SpoofguardError, match="no weights file"):
        load_state_dict_file(tmp_path / "nope.pth")
    good = tmp_path / "good.pth"
    save_as_dataparallel(upstream("minifasnet-v2"), good)
    data = good.read_bytes()
    for name, content in [("truncated.pth", data[: len(data) // 2]), ("text.pth", b"not a model\n"), ("empty.pth", b"")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SpoofguardError, match="cannot read") as err:
            load_state_dict_file(tmp_path / name)
        assert "\n" not in str(err.value)


def test_wrong_variant_or_shapes_give_a_clear_error(tmp_path):
    v2 = tmp_path / "v2.pth"
    save_as_dataparallel(upstream("minifasnet-v2"), v2)
    with pytest.raises(SpoofguardError, match=r"wrong shape.*fits minifasnet-v2, load it as that"):
        load_minifasnet("minifasnet-v1", v2)
    with pytest.raises(SpoofguardError, match=r"missing: conv_3\.model\.3\.se_module"):
        load_minifasnet("minifasnet-v2se", v2)
    two_classes = tmp_path / "two.pth"
    torch.save(create_model("minifasnet-v2", classes=CLASSES).state_dict(), two_classes)
    with pytest.raises(SpoofguardError, match=r"prob\.weight \(2, 128\) vs \(3, 128\)") as err:
        load_minifasnet("minifasnet-v2", two_classes)
    assert "\n" not in str(err.value) and "3 classes" in str(err.value)
    with pytest.raises(SpoofguardError, match=r"conv_6_dw\.conv\.weight"):  # a 5x5 kernel file forced to 64x64
        load_minifasnet("minifasnet-v2", v2, input_size=64)
    partial = tmp_path / "partial.pth"
    torch.save({"conv1.conv.weight": torch.zeros(32, 3, 3, 3)}, partial)
    with pytest.raises(SpoofguardError, match="333 missing"):
        load_minifasnet("minifasnet-v2", partial)


# --- ONNX ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["minifasnet-v2", "minifasnet-v1se"])
def test_onnx_export_matches_torch(name, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = randomised(upstream(name))
    x = torch.rand(4, 3, 80, 80) * 255  # the published contract: raw 0..255 pixels
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x[:1],), str(path), dynamo=False, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "n"}, "output": {0: "n"}}, opset_version=17)
    assert not list(tmp_path.glob("*.data")) and len(list(tmp_path.iterdir())) == 1  # no external data
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert abs(expected).max() > 1e-2
    assert abs(out - expected).max() < 1e-4
