"""Model zoo: registry contract, every registered model's shapes, CDC maths, parameter budgets."""

import json
import warnings

import pytest
import torch
import torch.nn.functional as F

from spoofguard.errors import SpoofguardError
from spoofguard.models import create_model, list_models, model_info, register_model
from spoofguard.models.layers import CDConv2d

torch.set_num_threads(1)

CLASSES = ["bona_fide", "attack"]
MODELS = list_models()


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_registry_lists_the_zoo():
    assert MODELS == ["minifasnet-v1", "minifasnet-v1se", "minifasnet-v2", "minifasnet-v2se",
                      "padnet", "seed-cnn", "siamese", "spoofnet", "temporal", "texture"]
    for name in MODELS:
        info = model_info(name)
        assert isinstance(info["default_input_size"], int) and info["default_input_size"] >= 32
    assert model_info("padnet")["default_input_size"] == 128


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("n_classes", [2, 4])
def test_forward_shape_at_default_size(name, n_classes):
    torch.manual_seed(0)
    classes = [f"c{i}" for i in range(n_classes)]
    model = create_model(name, classes=classes).eval()
    size = model_info(name)["default_input_size"]
    with torch.no_grad():
        logits = model(torch.randn(2, 3, size, size))
    assert logits.shape == (2, n_classes)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("in_chans", [1, 3])
def test_in_chans_and_train_step(name, in_chans):
    torch.manual_seed(0)
    size = 64
    kwargs = {"input_size": size} if "input_size" in model_info(name)["kwargs"] else {}
    model = create_model(name, classes=CLASSES, in_chans=in_chans, **kwargs).train()
    logits = model(torch.randn(2, in_chans, size, size))
    assert logits.shape == (2, 2)
    if model_info(name).get("fitted"):  # fitted by scikit-learn (texture): nothing for an optimiser to step
        assert not list(model.parameters()) and not logits.requires_grad
        return
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic(name):
    size = 48
    kwargs = {"input_size": size} if "input_size" in model_info(name)["kwargs"] else {}
    model = create_model(name, classes=CLASSES, **kwargs).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
        torch.testing.assert_close(model(x[:1]), model(x)[:1], rtol=1e-5, atol=1e-5)  # no batch coupling


@pytest.mark.parametrize("name", MODELS)
def test_rebuild_from_arch_kwargs(name):
    model = create_model(name, classes=CLASSES, in_chans=1)
    assert model.arch_name == name
    arch_kwargs = json.loads(json.dumps(model.arch_kwargs))  # must survive a JSON round trip
    assert "classes" not in arch_kwargs and "in_chans" not in arch_kwargs
    rebuilt = create_model(name, classes=CLASSES, in_chans=1, **arch_kwargs)
    a, b = model.state_dict(), rebuilt.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)
    rebuilt.load_state_dict(a)


@pytest.mark.parametrize("name", ["padnet", "spoofnet"])
def test_global_pooling_models_take_any_size(name):
    model = create_model(name, classes=CLASSES).eval()
    with torch.no_grad():
        for size in (32, 77, 160):
            assert model(torch.randn(1, 3, size, size)).shape == (1, 2)


def test_seed_cnn_records_its_input_size_and_refuses_others():
    model = create_model("seed-cnn", classes=CLASSES, input_size=64)
    assert model.arch_kwargs["input_size"] == 64
    assert create_model("seed-cnn", classes=CLASSES).arch_kwargs["input_size"] == 256
    with pytest.raises(SpoofguardError, match="64x64"):
        model(torch.randn(1, 3, 96, 96))


def test_spoofnet_parameter_count():
    assert n_params(create_model("spoofnet", classes=CLASSES, in_chans=3)) == 4_881_442


def test_padnet_parameter_budget():
    assert n_params(create_model("padnet", classes=CLASSES)) <= 2_000_000
    small = create_model("padnet", classes=CLASSES, width=0.5)
    assert n_params(small) < 1_000_000 and small(torch.randn(2, 3, 32, 32)).shape == (2, 2)


def test_padnet_uses_central_difference_conv_early():
    model = create_model("padnet", classes=CLASSES)
    cdc = [m for m in model.modules() if isinstance(m, CDConv2d)]
    assert cdc and all(m.theta == 0.7 for m in cdc)
    assert isinstance(model.stem[1][0], CDConv2d) and model.stem[1][0].stride == (1, 1)


def test_padnet_stem_sees_every_pixel_and_odd_sizes_work():
    """The space-to-depth stem folds 2x2 pixels into channels: a one-pixel change moves the stem output
    at the pixel's own position (a stride-2 conv would skip some pixels' centre taps)."""
    model = create_model("padnet", classes=CLASSES, in_chans=1).eval()
    x = torch.zeros(1, 1, 32, 32)
    base = model.stem(x)
    for dy, dx in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        y = x.clone()
        y[0, 0, 10 + dy, 10 + dx] = 1.0
        assert not torch.allclose(model.stem(y)[..., 5, 5], base[..., 5, 5])
    assert model(torch.randn(2, 1, 33, 31)).shape == (2, 2)


def test_padnet_depth_is_an_option():
    shallow = create_model("padnet", classes=CLASSES, depth=3)
    deep = create_model("padnet", classes=CLASSES, depth=11)
    assert len(shallow.blocks) == 3 and len(deep.blocks) == 11
    with pytest.raises(Exception, match="depth"):
        create_model("padnet", classes=CLASSES, depth=12)


def test_create_model_errors():
    with pytest.raises(SpoofguardError, match="padnet"):  # lists the known models
        create_model("resnet9000", classes=CLASSES)
    with pytest.raises(SpoofguardError, match="no option"):
        create_model("padnet", classes=CLASSES, layers=3)
    with pytest.raises(SpoofguardError, match="at least 2"):
        create_model("padnet", classes=["bona_fide"])
    with pytest.raises(SpoofguardError):
        create_model("padnet", classes="bona_fide,attack")
    with pytest.raises(SpoofguardError):
        create_model("padnet", classes=["a", "a"])
    with pytest.raises(SpoofguardError):
        model_info("nope")


def test_register_model_rejects_duplicates():
    with pytest.raises(ValueError):
        register_model("padnet", default_input_size=128)(lambda classes, in_chans=3: None)


# --- central difference convolution ---------------------------------------------------------------


def explicit_cdc(x, conv, theta):
    """The paper's two-conv formula: conv(x, w) - theta * conv(x, sum_kernel(w)) (1x1, no padding)."""
    w = conv.weight
    out = F.conv2d(x, w, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    diff = F.conv2d(x, w.sum(dim=(2, 3), keepdim=True), None, conv.stride, 0, 1, conv.groups)
    return out - theta * diff


@pytest.mark.parametrize(
    "in_c, out_c, groups, stride, kernel",
    [(3, 8, 1, 1, 3), (3, 8, 1, 2, 3), (8, 8, 8, 1, 3), (8, 8, 8, 2, 3), (6, 12, 3, 1, 5)],
    ids=["regular", "regular-s2", "depthwise", "depthwise-s2", "grouped-k5"],
)
@pytest.mark.parametrize("theta", [0.7, 1.0, 0.3])
def test_cdc_equals_explicit_formula(in_c, out_c, groups, stride, kernel, theta):
    torch.manual_seed(0)
    conv = CDConv2d(in_c, out_c, kernel, stride=stride, groups=groups, bias=True, theta=theta)
    x = torch.randn(2, in_c, 13, 11)  # odd sizes: borders and stride remainders matter
    torch.testing.assert_close(conv(x), explicit_cdc(x, conv, theta), atol=1e-5, rtol=1e-5)
    fused = F.conv2d(x, conv.fused_weight(), conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    torch.testing.assert_close(conv(x), fused, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("groups", [1, 4])
def test_cdc_theta_zero_is_plain_conv(groups):
    torch.manual_seed(0)
    cdc = CDConv2d(4, 8, 3, groups=groups, theta=0.0)
    plain = torch.nn.Conv2d(4, 8, 3, padding=1, groups=groups, bias=False)
    plain.load_state_dict(cdc.state_dict())
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(cdc(x), plain(x), atol=1e-6, rtol=1e-6)


def test_cdc_gradient_flows_through_fused_weight():
    conv = CDConv2d(3, 4, 3, theta=0.7)
    x = torch.randn(1, 3, 8, 8)
    (conv(x) ** 2).sum().backward()
    ref = CDConv2d(3, 4, 3, theta=0.7)
    ref.load_state_dict(conv.state_dict())
    (explicit_cdc(x, ref, 0.7) ** 2).sum().backward()
    torch.testing.assert_close(conv.weight.grad, ref.weight.grad, atol=1e-5, rtol=1e-5)


def test_padnet_theta_zero_has_no_cdc_effect():
    # train mode (batch statistics, no dropout) keeps activations O(1) in an untrained net
    torch.manual_seed(0)
    cdc_net = create_model("padnet", classes=CLASSES, theta=0.0, drop=0.0).train()
    plain = create_model("padnet", classes=CLASSES, theta=0.0, drop=0.0).train()
    for m in list(plain.modules()):  # swap every CDConv2d for a plain Conv2d with the same weights
        for child_name, child in m.named_children():
            if isinstance(child, CDConv2d):
                conv = torch.nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                       child.padding, child.dilation, child.groups, bias=child.bias is not None)
                setattr(m, child_name, conv)
    plain.load_state_dict(cdc_net.state_dict())
    assert not any(isinstance(m, CDConv2d) for m in plain.modules())
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        expected = plain(x)
        assert expected.abs().max() > 1e-3
        torch.testing.assert_close(cdc_net(x), expected, atol=1e-5, rtol=1e-4)
        # and a non-zero theta does change the function
        other = create_model("padnet", classes=CLASSES, theta=0.7, drop=0.0).train()
        other.load_state_dict(cdc_net.state_dict())
        assert not torch.allclose(other(x), expected, atol=1e-3)


# --- ONNX export (skipped where onnx / onnxruntime are not installed) -------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_round_trip(name, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    size = 64
    kwargs = {"input_size": size} if "input_size" in model_info(name)["kwargs"] else {}
    model = create_model(name, classes=CLASSES, **kwargs).eval()
    x = torch.randn(2, 3, size, size)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "n"}}, opset_version=17)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    if any(isinstance(m, CDConv2d) for m in model.modules()):
        assert not ops & {"ReduceSum", "Sub", "Pad"}, f"CDC term not folded into the conv kernels: {ops}"
    (out,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert abs(out - expected).max() < 1e-4


@pytest.mark.parametrize("name", MODELS)
def test_capabilities_are_declared_and_match_the_methods(name):
    """What a model can do beyond forward is a flag in the registry, not found by probing it: every
    declared capability's methods exist, and no model has a capability's methods without declaring it."""
    from spoofguard.models import Capabilities, capabilities

    model = create_model(name, classes=CLASSES)
    declared = capabilities(model)
    assert declared == capabilities(name) and model_info(name)["fitted"] == declared.fitted
    for flag, methods in Capabilities.METHODS.items():
        assert getattr(declared, flag) == all(callable(getattr(model, m, None)) for m in methods), (name, flag)


def test_a_model_promising_what_it_lacks_cannot_be_built():
    from spoofguard.models import Capabilities

    @register_model("test-broken-promise", default_input_size=32, capabilities=Capabilities(prototypes=True))
    def broken(classes, in_chans=3):
        """A plain net that claims prototypes."""
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(len(classes)))

    try:
        with pytest.raises(TypeError, match="set_prototypes"):
            create_model("test-broken-promise", classes=CLASSES)
    finally:
        from spoofguard.models import registry

        for table in (registry._BUILDERS, registry._INFO, registry._BOUNDS, registry._CAPABILITIES):
            table.pop("test-broken-promise", None)
