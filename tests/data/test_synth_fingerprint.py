"""The synthetic fingerprint generator: deterministic, every species, readable by `data scan`, looks like a print."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from spoofguard.data.importers import import_dataset
from spoofguard.data.manifest import ATTACK, BONA_FIDE, read_manifest
from spoofguard.data.synth.fingerprint import SPECIES, SPECIES_ARTEFACTS, generate_fingerprints, plan, save_grid
from spoofguard.errors import SpoofguardError

N, SIZE = 14, 96


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "fp"
    calls = []
    manifest = generate_fingerprints(root, n=N, species=SPECIES, seed=7, size=SIZE, progress=lambda i, n: calls.append((i, n)))
    return root, manifest, calls


def test_same_seed_same_bytes_other_seed_other_bytes(generated, tmp_path):
    root, _, _ = generated
    again = tmp_path / "again"
    generate_fingerprints(again, n=N, species=SPECIES, seed=7, size=SIZE)
    assert files(root) == files(again)
    other = tmp_path / "other"
    generate_fingerprints(other, n=N, species=SPECIES, seed=8, size=SIZE)
    a, b = files(root), files(other)
    assert [k for k in a if k.endswith(".png")] and any(a[k] != b.get(k) for k in a if k.endswith(".png"))


def test_every_species_about_half_bona_fide_and_8bit_grey(generated):
    root, manifest, calls = generated
    counts = manifest.counts()
    assert counts[(BONA_FIDE, "")] == (N + 1) // 2
    assert {sp for (label, sp) in counts if label == ATTACK} == set(SPECIES)
    assert sum(counts.values()) == N and calls[-1] == (N, N) and len(calls) == N
    img = Image.open(manifest[0].path)
    assert img.mode == "L" and img.size == (SIZE, SIZE)
    assert all(SPECIES_ARTEFACTS[sp] for sp in SPECIES)


def test_layout_is_read_back_by_the_folder_importer(generated):
    root, manifest, _ = generated
    scanned = import_dataset(root, subject_pattern=r"^(f\d+)_").manifest
    expect = {(s.path, s.label, s.species, s.subject) for s in manifest}
    assert {(s.path, s.label, s.species, s.subject) for s in scanned} == expect
    assert all(Path(s.path).parent.name == (s.species or "live") for s in manifest)
    from_csv = read_manifest(root / "manifest.csv")
    rows = [(s.path, s.label, s.species, s.subject) for s in manifest]
    assert [(s.path, s.label, s.species, s.subject) for s in from_csv] == rows


def test_a_finger_has_several_impressions_and_may_be_spoofed():
    rows = plan(200, SPECIES, seed=0)
    by_finger: dict[int, set[str]] = {}
    for finger, _, sp in rows:
        by_finger.setdefault(finger, set()).add(sp)
    assert len(by_finger) == 50
    assert any("" in kinds and len(kinds) > 1 for kinds in by_finger.values())  # live and spoof of one finger
    assert len({(f, i) for f, i, _ in rows}) == 200  # unique file names


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"species": ("gelatine", "glue")}, "known species: gelatine, latex, woodglue, silicone, playdoh"),
        ({"n": 1, "species": ("latex",)}, "at least 2"),
        ({"n": 6}, "twice the number of species"),
        ({"size": 32}, "between 64"),
        ({"seed": -1}, "non-negative"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    args = {"n": 10, "species": SPECIES, "size": 64, **kwargs}
    with pytest.raises(SpoofguardError, match=message):
        generate_fingerprints(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_never_writes_into_a_folder_with_content(tmp_path):
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(SpoofguardError, match="not empty"):
        generate_fingerprints(tmp_path, n=4, species=("latex",), size=64)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(generate_fingerprints(empty, n=4, species="latex,silicone", size=64)) == 4


def coherence(a: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """Structure-tensor coherence per pixel: 1 for perfectly parallel ridges, ~0 for noise."""
    a = a.astype(np.float32)
    gx, gy = cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.GaussianBlur(v, (0, 0), sigma) for v in (gx * gx, gy * gy, gx * gy))
    return np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / (jxx + jyy + 1e-6)


def local_std(a: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    a = a.astype(np.float32)
    m = cv2.GaussianBlur(a, (0, 0), sigma)
    return np.sqrt(np.maximum(cv2.GaussianBlur(a * a, (0, 0), sigma) - m * m, 0))


def test_bona_fide_print_has_ridges_on_a_finger_and_a_background(tmp_path):
    manifest = generate_fingerprints(tmp_path / "fp", n=6, species=("gelatine",), seed=1, size=128)
    for s in (s for s in manifest if s.label == BONA_FIDE):
        a = np.asarray(Image.open(s.path))
        finger = local_std(a) > 20
        assert 0.3 < finger.mean() < 0.95  # a finger, not the whole frame
        assert coherence(a)[finger].mean() > 0.5  # oriented ridges (white noise gives ~0.1)
        corners = [a[:16, :16], a[:16, -16:], a[-16:, :16], a[-16:, -16:]]
        flat = [c for c in corners if c.std() < 12]
        assert flat and max(c.mean() for c in flat) > a[finger].mean()  # a pale, plain background
    noise = np.random.default_rng(0).integers(0, 256, (128, 128)).astype(np.uint8)
    assert coherence(noise).mean() < 0.3


def test_save_grid(generated, tmp_path):
    _, manifest, _ = generated
    out = save_grid(manifest, tmp_path / "grid.png", per_class=2)
    img = Image.open(out)
    assert img.size[0] > 300 and img.size[1] > 6 * 150
