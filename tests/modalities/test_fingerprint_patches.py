"""The fingerprint patch pipeline: foreground, patch grid, training patches, heatmap, detector fusion."""

import numpy as np
import pytest
import torch
from PIL import Image

from spoofguard.modalities import Preprocessing
from spoofguard.modalities.fingerprint import foreground_mask, patch_grid, patch_heatmap, random_patch, region


def ridges(h=200, w=160, box=(40, 30, 120, 100), period=9.0):
    """White capture with a ridge pattern inside ``box`` = (y, x, h, w)."""
    img = np.full((h, w), 235, np.uint8)
    y, x, bh, bw = box
    yy, xx = np.mgrid[0:bh, 0:bw]
    img[y : y + bh, x : x + bw] = (128 + 100 * np.sin(2 * np.pi * (xx + 0.3 * yy) / period)).astype(np.uint8)
    return img


def test_foreground_is_the_ridge_area_and_blank_has_none():
    img = ridges()
    mask = foreground_mask(img)
    assert mask[90, 80] and not mask[5, 5] and not mask[195, 155]
    x, y, w, h = region(mask)
    assert abs(x - 30) <= 10 and abs(y - 40) <= 10 and abs(w - 100) <= 20 and abs(h - 120) <= 20
    assert not foreground_mask(np.full((100, 100), 200, np.uint8)).any()
    assert region(np.zeros((10, 10), bool)) is None


def test_patch_grid_keeps_foreground_patches_and_caps_their_number():
    mask = foreground_mask(ridges())
    corners = patch_grid(mask, 48, 24, min_foreground=0.5)
    assert corners and all(mask[y : y + 48, x : x + 48].mean() >= 0.5 for y, x in corners)
    assert len(patch_grid(mask, 48, 8, max_patches=5)) == 5
    # no patch qualifies: the one with the most finger is used, never nothing
    assert len(patch_grid(np.zeros((100, 100), bool), 48, 24)) == 1


def test_random_patch_is_on_the_finger():
    mask = foreground_mask(ridges())
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, x = random_patch(mask, 48, rng)
        assert mask[y : y + 48, x : x + 48].mean() >= 0.5


def test_heatmap_averages_overlapping_patches_and_leaves_the_rest_nan():
    hm = patch_heatmap((10, 10), [(0, 0), (0, 2)], 4, [1.0, 0.0])
    assert hm[0, 0] == 1.0 and hm[0, 5] == 0.0 and hm[0, 3] == pytest.approx(0.5)
    assert np.isnan(hm[9, 9])


@pytest.mark.parametrize("kind", ["grey", "rgb", "rgba", "uint16", "small"])
def test_patch_views_of_any_image_mode_and_size(kind):
    img = ridges()
    if kind == "rgb":
        img = np.repeat(img[..., None], 3, 2)
    elif kind == "rgba":
        img = np.dstack([np.repeat(img[..., None], 3, 2), np.full(img.shape, 255, np.uint8)])
    elif kind == "uint16":
        img = img.astype(np.uint16) * 257
    elif kind == "small":
        img = ridges(40, 30, box=(0, 0, 40, 30))
    pre = Preprocessing("fingerprint", 48, crop="patches")
    views = pre.views(img)
    assert views.arrays.shape[1:] == (48, 48, 1) and views.arrays.dtype == np.uint8
    assert len(views.arrays) == len(views.corners) >= 1
    assert views.shape == img.shape[:2]
    # a patch is the capture at native resolution, not a resized copy
    if kind == "grey":
        y, x = views.corners[0]
        assert np.array_equal(views.arrays[0, ..., 0], img[y : y + 48, x : x + 48])


def test_preprocessing_round_trips_and_refuses_patches_for_faces():
    pre = Preprocessing("fingerprint", 96, crop="patches", patch_stride=40, max_patches=10)
    again = Preprocessing.from_dict(pre.to_dict())
    assert again == pre and again.patch_stride == 40
    assert Preprocessing("fingerprint", 96, crop="patches").patch_stride == 48
    from spoofguard.errors import SpoofguardError

    with pytest.raises(SpoofguardError, match="fingerprint"):
        Preprocessing("face", 96, crop="patches")
    with pytest.raises(SpoofguardError, match="crop"):
        Preprocessing("fingerprint", 96, crop="tiles")


def test_detector_fuses_patch_scores_and_gives_a_heatmap(tmp_path):
    from spoofguard.inference.bundle import load_bundle, save_bundle
    from spoofguard.inference.detector import Detector
    from spoofguard.models import create_model

    model = create_model("padnet", classes=["bona_fide", "attack"], in_chans=1, width=0.5)
    pre = Preprocessing("fingerprint", 48, crop="patches")
    save_bundle(tmp_path / "m.safetensors", model, {"classes": ["bona_fide", "attack"], "preprocessing": pre.to_dict(), "threshold": 0.5})
    det = Detector(load_bundle(tmp_path / "m.safetensors"))
    img = ridges()
    path = tmp_path / "print.png"
    Image.fromarray(img).save(path)
    p = det.predict(str(path))
    assert p.views == len(p.view_scores) > 1
    assert p.score == pytest.approx(float(np.mean(p.view_scores)), abs=1e-6)
    assert p.region is not None and p.image_shape == img.shape
    hm = p.heatmap()
    assert hm.shape == img.shape and np.isnan(hm[0, 0]) and np.isfinite(hm[100, 80])
    # the same capture as an array gives the same answer
    assert det.predict(img).score == pytest.approx(p.score, abs=1e-6)
    assert set(p.to_dict()) >= {"score", "verdict", "region", "views", "view_scores"}
    with torch.no_grad():
        assert 0.0 <= p.score <= 1.0
