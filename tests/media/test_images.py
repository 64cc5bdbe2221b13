import numpy as np
import pytest
from PIL import Image

from spoofguard.media.images import as_array, load_image
from spoofguard.errors import SpoofguardError


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "LA", "1"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_mode_becomes_uint8_with_requested_channels(tmp_path, mode, channels):
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8), "RGB")
    if mode == "I;16":
        img = Image.fromarray((rng.integers(0, 65535, (20, 30))).astype(np.uint16))
    else:
        img = base.convert(mode)
    path = tmp_path / "x.png"
    img.save(path)
    a = load_image(path, channels)
    assert a.dtype == np.uint8 and a.shape == (20, 30, channels)


def test_16bit_uses_full_range(tmp_path):
    img = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    img.save(tmp_path / "w.png")
    assert load_image(tmp_path / "w.png", 1).max() == 255


def test_rgba_transparency_is_flattened_on_white(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(a, "RGBA").save(tmp_path / "t.png")
    assert (load_image(tmp_path / "t.png", 3) == 255).all()


@pytest.mark.parametrize(
    "content, expected",
    [(b"", "empty"), (b"hello, I am text", "not an image"), (None, "truncated")],
)
def test_unreadable_files_are_refused_with_the_reason(tmp_path, content, expected):
    path = tmp_path / "bad.png"
    if content is None:
        Image.fromarray(np.zeros((64, 64), np.uint8) + 7).save(tmp_path / "ok.png")
        path.write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    else:
        path.write_bytes(content)
    with pytest.raises(SpoofguardError, match=expected):
        load_image(path, 1)


def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    # a 20000x20000 PNG that is tiny on disk
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")
    with pytest.raises(SpoofguardError, match="pixels"):
        load_image(tmp_path / "bomb.png", 1)


def test_missing_path(tmp_path):
    with pytest.raises(SpoofguardError, match="no such file"):
        load_image(tmp_path / "nope.png")


def test_arrays_of_any_dtype():
    assert as_array(np.full((5, 5), 65535, np.uint16), 1).max() == 255
    assert as_array(np.ones((5, 5, 3), np.float32), 3).max() == 255
    with pytest.raises(SpoofguardError, match="NaN"):
        as_array(np.full((5, 5), np.nan), 1)
    with pytest.raises(SpoofguardError, match="shape"):
        as_array(np.zeros((2, 5, 5, 3)), 3)


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((10, 20, 3), np.uint8)
    a[:, :10] = 255  # left half white
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "phone.jpg", 3)
    assert out.shape == (20, 10, 3)  # displayed upright: portrait
    assert out[:5].mean() > 200 and out[-5:].mean() < 50  # the white half is now on top
