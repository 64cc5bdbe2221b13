"""texture: the descriptors against independent implementations, the foreground, fitting, the bundle."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spoofguard import Detector, load_bundle
from spoofguard.models import create_model, model_info
from spoofguard.models import texture as tx
from tests.conftest import make_dataset, ridge_image

torch.set_num_threads(1)
CLASSES = ["bona_fide", "attack"]


def _grey(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float32)[None, None]


@pytest.mark.parametrize("p, r", [(16, 2), (24, 3), (8, 1)])
def test_rotation_invariant_uniform_codes_equal_scikit_image(p, r):
    """Source of truth: scikit-image's ``local_binary_pattern(method="uniform")`` (Ojala et al. 2002)."""
    skimage = pytest.importorskip("skimage.feature")
    img = np.random.default_rng(0).integers(0, 256, (40, 44)).astype(np.uint8)
    ours = tx._lbp_codes(_grey(img), p, r, "riu2", None)[0].numpy()
    theirs = skimage.local_binary_pattern(img, p, r, method="uniform").astype(int)[r:-r, r:-r]
    assert ours.shape == theirs.shape
    assert (ours == theirs).mean() > 0.995  # interpolation rounding may flip a bit where a neighbour equals the centre


def test_uniform_codes_map_one_to_one_onto_scikit_images():
    """u2 (59 bins for P=8): the same partition of pixels as scikit-image's ``nri_uniform``, up to bin names."""
    skimage = pytest.importorskip("skimage.feature")
    img = np.random.default_rng(1).integers(0, 256, (40, 40)).astype(np.uint8)
    ours = tx._lbp_codes(_grey(img), 8, 1, "u2", tx._u2_table(8))[0].numpy().ravel()
    theirs = skimage.local_binary_pattern(img, 8, 1, method="nri_uniform").astype(int)[1:-1, 1:-1].ravel()
    pairs = set(zip(ours.tolist(), theirs.tolist()))
    assert len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist()))
    assert int(tx._u2_table(8).max()) == 58  # 58 uniform patterns + one bin for the rest


def test_lpq_separable_parts_equal_the_2d_filters():
    """The separable STFT equals correlation with the outer-product kernels of Ojansivu & Heikkila."""
    g = torch.rand(2, 1, 30, 33) * 255
    k = tx._lpq_kernels()
    ones, re, im = k[0].double(), k[1].double(), k[2].double()
    w1 = torch.complex(re, im)
    w0 = torch.complex(ones, torch.zeros_like(ones))
    direct = []
    for rows, cols in ((w0, w1), (w1, w0), (w1, w1), (w1, w1.conj())):
        kern = rows[:, None] * cols[None, :]
        direct += [kern.real, kern.imag]
    expected = F.conv2d(g.double(), torch.stack(direct)[:, None])
    torch.testing.assert_close(tx._lpq_parts(g, k).double(), expected, rtol=1e-4, atol=1e-2)


def test_foreground_finds_the_finger_and_nothing_on_a_blank_capture():
    model = create_model("texture", CLASSES, in_chans=1)
    canvas = np.full((160, 160), 200, np.uint8)
    canvas[40:120, 30:110] = ridge_image(np.random.default_rng(0), False, size=(80, 80))
    mask = model.foreground(_grey(canvas))[0, 0].numpy() > 0.5
    assert mask[50:110, 40:100].mean() > 0.95  # the finger
    assert mask[:20].mean() == 0 and mask[:, 140:].mean() == 0  # the flat background
    assert model.foreground(_grey(np.full((64, 64), 128, np.uint8))).sum() == 0


def test_features_are_normalised_histograms_and_blank_input_stays_finite():
    model = create_model("texture", CLASSES, in_chans=1).eval()
    x = torch.stack([_grey(ridge_image(np.random.default_rng(i), i % 2 == 1, size=(96, 96)))[0] for i in range(3)]
                    + [torch.zeros(1, 96, 96)])
    f = model.descriptors(x)
    assert f.shape == (4, tx.feature_count())
    start = 0
    for p, _, kind in tx.LBP_SCALES:  # each block is a square-rooted histogram: its squares sum to 1
        n = p * (p - 1) + 3 if kind == "u2" else p + 2
        torch.testing.assert_close((f[:, start : start + n] ** 2).sum(1), torch.ones(4), atol=1e-5, rtol=0)
        start += n
    assert torch.isfinite(model(x)).all()


def test_registered_as_a_fitted_native_view_model():
    info = model_info("texture")
    assert info["fitted"] and info["fingerprint_crop"] == "native"
    model = create_model("texture", CLASSES, in_chans=1)
    assert not list(model.parameters())  # nothing for gradient descent: the classifier lives in buffers
    assert {"feature_mean", "feature_scale", "weight", "bias"} <= set(model.state_dict())


@pytest.fixture(scope="module")
def texture_run(tmp_path_factory):
    from spoofguard.training.train import train

    root = make_dataset(tmp_path_factory.mktemp("tx") / "prints", n_live=30, n_per_species=15, subjects=10, seed=3)
    out = tmp_path_factory.mktemp("runs") / "texture"
    return train(data=str(root), out=str(out), model="texture", input_size=96, subject_pattern=r"^(\d+)_", progress=False)


def test_training_fits_on_train_and_dev_and_thresholds_out_of_fold(texture_run):
    bundle = load_bundle(texture_run.bundle)
    meta = bundle.metadata
    assert meta["architecture"]["name"] == "texture"
    assert "out-of-fold" in meta["threshold_source"] and texture_run.fitted and texture_run.epochs_run == 0
    assert meta["preprocessing"]["crop"] == "native" and meta["preprocessing"]["std"] == [1.0]
    assert meta["dev_metrics"]["accuracy"] > 0.9  # crisp vs softened ridges: an easy texture task
    assert float(bundle.model.weight.abs().sum()) > 0  # the classifier was written into the model


def test_bundle_round_trip_and_prediction(texture_run, tmp_path):
    from PIL import Image

    det = Detector.from_file(texture_run.bundle)
    rng = np.random.default_rng(99)
    live, fake = ridge_image(rng, False), ridge_image(rng, True)
    p_live, p_fake = det.predict(live), det.predict(fake)
    assert p_live.score > p_fake.score
    assert p_live.verdict == ("bona_fide" if p_live.score >= det.threshold else "attack")
    Image.fromarray(live).save(tmp_path / "x.png")
    again = Detector.from_file(texture_run.bundle).predict(str(tmp_path / "x.png"))
    assert again.score == pytest.approx(p_live.score, abs=1e-6)


def test_served_like_any_model(texture_run):
    import io

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from PIL import Image

    from spoofguard.serve.app import ServeSettings, create_app

    buf = io.BytesIO()
    Image.fromarray(ridge_image(np.random.default_rng(5), False)).save(buf, format="PNG")
    with TestClient(create_app(ServeSettings(str(texture_run.bundle), ui=False))) as c:
        r = c.post("/api/v1/predict", files={"file": ("p.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] in ("bona_fide", "attack") and 0 <= body["score"] <= 1


def test_exports_to_onnx_with_the_same_scores(texture_run, tmp_path):
    """Every code is an exact comparison, so onnxruntime's histograms equal torch's (they differed by
    up to 0.03 in score when LPQ signs and WLD bins were read off float values at 0)."""
    from PIL import Image

    from spoofguard.inference.export import parity
    from spoofguard.inference.onnx_model import export_onnx

    rng = np.random.default_rng(7)
    images = []
    for i in range(4):
        canvas = np.full((120, 110), 180, np.uint8)  # flat background around the finger, as on a scanner
        canvas[20:92, 20:84] = ridge_image(rng, i % 2 == 1)
        Image.fromarray(canvas).save(tmp_path / f"{i}.png")
        images.append(str(tmp_path / f"{i}.png"))
    onnx = export_onnx(texture_run.bundle, tmp_path / "texture.onnx")
    r = parity(texture_run.bundle, onnx, images)
    assert r.n_real == 4 and r.real_max_abs_diff < 1e-5 and r.random_max_abs_diff < 1e-5


def test_the_native_canvas_pads_small_captures_and_cuts_large_ones_around_the_finger():
    from spoofguard.modalities import Preprocessing

    pre = Preprocessing("fingerprint", 128, crop="native", mean=[0.0], std=[1.0], pixel_range=255.0)
    small = ridge_image(np.random.default_rng(1), False, size=(72, 64))
    view = pre.views(small).arrays[0][..., 0]
    assert view.shape == (128, 128)
    top, left = (128 - 72) // 2, (128 - 64) // 2
    np.testing.assert_array_equal(view[top : top + 72, left : left + 64], small)  # native pixels, never resized
    assert len(np.unique(view[:top])) == 1  # the padding is flat: no texture invented
    big = np.full((400, 500), 200, np.uint8)  # a large capture with the finger near a corner
    big[260:360, 380:470] = ridge_image(np.random.default_rng(2), False, size=(100, 90))
    cut = pre.views(big).arrays[0][..., 0]
    assert (cut != 200).mean() > 0.4  # the finger is in the view (the frame's centre holds none of it)
