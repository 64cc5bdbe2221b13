"""Simulated face presentation attacks made from real face photos.

:func:`simulate_attack` turns one bona fide face photo into a picture of an attack on it, as a camera
would see it. Three species, each built from the physical effects that give real attacks away:

``print``
    The photo printed on paper and held up to the camera: CMYK halftone dot screens (rotated, soft
    dots), the printer's smaller colour gamut (ink black is not black, paper white is not 255, less
    saturation, dot gain), paper texture (low-frequency fibrous noise), and the paper itself in the
    frame: its white border and edge, a slight perspective tilt and bend shading, a drop shadow, the
    background beyond it (desk, wall, clutter), sometimes a gloss highlight or the thumb holding it.
``replay``
    The photo shown on a phone or tablet: the screen's RGB sub-pixel stripes and black matrix rendered
    at a screen pixel pitch of about 1.2-3.2 camera pixels, then resampled through a perspective tilt
    (moire where the grid beats with the camera's), the display's gamma, raised black level and
    white-point (colour temperature) shift, glare on the glass (a soft bright ellipse, sometimes a
    specular streak, a faint reflection of the room), and the device: a dark rounded-rectangle bezel
    with a front-camera dot, held in front of a background.
``cutout``
    The printed photo (halftone, gamut, texture as for ``print``) cut with scissors along an irregular
    bust outline (head, neck, shoulders running off the frame), with holes at the eyes through which
    the attacker behind it shows: skin and a real eye (socket, sclera, iris, pupil, lid). Around the cut
    edge: the attacker's hair and the room, with the paper's shadow on them.

Every attack ends with the same camera step that bona fide variants get (:func:`vary_bona_fide`):
slight defocus and sensor noise, so blur and noise alone do not tell attacks apart.

Eye positions (for the cut-out's holes) come, in this order, from the ``eyes=`` argument (relative
``(x, y)`` pairs), a table of the photos that ship with packages (``KNOWN_EYES``: Grace Hopper,
measured by hand), OpenCV's Haar frontal-face cascade (``cv2.data.haarcascades``, shipped with
opencv-python-headless < 5; tried upright, then turned a quarter either way for sideways phone photos)
with the eyes at fixed proportions of the face box (31 % / 69 % across, 38 % down), and failing that a
portrait prior (eyes at 38 % of the height, 35 % / 65 % of the width). The cascade costs about 15 ms
per photo; as training-time augmentation pass ``eyes=`` (e.g. ``PRIOR_EYES`` for centred face crops)
to skip it.

:func:`synthesize_faces` writes a dataset in the folder layout (``live/``, ``print/``, ``replay/``,
``cutout/``) with a ``manifest.csv``; :func:`save_grid` draws a titled picture grid of one.
All randomness comes from a seeded ``numpy.random.Generator``: the same seed gives the same bytes.
"""

from __future__ import annotations

import importlib.util
import math
import os
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
from PIL import Image

from spoofguard.media.images import is_image_file, load_image
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample, read_manifest, write_manifest
from spoofguard.errors import SpoofguardError

FACE_SPECIES = ("print", "replay", "cutout")
LIVE_FOLDER = "live"
MAX_SIDE = 768  # photos larger than this are shrunk first (the attacks cost time per pixel)

# Relative (x, y) positions of the subject's right and left eye (image left first) in photos that ship
# with packages, measured by hand on the files.
KNOWN_EYES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "grace_hopper": ((0.434, 0.312), (0.596, 0.310)),
}
PRIOR_EYES = ((0.35, 0.38), (0.65, 0.38))
SCREEN_PITCH = (1.2, 3.2)  # replay: screen pixel pitch in output pixels
HALFTONE_PERIOD = (2.2, 3.6)  # print: halftone cell size on the paper, in photo pixels

Eyes = tuple[tuple[float, float], tuple[float, float]]


# --------------------------------------------------------------------------------------------------
# public API


def simulate_attack(image: np.ndarray, species: str, rng: np.random.Generator, *, eyes: Eyes | None = None) -> np.ndarray:
    """A simulated presentation attack of ``species`` made from a bona fide face photo.

    ``image`` is ``uint8 (H, W, 3)`` RGB; the result has the same shape and dtype. ``eyes`` (relative
    ``(x, y)`` of both eyes) is only used by ``cutout``; when None it is found as the module doc says.
    """
    if species not in FACE_SPECIES:
        raise SpoofguardError(f"unknown face attack species {species!r}; known species: {', '.join(FACE_SPECIES)}.")
    img = _check_image(image)
    photo = img.astype(np.float32) / 255.0
    if species == "print":
        out = _print_attack(photo, rng)
    elif species == "replay":
        out = _replay_attack(photo, rng)
    else:
        if eyes is None:
            eyes = locate_eyes(img)
        out = _cutout_attack(photo, eyes, rng)
    out = _camera(out, rng)
    return _to_uint8(out)


def vary_bona_fide(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lightly varied bona fide capture: crop and rescale, brightness/contrast, the camera step."""
    img = _check_image(image).astype(np.float32) / 255.0
    h, w = img.shape[:2]
    s = rng.uniform(0.86, 1.0)
    ch, cw = max(1, round(h * s)), max(1, round(w * s))
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = img[y0 : y0 + ch, x0 : x0 + cw]
    out = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    gain, contrast = rng.uniform(0.88, 1.12), rng.uniform(0.9, 1.08)
    mean = out.mean()
    out = (out - mean) * contrast + mean * gain
    return _to_uint8(_camera(out, rng))


def locate_eyes(image: np.ndarray) -> Eyes:
    """Relative ``(x, y)`` of both eyes, the subject's right eye (image left when upright) first.

    OpenCV's Haar frontal-face cascade, tried upright and then turned a quarter either way (phone
    photos are often stored sideways), with the eyes at fixed proportions of the largest face box;
    the portrait prior ``PRIOR_EYES`` when no face is found or no cascade ships with OpenCV.
    """
    found = _detect_face(image)
    return PRIOR_EYES if found is None else found


def default_face_photos() -> list[Path]:
    """Face photos that ship with installed packages; nothing is downloaded.

    matplotlib's ``sample_data/grace_hopper.jpg`` (matplotlib is a dependency) and, if scikit-image
    is installed, its ``data/astronaut.png`` (found on disk through the package's location, without
    importing it). Returned as paths to the files where they are.
    """
    photos: list[Path] = []
    try:
        import matplotlib

        p = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        if p.is_file():
            photos.append(p)
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc) / "data" / "astronaut.png"
            if p.is_file():
                photos.append(p)
                break
    return photos


def synthesize_faces(
    out_dir: str | os.PathLike,
    faces: Sequence[str | os.PathLike] | str | os.PathLike | None = None,
    variants: int = 3,
    species: Iterable[str] = FACE_SPECIES,
    seed: int = 0,
) -> Manifest:
    """Write bona fide variants and simulated attacks of each face photo; return their manifest.

    Layout: ``out_dir/live/<face>_<k>.png`` (bona fide, lightly varied) and
    ``out_dir/<species>/<face>_<k>.png`` for ``k < variants``, plus ``out_dir/manifest.csv``. The
    subject is the photo's file stem. ``faces`` is a list of image files and/or folders of them
    (default: :func:`default_face_photos`). Photos larger than ``MAX_SIDE`` pixels are shrunk.
    Each image's randomness is seeded from ``seed``, the photo's stem, the class and ``k``, so the
    same call gives the same bytes.
    """
    species = tuple(species)
    if not species:
        raise SpoofguardError(f"no attack species given; known species: {', '.join(FACE_SPECIES)}.")
    for sp in species:
        if sp not in FACE_SPECIES:
            raise SpoofguardError(f"unknown face attack species {sp!r}; known species: {', '.join(FACE_SPECIES)}.")
    if variants < 1:
        raise SpoofguardError(f"variants must be at least 1 (got {variants}).")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SpoofguardError(f"{out}: already exists and is not an empty folder; choose a new output folder.")
    photos = _face_files(faces)
    # read everything before writing anything, so a bad photo leaves no half-made folder behind
    loaded = []
    stems: set[str] = set()
    for p in photos:
        img = _shrink(load_image(p, channels=3))
        stem = _unique(_safe_stem(p), stems)
        loaded.append((stem, img, _eyes_for(stem, img)))
    samples = []
    for stem, img, eyes in loaded:
        for cls in (LIVE_FOLDER, *species):
            folder = out / cls
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(variants):
                rng = np.random.default_rng([seed, zlib.crc32(stem.encode()), zlib.crc32(cls.encode()), k])
                if cls == LIVE_FOLDER:
                    arr = vary_bona_fide(img, rng)
                    sample = Sample(path="", label=BONA_FIDE, subject=stem)
                else:
                    arr = simulate_attack(img, cls, rng, eyes=eyes)
                    sample = Sample(path="", label=ATTACK, species=cls, subject=stem)
                path = folder / f"{stem}_{k}.png"
                Image.fromarray(arr, "RGB").save(path, optimize=False)
                samples.append(replace(sample, path=str(path.resolve())))
    manifest = Manifest(samples)
    write_manifest(manifest, out / "manifest.csv")
    return manifest


def save_grid(manifest_or_dir: Manifest | str | os.PathLike, path: str | os.PathLike, max_rows: int = 6) -> Path:
    """Save a titled picture grid: one row per face version, bona fide first, then each attack species.

    ``manifest_or_dir`` is a :class:`Manifest`, a ``manifest.csv`` or a folder holding one.
    """
    if isinstance(manifest_or_dir, Manifest):
        manifest = manifest_or_dir
    else:
        p = Path(manifest_or_dir)
        manifest = read_manifest(p / "manifest.csv" if p.is_dir() else p)
    cells: dict[tuple[str, str], dict[str, str]] = {}
    columns: list[str] = []
    for s in manifest:
        col = s.class_name
        if col not in columns:
            columns.append(col)
        stem = Path(s.path).stem
        face, _, k = stem.rpartition("_")
        row = (s.subject or face or stem, k if face else "")
        cells.setdefault(row, {})[col] = s.path
    if not cells:
        raise SpoofguardError("nothing to draw: the manifest has no samples.")
    columns.sort(key=lambda c: (c != BONA_FIDE, FACE_SPECIES.index(c) if c in FACE_SPECIES else 99, c))
    rows = sorted(cells, key=lambda r: (r[0], int(r[1]) if r[1].isdigit() else 0, r[1]))[:max_rows]

    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.6 * len(columns), 2.9 * len(rows)), dpi=110)
    axes = fig.subplots(len(rows), len(columns), squeeze=False)
    for i, row in enumerate(rows):
        for j, col in enumerate(columns):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            f = cells[row].get(col)
            if f:
                ax.imshow(load_image(f, channels=3))
            title = "bona fide" if col == BONA_FIDE else f"attack: {col}"
            ax.set_title(title, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{row[0]} #{row[1]}" if row[1] else row[0], fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


# --------------------------------------------------------------------------------------------------
# inputs


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise SpoofguardError(
            f"simulate_attack needs an RGB uint8 array of shape (H, W, 3); got "
            f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}."
        )
    if min(image.shape[:2]) < 16:
        raise SpoofguardError(f"face photo of {image.shape[1]}x{image.shape[0]} pixels is too small (16x16 at least).")
    return image


def _face_files(faces) -> list[Path]:
    if faces is None:
        photos = default_face_photos()
        if not photos:  # pragma: no cover - matplotlib ships Grace Hopper
            raise SpoofguardError("no face photos found in installed packages; pass --faces DIR.")
        return photos
    if isinstance(faces, (str, os.PathLike)):
        faces = [faces]
    photos = []
    for f in faces:
        p = Path(f)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and is_image_file(q.name) and not q.name.startswith("."))
            if not found:
                raise SpoofguardError(f"{p}: no image files in this folder; put face photos (.jpg, .png ...) in it.")
            photos.extend(found)
        else:
            photos.append(p)  # load_image says what is wrong with a missing or unreadable file
    if not photos:
        raise SpoofguardError("no face photos given; pass image files or a folder of them.")
    return photos


def _shrink(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return img
    s = MAX_SIDE / max(h, w)
    return cv2.resize(img, (max(16, round(w * s)), max(16, round(h * s))), interpolation=cv2.INTER_AREA)


def _safe_stem(p: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-." else "_" for c in p.stem).strip("_.") or "face"
    return stem


def _unique(stem: str, seen: set[str]) -> str:
    name, i = stem, 2
    while name in seen:
        name, i = f"{stem}-{i}", i + 1
    seen.add(name)
    return name


def _eyes_for(stem: str, img: np.ndarray) -> Eyes:
    return KNOWN_EYES.get(stem) or locate_eyes(img)


_FACE_CASCADE = None


def _face_cascade():
    global _FACE_CASCADE
    if _FACE_CASCADE is None:
        root = getattr(getattr(cv2, "data", None), "haarcascades", "")
        f = os.path.join(root, "haarcascade_frontalface_default.xml")
        cascade = cv2.CascadeClassifier(f) if root and os.path.isfile(f) else None
        _FACE_CASCADE = cascade if cascade is not None and not cascade.empty() else False
    return _FACE_CASCADE or None


def _detect_face(image: np.ndarray) -> Eyes | None:
    """Eyes from the largest Haar frontal face, upright or turned a quarter; None if there is none."""
    cascade = _face_cascade()
    if cascade is None:
        return None
    h, w = image.shape[:2]
    s = min(1.0, 256 / max(h, w))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if s < 1:
        grey = cv2.resize(grey, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    gh, gw = grey.shape
    # (rotation, map from the rotated picture's (x, y) back to the upright one's)
    turns = ((None, lambda x, y: (x, y)),
             (cv2.ROTATE_90_CLOCKWISE, lambda x, y: (y, gh - 1 - x)),
             (cv2.ROTATE_90_COUNTERCLOCKWISE, lambda x, y: (gw - 1 - y, x)))
    for rot, back in turns:
        g = grey if rot is None else cv2.rotate(grey, rot)
        m = max(24, int(0.2 * min(g.shape)))
        found = cascade.detectMultiScale(g, scaleFactor=1.15, minNeighbors=5, minSize=(m, m))
        if len(found) == 0:
            continue
        x, y, bw, bh = (float(v) for v in max(found, key=lambda b: b[2] * b[3]))
        eyes = [back(x + fx * bw, y + 0.38 * bh) for fx in (0.31, 0.69)]
        return tuple((ex / gw, ey / gh) for ex, ey in eyes)  # type: ignore[return-value]
    return None


# --------------------------------------------------------------------------------------------------
# shared pieces (float32 images in [0, 1])


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(cv2.max(img, 0.0), alpha=255.0)  # rounds and saturates at 255


def _lowfreq(h: int, w: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth noise of about ``cells`` blobs across the longer side, roughly in [-1, 1]."""
    ch = max(2, round(cells * h / max(h, w)))
    cw = max(2, round(cells * w / max(h, w)))
    small = rng.standard_normal((ch, cw), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * 0.7


def _skin_tone(rng: np.random.Generator) -> np.ndarray:
    tones = np.array([[0.93, 0.78, 0.68], [0.86, 0.66, 0.53], [0.76, 0.56, 0.43], [0.58, 0.40, 0.29], [0.38, 0.25, 0.18]], np.float32)
    t = rng.uniform(0, len(tones) - 1)
    i = int(t)
    c = tones[i] * (1 - (t - i)) + tones[min(i + 1, len(tones) - 1)] * (t - i)
    return np.clip(c * rng.uniform(0.92, 1.06, 3).astype(np.float32), 0, 1)


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An out-of-focus room: wall, desk or office colours, blotches, a few blurred objects, a gradient."""
    palettes = [
        [(0.86, 0.84, 0.80), (0.78, 0.76, 0.72), (0.70, 0.72, 0.74)],  # wall
        [(0.55, 0.38, 0.24), (0.66, 0.50, 0.34), (0.45, 0.30, 0.20)],  # wooden desk
        [(0.42, 0.46, 0.52), (0.60, 0.62, 0.66), (0.30, 0.32, 0.36)],  # office grey-blue
        [(0.80, 0.80, 0.82), (0.25, 0.25, 0.28), (0.75, 0.20, 0.18)],  # clutter
    ]
    pal = np.array(palettes[rng.integers(len(palettes))], np.float32)
    sh, sw = max(8, h // 8), max(8, w // 8)
    base = pal[rng.integers(len(pal))] * rng.uniform(0.85, 1.1)
    small = np.empty((sh, sw, 3), np.float32)
    small[:] = base
    small *= 1 + 0.12 * _lowfreq(sh, sw, rng, 5)[..., None]
    for _ in range(rng.integers(1, 5)):  # furniture, doors, shelves: blurred rectangles
        c = pal[rng.integers(len(pal))] * rng.uniform(0.6, 1.15)
        x0, y0 = rng.integers(0, sw), rng.integers(0, sh)
        x1, y1 = x0 + rng.integers(sw // 6, sw // 2 + 2), y0 + rng.integers(sh // 6, sh + 1)
        small[y0:y1, x0:x1] = c
    yy = np.linspace(-1, 1, sh, dtype=np.float32)[:, None, None]
    xx = np.linspace(-1, 1, sw, dtype=np.float32)[None, :, None]
    small *= 1 + rng.uniform(-0.15, 0.15) * xx + rng.uniform(-0.15, 0.15) * yy
    small = cv2.GaussianBlur(small, (0, 0), rng.uniform(0.8, 2.0))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _placement(obj_w: float, obj_h: float, w: int, h: int, rng: np.random.Generator, scale=(0.8, 0.95),
               rot=6.0, tilt=0.04, shift=0.06) -> tuple[np.ndarray, float]:
    """Perspective matrix putting an ``obj_w x obj_h`` picture into a ``w x h`` frame, tilted a little,
    and its scale (output pixels per object pixel)."""
    s = min(w / obj_w, h / obj_h) * rng.uniform(*scale)
    a = math.radians(rng.uniform(-rot, rot))
    c, si = math.cos(a), math.sin(a)
    cx = w / 2 + rng.uniform(-shift, shift) * w
    cy = h / 2 + rng.uniform(-shift, shift) * h
    src = np.array([[0, 0], [obj_w, 0], [obj_w, obj_h], [0, obj_h]], np.float32)
    half = np.array([[-obj_w, -obj_h], [obj_w, -obj_h], [obj_w, obj_h], [-obj_w, obj_h]], np.float32) * (s / 2)
    dst = half @ np.array([[c, si], [-si, c]], np.float32) + np.array([cx, cy], np.float32)
    dst += rng.uniform(-tilt, tilt, (4, 2)).astype(np.float32) * min(w, h)
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32)), s


def _warp(img: np.ndarray, m: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _composite(back: np.ndarray, front: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``front`` over ``back`` with opacity ``alpha`` (H, W); ``front`` may be one colour."""
    if front.shape != back.shape:
        front = np.broadcast_to(np.asarray(front, np.float32), back.shape).copy()
    a = np.ascontiguousarray(alpha, np.float32)
    return cv2.blendLinear(np.ascontiguousarray(front, np.float32), np.ascontiguousarray(back, np.float32), a, 1 - a)


def _add_light(frame: np.ndarray, light: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``frame + light * where``; ``light`` is (H, W) or (H, W, 3), ``where`` (H, W) in [0, 1]."""
    if light.ndim == 2:
        light = cv2.cvtColor(light, cv2.COLOR_GRAY2RGB)
    return _composite(frame, cv2.add(frame, light), where)


def _drop_shadow(back: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, strength=(0.2, 0.45)) -> np.ndarray:
    h, w = alpha.shape
    d = 0.02 * min(h, w)
    m = np.float32([[1, 0, rng.uniform(-d, d)], [0, 1, rng.uniform(0.3 * d, 1.5 * d)]])
    small = cv2.resize(alpha, (max(4, w // 4), max(4, h // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, 0.01 * min(h, w)))
    shadow = cv2.warpAffine(cv2.resize(small, (w, h)), m, (w, h))
    return back * (1 - rng.uniform(*strength) * shadow)[..., None]


def _glare(h: int, w: int, rng: np.random.Generator, streak: bool) -> np.ndarray:
    """Additive light: one soft bright ellipse and perhaps a thin specular streak."""
    sh, sw = max(8, h // 4), max(8, w // 4)
    g = np.zeros((sh, sw), np.float32)
    cx, cy = rng.uniform(0.15, 0.85) * sw, rng.uniform(0.1, 0.8) * sh
    ax, ay = rng.uniform(0.08, 0.3) * sw, rng.uniform(0.05, 0.2) * sh
    cv2.ellipse(g, (round(cx), round(cy)), (max(1, round(ax)), max(1, round(ay))), rng.uniform(0, 180), 0, 360, 1.0, -1)
    g = cv2.GaussianBlur(g, (0, 0), max(1.0, 0.35 * min(ax, ay) + 1)) * rng.uniform(0.25, 0.6)
    if streak:
        s = np.zeros_like(g)
        p0 = (round(rng.uniform(0, sw)), 0)
        p1 = (round(p0[0] + rng.uniform(-0.6, 0.6) * sw), sh)
        cv2.line(s, p0, p1, 1.0, max(1, round(rng.uniform(0.01, 0.04) * sw)))
        g += cv2.GaussianBlur(s, (0, 0), max(1.0, 0.02 * sw)) * rng.uniform(0.15, 0.35)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)


def _thumb(frame: np.ndarray, m: np.ndarray, obj_w: float, obj_h: float, rng: np.random.Generator) -> np.ndarray:
    """A thumb holding a placed object: a shaded capsule from outside one side edge onto the object."""
    h, w = frame.shape[:2]
    side = rng.integers(3)  # left, right or bottom edge
    t = rng.uniform(0.3, 0.75)
    edge = {0: (0.0, t * obj_h), 1: (obj_w, t * obj_h), 2: (t * obj_w, obj_h)}[side]
    inward = {0: (1.0, 0.0), 1: (-1.0, 0.0), 2: (0.0, -1.0)}[side]
    width = 0.1 * min(h, w) * rng.uniform(0.8, 1.2)
    pts = np.float32([[edge, (edge[0] + inward[0], edge[1] + inward[1])]])
    (ex, ey), (ix, iy) = cv2.perspectiveTransform(pts, m)[0]
    if not (0 <= ex < w and 0 <= ey < h):
        return frame
    v = np.array([ix - ex, iy - ey])
    v = v / (np.linalg.norm(v) + 1e-6)
    a = math.radians(rng.uniform(-20, 20))
    v = np.array([v[0] * math.cos(a) - v[1] * math.sin(a), v[0] * math.sin(a) + v[1] * math.cos(a)])
    tip = np.array([ex, ey]) + v * width * rng.uniform(0.5, 1.0)
    base = tip - v * width * 2.5
    mask = np.zeros((h, w), np.float32)
    cv2.line(mask, (round(base[0]), round(base[1])), (round(tip[0]), round(tip[1])), 1.0, max(2, round(width)), cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.7, 0.04 * width))
    shade = 0.55 + 0.5 * cv2.GaussianBlur(mask, (0, 0), 0.25 * width)  # rounder: darker towards its sides
    nail = np.zeros((h, w), np.float32)
    nc = tip - v * width * 0.35
    cv2.ellipse(nail, (round(nc[0]), round(nc[1])), (max(1, round(0.3 * width)), max(1, round(0.22 * width))),
                math.degrees(math.atan2(v[1], v[0])), 0, 360, 0.25, -1, cv2.LINE_AA)
    skin = _skin_tone(rng)
    colour = (skin * shade[..., None]) * (1 + nail[..., None])
    return _composite(frame, colour, mask)


def _camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What every capture goes through: a little defocus, exposure, vignetting and sensor noise."""
    h, w = img.shape[:2]
    sigma = rng.uniform(0.3, 0.9) * min(h, w) / 512 + 0.2
    out = cv2.GaussianBlur(img, (0, 0), sigma)
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    gain = (1 - rng.uniform(0.0, 0.12) * (xx * xx + yy * yy) / 2) * np.float32(rng.uniform(0.96, 1.04))
    # sensor noise, a little correlated (demosaicing) and mostly in brightness
    noise = rng.standard_normal((max(1, h // 2), max(1, w // 2)), dtype=np.float32) * np.float32(rng.uniform(0.005, 0.014))
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)
    out *= gain[..., None]
    out += noise[..., None]
    return out


# --------------------------------------------------------------------------------------------------
# print

INK_ANGLES = (15.0, 75.0, 0.0, 45.0)  # C, M, Y, K screen angles
# optical density of each ink (rows C, M, Y, K) in the R, G, B thirds of the spectrum (Beer-Lambert:
# a stack of inks transmits exp(-sum of densities)); each ink absorbs mostly its own third
INK_DENSITY = np.array([[1.6, 0.35, 0.1], [0.15, 1.4, 0.4], [0.02, 0.1, 1.2], [1.8, 1.8, 1.8]], np.float32)


def _screen_factors(h: int, w: int, period: float, angle_deg: float, phase) -> tuple[np.ndarray, np.ndarray]:
    """``(U, V)`` with ``U @ V = cos ku + cos kv``: a round-dot halftone screen rotated by ``angle_deg``.

    (u, v) are the rotated coordinates and k = 2 pi / period. cos(ax + by + p) = cos(ax + p) cos(by)
    - sin(ax + p) sin(by), so the screen is a rank-4 matrix: one small matrix product, no 2-D trigonometry.
    """
    k = 2 * np.pi / period
    a = math.radians(angle_deg)
    x = np.arange(w, dtype=np.float64)
    y = np.arange(h, dtype=np.float64)
    cols, rows = [], []
    for (fx, fy), ph in zip(((math.cos(a), math.sin(a)), (-math.sin(a), math.cos(a))), phase):
        cols += [np.cos(k * fy * y), -np.sin(k * fy * y)]
        rows += [np.cos(k * fx * x + ph), np.sin(k * fx * x + ph)]
    return np.stack(cols, 1).astype(np.float32), np.stack(rows, 0).astype(np.float32)


def _low_rank(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``u @ v`` for a few columns, as a sum of outer products: no BLAS threads (they stall when the
    cores are shared, and this is memory-bound anyway)."""
    out = np.multiply(u[:, :1], v[:1])
    tmp = np.empty_like(out)
    for j in range(1, u.shape[1]):
        out += np.multiply(u[:, j : j + 1], v[j : j + 1], out=tmp)
    return out


def _halftone(rgb: np.ndarray, period: float, angle: float, rng: np.random.Generator, sharpness: float = 4.0,
              paper=(1.0, 1.0, 1.0), density: float = 1.0) -> np.ndarray:
    """Print ``rgb`` with CMYK dot screens (angles ``INK_ANGLES`` plus ``angle``) on ``paper``.

    Each ink's dot is a soft threshold of its coverage against its screen: no ink at coverage 0,
    solid ink at 1, ``sharpness`` sets how crisp the dot edges are.
    """
    h, w = rgb.shape[:2]
    cmy = 1.0 - rgb
    c, m, y = cv2.split(cmy)
    k = cv2.min(cv2.min(c, m), y) * np.float32(0.8)  # grey component replacement
    rest = 1.0 / (1.0001 - k)
    inks = [(c - k) * rest, (m - k) * rest, (y - k) * rest, k]
    # dot = clip((cov - s') * sharpness + 0.5) with s' = 0.5 / sharpness + s (1 - 1 / sharpness),
    # s = 0.5 + 0.25 (U @ V): fold the constants into U and V
    g = sharpness - 1.0
    const = -0.5 * g  # dot = cov * sharpness - 0.5 g - 0.25 g (U @ V)
    dots = []
    for cov, ang in zip(inks, INK_ANGLES):
        u, v = _screen_factors(h, w, period, ang + angle, rng.uniform(0, 2 * np.pi, 2))
        u = np.concatenate([u * np.float32(-0.25 * g), np.ones((h, 1), np.float32)], 1)
        v = np.concatenate([v, np.full((1, w), const, np.float32)], 0)
        dot = cv2.scaleAdd(cov, float(sharpness), _low_rank(u, v))
        dots.append(np.clip(dot, 0, 1, out=dot))
    transform = np.concatenate([-INK_DENSITY.T * density, np.log(np.asarray(paper, np.float32))[:, None]], 1)
    return cv2.exp(cv2.transform(cv2.merge(dots), transform))


def _paper_texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative paper texture around 1: blotchy formation plus short fibres."""
    tex = 0.015 * _lowfreq(h, w, rng, 30)
    sh, sw = max(4, h // 2), max(4, w // 2)
    fib = rng.standard_normal((sh, sw), dtype=np.float32)
    fib = cv2.blur(fib, (7, 1)) + cv2.blur(fib, (1, 5))
    tex += 0.02 * cv2.resize(fib, (w, h), interpolation=cv2.INTER_LINEAR)
    return 1 + tex


def _printed(photo: np.ndarray, rng: np.random.Generator, texture: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The photo as printed: gamut-compressed, halftoned, on (textured) paper. Returns (print, paper white)."""
    h, w = photo.shape[:2]
    sat = rng.uniform(0.6, 0.85)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    desat = (1 - sat) * np.tile(luma, (3, 1)) + sat * np.eye(3, dtype=np.float32)
    img = cv2.transform(photo, desat)  # less saturation; stays in [0, 1]
    img = cv2.pow(img, rng.uniform(1.0, 1.25))  # dot gain darkens the mid-tones
    paper = np.array([1.0, rng.uniform(0.97, 1.0), rng.uniform(0.9, 0.98)], np.float32) * rng.uniform(0.84, 0.92)
    period = rng.uniform(*HALFTONE_PERIOD) * max(1.0, min(h, w) / 512)
    out = _halftone(img, period, rng.uniform(0, 90), rng, rng.uniform(2.5, 5.0), paper, rng.uniform(0.75, 0.95))
    if texture:
        out *= _paper_texture(h, w, rng)[..., None]
    return out, paper


def _print_attack(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = photo.shape[:2]
    printed, paper = _printed(photo, rng, texture=False)
    # the sheet: white margins around the printed photo
    mt, mb, ml, mr = (round(v * min(h, w)) for v in rng.uniform(0.03, 0.12, 4))
    sheet = np.empty((h + mt + mb, w + ml + mr, 3), np.float32)
    sheet[:] = paper
    sheet[mt : mt + h, ml : ml + w] = printed
    sheet *= _paper_texture(*sheet.shape[:2], rng)[..., None]
    sh, sw = sheet.shape[:2]
    # the sheet bends a little: a soft band of shading across it
    bend = np.linspace(-1, 1, sw if rng.random() < 0.5 else sh, dtype=np.float32)
    bend = 1 - rng.uniform(0.0, 0.12) * np.clip(1 - np.abs(bend - rng.uniform(-0.8, 0.8)) * 2, 0, 1)
    sheet *= (bend[None, :, None] if bend.size == sw else bend[:, None, None])
    m, _ = _placement(sw, sh, w, h, rng, scale=(0.82, 1.02), rot=7, tilt=0.04, shift=0.07)
    alpha = _warp(np.ones((sh, sw), np.float32), m, w, h)
    frame = _background(h, w, rng)
    frame = _drop_shadow(frame, alpha, rng)
    frame = _composite(frame, _warp(sheet, m, w, h), alpha)
    if rng.random() < 0.35:  # glossy photo paper catches the light
        frame = _add_light(frame, _glare(h, w, rng, streak=False) * np.float32(0.6), alpha)
    if rng.random() < 0.4:
        frame = _thumb(frame, m, sw, sh, rng)
    return frame


# --------------------------------------------------------------------------------------------------
# replay


def _box_stripes(n: int, period: float, start: float, length: float) -> np.ndarray:
    """Fraction of each unit pixel ``[i, i+1)`` covered by the stripes ``[start, start+length) + k*period``.

    Exact box filtering (the camera pixel's area) of a periodic on/off pattern, via its antiderivative.
    """
    def cum(x):
        q = np.floor(x / period)
        return q * length + np.clip(x - q * period - start, 0, length)

    x = np.arange(n + 1, dtype=np.float64)
    return np.diff(cum(x)).astype(np.float32)


def _screen_pixels(display: np.ndarray, pitch: float, out_h: int, out_w: int, leak: float = 0.12,
                   fill: float = 0.8) -> np.ndarray:
    """Render a ``display`` image (one value per screen pixel) as an LCD seen by a camera up close.

    Each screen pixel is ``pitch`` output pixels wide: three vertical R, G, B stripes (each lit in its
    own colour, ``leak`` of it elsewhere) and a black-matrix gap between rows (``1 - fill`` of the
    pitch). Every output pixel averages the light over its area (box filter), so pitches near or
    below one pixel give moire rather than a clean grid. A flat display keeps its mean brightness.
    """
    dh, dw = display.shape[:2]
    ix = np.minimum(((np.arange(out_w) + 0.5) / pitch).astype(np.int32), dw - 1)
    iy = np.minimum(((np.arange(out_h) + 0.5) / pitch).astype(np.int32), dh - 1)
    col = np.stack([_box_stripes(out_w, pitch, c * pitch / 3, pitch / 3) for c in range(3)], 1)
    col = (leak + (1 - leak) * col) * (3 / (1 + 2 * leak))
    row = _box_stripes(out_h, pitch, 0.0, fill * pitch) / fill
    out = display[iy][:, ix]
    out *= col[None]
    out *= row[:, None, None]
    return out


def _replay_attack(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = photo.shape[:2]
    # the device (in photo pixels): bezel around a screen of the photo's aspect
    bez = round(rng.uniform(0.05, 0.1) * min(h, w))
    bez_long = bez + round(rng.uniform(0.0, 0.06) * min(h, w))  # phones have deeper top/bottom bezels
    dw, dh = w + 2 * bez, h + 2 * bez_long
    m_dev, s = _placement(dw, dh, w, h, rng, scale=(0.85, 1.05), rot=6, tilt=0.035, shift=0.05)
    # the screen, rendered on a canvas of about output resolution (s output pixels per photo pixel)
    cw, ch = max(8, round(w * s)), max(8, round(h * s))
    pitch = math.exp(rng.uniform(*np.log(SCREEN_PITCH)))  # screen pixel pitch in output pixels
    n_x, n_y = max(4, math.ceil(cw / pitch)), max(4, math.ceil(ch / pitch))
    display = cv2.resize(photo, (n_x, n_y), interpolation=cv2.INTER_AREA)
    # display response: gamma, raised black level, white point (colour temperature), brightness
    temp = rng.uniform(-1, 1)
    white = np.array([1 - 0.08 * temp, 1 - 0.01 * abs(temp), 1 + 0.1 * temp], np.float32)
    white /= white.max()
    black = rng.uniform(0.02, 0.07)
    display = black + (1 - black) * cv2.pow(np.clip(display, 0, 1), rng.uniform(0.75, 1.3))
    display = display * white * rng.uniform(1.0, 1.2)
    canvas = _screen_pixels(display, pitch, ch, cw, leak=rng.uniform(0.1, 0.3), fill=rng.uniform(0.7, 0.9))
    # device body: dark (sometimes white) bezel with rounded corners and a front camera
    body = np.empty((dh, dw, 3), np.float32)
    if rng.random() < 0.25:
        body[:] = rng.uniform(0.8, 0.92)
    else:
        body[:] = rng.uniform(0.03, 0.12) * np.array([1, 1, rng.uniform(1.0, 1.15)], np.float32)
    body *= 1 + 0.2 * np.linspace(-1, 1, dw, dtype=np.float32)[None, :, None] * rng.uniform(-1, 1)
    cam = (dw // 2, max(2, bez_long // 2))
    cv2.circle(body, cam, max(1, bez // 6), (0.01, 0.01, 0.02), -1, cv2.LINE_AA)
    mask = np.zeros((dh, dw), np.float32)
    r = max(2, round(rng.uniform(0.04, 0.09) * min(dh, dw)))
    cv2.rectangle(mask, (r, 0), (dw - 1 - r, dh - 1), 1.0, -1)
    cv2.rectangle(mask, (0, r), (dw - 1, dh - 1 - r), 1.0, -1)
    for cx, cy in ((r, r), (dw - 1 - r, r), (r, dh - 1 - r), (dw - 1 - r, dh - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 1.0, -1, cv2.LINE_AA)
    *rgb, alpha = cv2.split(_warp(cv2.merge([*cv2.split(body), mask]), m_dev, w, h))  # one warp for both
    frame = _background(h, w, rng)
    frame = _drop_shadow(frame, alpha, rng, strength=(0.15, 0.35))
    frame = _composite(frame, cv2.merge(rgb), alpha)
    # the canvas sits inside the bezel: device coords = canvas * (w / cw, h / ch) + (bez, bez_long)
    m_scr = m_dev @ np.array([[w / cw, 0, bez], [0, h / ch, bez_long], [0, 0, 1]], np.float64)
    *rgb, scr_alpha = cv2.split(_warp(cv2.merge([*cv2.split(canvas), np.ones((ch, cw), np.float32)]), m_scr, w, h))
    frame = _composite(frame, cv2.merge(rgb), scr_alpha)
    # the glass: glare, sometimes a streak, a faint reflection of the room
    glare = _glare(h, w, rng, streak=rng.random() < 0.5) * np.float32(rng.uniform(0.6, 1.0))
    room = cv2.flip(cv2.resize(_background(max(8, h // 4), max(8, w // 4), rng), (w, h)), 1)
    frame = _add_light(frame, cv2.scaleAdd(room, rng.uniform(0.03, 0.1), cv2.cvtColor(glare, cv2.COLOR_GRAY2RGB)), alpha)
    if rng.random() < 0.5:
        frame = _thumb(frame, m_dev, dw, dh, rng)
    return frame


# --------------------------------------------------------------------------------------------------
# cut-out


def _scissor_poly(points: np.ndarray, rng: np.random.Generator, step: float, rough: float) -> np.ndarray:
    """Resample a closed outline into short straight cuts of about ``step`` pixels, each end jittered."""
    out = []
    for p, q in zip(points, np.roll(points, -1, axis=0)):
        n = max(1, int(np.linalg.norm(q - p) / step))
        for t in np.arange(n) / n:
            out.append(p + (q - p) * t + rng.normal(0, rough, 2))
    return np.round(np.array(out) * 4).astype(np.int32)  # 2 fractional bits for cv2's shift argument


def _attacker(h: int, w: int, center, axes, roll: float, eyes_px, hole_r: float, rng: np.random.Generator) -> np.ndarray:
    """The person behind the cut-out: room, hair around the head, skin, and real eyes at the holes."""
    skin = _skin_tone(rng)
    hair = rng.uniform(0.04, 0.4) * np.array([1, 0.82, 0.65], np.float32)
    if rng.random() < 0.2:  # grey or blond
        hair = rng.uniform(0.55, 0.8) * np.array([1, 0.92, 0.8], np.float32)
    # head and hair at half resolution (they are a little out of focus behind the sheet)
    hh, hw = max(8, h // 2), max(8, w // 2)
    f = hw / w
    frame = _background(hh, hw, rng)
    up = np.array([math.sin(math.radians(roll)), -math.cos(math.radians(roll))])
    c = np.asarray(center, np.float64)
    mask = np.zeros((hh, hw), np.float32)
    s = rng.uniform(1.02, 1.12)
    hc = (c + 0.06 * axes[1] * up) * f
    cv2.ellipse(mask, (round(hc[0]), round(hc[1])), (round(s * f * axes[0]), round(s * f * axes[1])), roll, 0, 360, 1.0, -1, cv2.LINE_AA)
    strands = rng.standard_normal((hh, max(4, hw // 2)), dtype=np.float32)
    strands = cv2.resize(cv2.blur(strands, (1, 9)), (hw, hh), interpolation=cv2.INTER_LINEAR)
    frame = _composite(frame, hair * (1 + 0.35 * strands[..., None]), cv2.GaussianBlur(mask, (0, 0), 1))
    mask[:] = 0
    fc = (c - 0.05 * axes[1] * up) * f
    cv2.ellipse(mask, (round(fc[0]), round(fc[1])), (round(0.92 * f * axes[0]), round(0.92 * f * axes[1])), roll, 0, 360, 1.0, -1, cv2.LINE_AA)
    shade = 1 + 0.06 * _lowfreq(hh, hw, rng, 10)[..., None]
    frame = _composite(frame, skin * shade, cv2.GaussianBlur(mask, (0, 0), 1.5))
    frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
    # the attacker's eyes line up with the holes, not perfectly: socket, sclera, iris, pupil, upper lid
    iris = rng.uniform(0.12, 0.4) * np.array([1, 0.75, rng.uniform(0.45, 1.2)], np.float32)
    sclera = np.float32([0.8, 0.75, 0.7]) * rng.uniform(0.8, 0.95)
    half = int(2 * hole_r) + 4
    for ex, ey in eyes_px:
        c = np.array([ex, ey]) + rng.uniform(-0.2, 0.2, 2) * hole_r
        x0, y0 = max(0, int(c[0]) - half), max(0, int(c[1]) - half)
        x1, y1 = min(w, int(c[0]) + half), min(h, int(c[1]) + half)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        patch = frame[y0:y1, x0:x1]
        ci = (round(c[0]) - x0, round(c[1]) - y0)
        off = rng.uniform(-0.15, 0.15) * hole_r  # looking a little sideways
        io = (ci[0] + round(off * math.cos(math.radians(roll))), ci[1] + round(off * math.sin(math.radians(roll))))
        layers = [
            (lambda m: cv2.ellipse(m, ci, (max(2, round(1.2 * hole_r)), max(1, round(0.75 * hole_r))), roll, 0, 360, 1.0, -1, cv2.LINE_AA),
             skin * 0.72, max(1.0, 0.25 * hole_r)),
            (lambda m: cv2.ellipse(m, ci, (max(2, round(0.85 * hole_r)), max(1, round(0.32 * hole_r))), roll, 0, 360, 1.0, -1, cv2.LINE_AA),
             sclera, 0.8),
            (lambda m: cv2.circle(m, io, max(1, round(0.3 * hole_r)), 1.0, -1, cv2.LINE_AA), iris, 0),
            (lambda m: cv2.circle(m, io, max(1, round(0.13 * hole_r)), 1.0, -1, cv2.LINE_AA), np.float32([0.02, 0.02, 0.02]), 0),
            (lambda m: cv2.ellipse(m, (ci[0] + round(0.4 * hole_r * up[0]), ci[1] + round(0.4 * hole_r * up[1])),
                                   (round(1.0 * hole_r), round(0.2 * hole_r)), roll, 0, 360, 1.0, -1, cv2.LINE_AA),
             skin * 0.55, max(0.8, 0.08 * hole_r)),
        ]
        for draw, colour, blur in layers:
            m = np.zeros(patch.shape[:2], np.float32)
            draw(m)
            if blur:
                m = cv2.GaussianBlur(m, (0, 0), blur)
            patch = _composite(patch, colour, m)
        frame[y0:y1, x0:x1] = patch
    return cv2.GaussianBlur(frame, (0, 0), 0.7)


def _cutout_attack(photo: np.ndarray, eyes: Eyes, rng: np.random.Generator) -> np.ndarray:
    h, w = photo.shape[:2]
    (x1, y1), (x2, y2) = eyes
    e1, e2 = np.array([x1 * w, y1 * h]), np.array([x2 * w, y2 * h])
    d = max(float(np.linalg.norm(e2 - e1)), 0.1 * min(h, w))
    roll = math.degrees(math.atan2(e2[1] - e1[1], e2[0] - e1[0]))
    a = math.radians(roll)
    down, right = np.array([-math.sin(a), math.cos(a)]), np.array([math.cos(a), math.sin(a)])
    center = (e1 + e2) / 2 + 0.45 * d * down
    printed, _ = _printed(photo, rng)
    # the cut: an irregular bust outline (head, neck, shoulders to the bottom edge), holes at the eyes
    axes = np.array([d * rng.uniform(1.25, 1.45), d * rng.uniform(1.8, 2.05)])
    t = np.linspace(0.0, 2 * np.pi, 24, endpoint=False) + math.pi / 2  # from the chin, clockwise in image
    wob = 1 + 0.03 * np.sin(2 * t + rng.uniform(0, 6)) + 0.02 * np.sin(3 * t + rng.uniform(0, 6))
    head = center + (axes[0] * np.cos(t) * wob)[:, None] * right + (axes[1] * np.sin(t) * wob)[:, None] * down
    neck_y, shoulder_y = 0.85 * axes[1] * rng.uniform(0.95, 1.05), 1.25 * axes[1] * rng.uniform(0.95, 1.1)
    spread = axes[0] * rng.uniform(1.8, 2.3)
    bust = [center + (-0.6 * axes[0]) * right + neck_y * down, center + (-spread) * right + shoulder_y * down,
            center + (-spread * 1.1) * right + (h * 2.0) * down, center + (spread * 1.1) * right + (h * 2.0) * down,
            center + spread * right + shoulder_y * down, center + (0.6 * axes[0]) * right + neck_y * down]
    cut = np.zeros((h, w), np.uint8)
    step = 0.06 * d * rng.uniform(0.8, 1.5)
    cv2.fillPoly(cut, [_scissor_poly(head, rng, step, 0.012 * d)], 255, cv2.LINE_AA, shift=2)
    cv2.fillPoly(cut, [_scissor_poly(np.array(bust), rng, step * 2, 0.02 * d)], 255, cv2.LINE_AA, shift=2)
    hole_r = d * rng.uniform(0.2, 0.25)
    for e in (e1, e2):
        c = e + rng.uniform(-0.1, 0.1, 2) * hole_r
        ax, ay = hole_r * rng.uniform(1.1, 1.3), hole_r * rng.uniform(0.65, 0.85)
        tt = np.linspace(0, 2 * np.pi, int(rng.integers(7, 12)), endpoint=False)
        ring = c + (ax * np.cos(tt))[:, None] * right + (ay * np.sin(tt))[:, None] * down
        cv2.fillPoly(cut, [_scissor_poly(ring, rng, hole_r, 0.06 * hole_r)], 0, cv2.LINE_AA, shift=2)
    alpha = cut.astype(np.float32) / 255.0
    # held up to the face: a small tilt of the sheet, a gradient of light across it
    m, _ = _placement(w, h, w, h, rng, scale=(0.98, 1.02), rot=2, tilt=0.006, shift=0.01)
    printed = _warp(printed, m, w, h)
    alpha = _warp(alpha, m, w, h)
    light = 1 + rng.uniform(-0.12, 0.12) * np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    moved = cv2.perspectiveTransform(np.float32([[e1, e2, center]]), m)[0]
    back = _attacker(h, w, moved[2], axes, roll, moved[:2], hole_r, rng)
    back = _drop_shadow(back, alpha, rng, strength=(0.3, 0.55))
    return _composite(back, printed * light, alpha)
