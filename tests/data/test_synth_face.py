"""Simulated face attacks: shapes, determinism, the dataset layout, errors, and one physical trace each."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from spoofguard.data.importers import import_dataset
from spoofguard.data.manifest import read_manifest
from spoofguard.data.synth import face as synth
from spoofguard.data.synth.face import (
    FACE_SPECIES,
    default_face_photos,
    save_grid,
    simulate_attack,
    synthesize_faces,
    vary_bona_fide,
)
from spoofguard.errors import SpoofguardError

EYES = ((0.35, 0.4), (0.65, 0.4))


def portrait(h=160, w=128, seed=0) -> np.ndarray:
    """A crude self-made portrait: blue backdrop, skin-toned head, dark eyes, some texture."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (60, 90, 170)
    cv2.ellipse(img, (w // 2, int(0.45 * h)), (int(0.3 * w), int(0.32 * h)), 0, 0, 360, (215, 170, 140), -1)
    for ex in (0.35, 0.65):
        cv2.circle(img, (int(ex * w), int(0.4 * h)), max(2, w // 25), (40, 30, 25), -1)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def chroma(a: np.ndarray) -> float:
    m = a.reshape(-1, 3).astype(np.float64).mean(0)
    return float(m.max() - m.min())


def centre(a: np.ndarray, frac=0.15) -> np.ndarray:
    h, w = a.shape[:2]
    return a[int(h * (0.5 - frac)) : int(h * (0.5 + frac)), int(w * (0.5 - frac)) : int(w * (0.5 + frac))]


def peak_ratio(grey: np.ndarray) -> float:
    """Strongest spectral line above 0.12 cycles/pixel over the median magnitude there."""
    g = grey.astype(np.float64) - grey.mean()
    f = np.abs(np.fft.fftshift(np.fft.fft2(g * np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1])))))
    fy = np.fft.fftshift(np.fft.fftfreq(g.shape[0]))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(g.shape[1]))[None]
    ring = np.hypot(fx, fy) > 0.12
    return float(f[ring].max() / np.median(f[ring]))


@pytest.mark.parametrize("species", FACE_SPECIES)
def test_each_species_changes_the_image_and_keeps_shape(species):
    img = portrait()
    out = simulate_attack(img, species, np.random.default_rng(1))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).mean() > 10


@pytest.mark.parametrize("species", FACE_SPECIES)
def test_same_seed_same_attack(species):
    img = portrait()
    a = simulate_attack(img, species, np.random.default_rng(7))
    b = simulate_attack(img, species, np.random.default_rng(7))
    c = simulate_attack(img, species, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bona_fide_variants_vary_a_little():
    img = portrait()
    a, b = vary_bona_fide(img, np.random.default_rng(0)), vary_bona_fide(img, np.random.default_rng(1))
    assert a.shape == img.shape and a.dtype == np.uint8 and not np.array_equal(a, b)
    assert np.abs(a.astype(int) - img).mean() < 25


def test_bad_species_and_bad_arrays():
    with pytest.raises(SpoofguardError, match="print, replay, cutout"):
        simulate_attack(portrait(), "mask3d", np.random.default_rng(0))
    with pytest.raises(SpoofguardError, match=r"\(H, W, 3\)"):
        simulate_attack(portrait()[..., 0], "print", np.random.default_rng(0))


def test_print_compresses_the_gamut_and_prints_a_halftone():
    red = np.full((192, 192, 3), (210, 40, 40), np.uint8)
    white = np.full((192, 192, 3), 255, np.uint8)
    for seed in range(3):
        out = simulate_attack(red, "print", np.random.default_rng(seed))
        assert chroma(centre(out)) < 0.85 * chroma(red)  # less saturated than the source
    # paper white is not 255 (a gloss highlight may sometimes say otherwise, hence the median)
    papers = [np.median(centre(simulate_attack(white, "print", np.random.default_rng(s)))) for s in range(5)]
    assert np.median(papers) < 240
    # the dot screen puts its energy at the screen frequency
    period = 4.0
    flat = np.full((128, 128, 3), 0.5, np.float32)
    ht = synth._halftone(flat, period, 0.0, np.random.default_rng(0), sharpness=4.0)
    grey = ht.mean(2) - ht.mean()
    f = np.abs(np.fft.fft2(grey))
    f[0, 0] = 0
    ky, kx = np.unravel_index(np.argmax(f), f.shape)
    fy, fx = np.fft.fftfreq(128)[ky], np.fft.fftfreq(128)[kx]
    assert np.hypot(fx, fy) == pytest.approx(1 / period, rel=0.1)


def test_replay_shows_the_screen_pixel_grid():
    grey = np.full((256, 256, 3), 150, np.uint8)
    live = vary_bona_fide(grey, np.random.default_rng(0))
    assert peak_ratio(centre(live, 0.2)[..., 1]) < 60  # sensor noise only: no spectral line
    for seed in range(3):
        out = simulate_attack(grey, "replay", np.random.default_rng(seed))
        assert peak_ratio(centre(out, 0.2)[..., 1]) > 150
    # the sub-pixel stripes repeat at the pixel pitch
    pitch = 3.5
    lcd = synth._screen_pixels(np.full((40, 40, 3), 0.5, np.float32), pitch, 140, 140)
    row = lcd[10, :, 0] - lcd[10, :, 0].mean()
    f = np.abs(np.fft.rfft(row))
    assert np.fft.rfftfreq(140)[np.argmax(f)] == pytest.approx(1 / pitch, rel=0.05)
    assert lcd.mean() == pytest.approx(0.5, rel=0.03)  # the grid moves light, it does not add any


def test_cutout_shows_what_is_behind_the_eye_holes():
    h, w = 256, 256
    blue = np.full((h, w, 3), (40, 60, 200), np.uint8)
    for seed in range(3):
        out = simulate_attack(blue, "cutout", np.random.default_rng(seed), eyes=EYES).astype(int)
        for ex, ey in EYES:
            x, y = int(ex * w), int(ey * h)
            hole = out[y - 2 : y + 3, x - 2 : x + 3]
            assert (hole[..., 2] - hole[..., 0]).mean() < 30  # skin or eye, not the blue print
        nose = out[int(0.55 * h) - 2 : int(0.55 * h) + 3, w // 2 - 2 : w // 2 + 3]
        assert (nose[..., 2] - nose[..., 0]).mean() > 50  # the paper is still there


def test_locate_eyes_falls_back_to_the_prior():
    assert synth.locate_eyes(np.full((100, 80, 3), 128, np.uint8)) == synth.PRIOR_EYES


def test_default_face_photos_include_grace_hopper():
    photos = default_face_photos()
    assert any(p.name == "grace_hopper.jpg" and p.is_file() for p in photos)


@pytest.fixture()
def faces_dir(tmp_path):
    d = tmp_path / "faces"
    d.mkdir()
    Image.fromarray(portrait(seed=1)).save(d / "alice.png")
    Image.fromarray(portrait(140, 120, seed=2)).save(d / "bob.jpg")
    return d


def test_synthesize_writes_the_folder_layout(faces_dir, tmp_path):
    out = tmp_path / "synth"
    m = synthesize_faces(out, faces=[faces_dir], variants=2, seed=3)
    assert len(m) == 2 * 2 * (1 + len(FACE_SPECIES))
    for cls in ("live", *FACE_SPECIES):
        assert sorted(p.name for p in (out / cls).iterdir()) == ["alice_0.png", "alice_1.png", "bob_0.png", "bob_1.png"]
    imported = import_dataset(out).manifest
    got = {(s.path.split("/")[-2], s.label, s.species) for s in imported}
    assert got == {("live", "bona_fide", "")} | {(sp, "attack", sp) for sp in FACE_SPECIES}
    again = read_manifest(out / "manifest.csv")
    assert sorted((s.path, s.label, s.species, s.subject) for s in again) == sorted(
        (s.path, s.label, s.species, s.subject) for s in m)
    assert {s.subject for s in again} == {"alice", "bob"}
    bob = Image.open(out / "cutout" / "bob_0.png")
    assert bob.size == (120, 140) and bob.mode == "RGB"
    grid = save_grid(out, tmp_path / "grid.png")
    assert Image.open(grid).size[0] > 400


def test_synthesize_is_deterministic(faces_dir, tmp_path):
    a = synthesize_faces(tmp_path / "a", faces=[faces_dir / "alice.png"], variants=1, species=("print", "cutout"), seed=5)
    synthesize_faces(tmp_path / "b", faces=[faces_dir / "alice.png"], variants=1, species=("print", "cutout"), seed=5)
    for s in a:
        rel = s.path.split("/")[-2:]
        assert (tmp_path / "a" / rel[0] / rel[1]).read_bytes() == (tmp_path / "b" / rel[0] / rel[1]).read_bytes()
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (tmp_path / "b" / "manifest.csv").read_bytes()


def test_synthesize_from_the_default_photos(tmp_path):
    m = synthesize_faces(tmp_path / "d", variants=1, species=("replay",))
    assert {s.subject for s in m} >= {"grace_hopper"}
    assert {s.class_name for s in m} == {"bona_fide", "replay"}


def test_synthesize_errors(faces_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "face.jpg").write_text("not a picture")
    with pytest.raises(SpoofguardError, match="face.jpg"):
        synthesize_faces(tmp_path / "o1", faces=[bad])
    assert not (tmp_path / "o1").exists()  # nothing half-written
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpoofguardError, match="no image files"):
        synthesize_faces(tmp_path / "o2", faces=[empty])
    with pytest.raises(SpoofguardError, match="no such file"):
        synthesize_faces(tmp_path / "o3", faces=[tmp_path / "missing.png"])
    with pytest.raises(SpoofguardError, match="known species: print, replay, cutout"):
        synthesize_faces(tmp_path / "o4", faces=[faces_dir], species=("print", "gelatine"))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x.txt").write_text("keep me")
    with pytest.raises(SpoofguardError, match="not an empty folder"):
        synthesize_faces(taken, faces=[faces_dir])
    synthesize_faces(tmp_path / "o5", faces=[faces_dir / "alice.png"], variants=1, species=("print",))
    with pytest.raises(SpoofguardError, match="not an empty folder"):
        synthesize_faces(tmp_path / "o5", faces=[faces_dir / "alice.png"], variants=1, species=("print",))
