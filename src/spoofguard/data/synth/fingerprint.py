"""Synthetic fingerprints, bona fide and attacks, in the spirit of SFinGe.

A *finger* is a master ridge pattern, made once and reused for all its captures:

1. an **orientation field** from singular points with the zero-pole model (Sherlock & Monro 1993):
   ``theta(z) = 1/2 (sum arg(z - core) - sum arg(z - delta))``, for loops, whorls and tented arches
   (plain arches use a smooth bump field), plus a little smooth noise;
2. a **ridge-frequency map**: a ridge period per finger (8-11 px in a 256 px capture) varying
   smoothly by about +-10 % over the finger;
3. **ridges grown by iterated Gabor filtering** (Cappelli, Maio & Maltoni's SFinGe): starting from
   random noise, a bank of oriented, zero-mean Gabor kernels (12 orientations x 2 periods) is applied
   with ``cv2.filter2D`` and each pixel keeps the response interpolated at its own orientation and
   period; a clipping non-linearity after each of 7 rounds turns the noise into ridges with natural
   minutiae (endings and bifurcations where ridges grown from different seeds meet).

A *capture* (impression) places the finger on the sensor: rotation, translation and a small elastic
distortion, a finger-shaped contact mask (an irregular ellipse whose ridges break up towards the
rim), **pressure** (ridge thickness, uneven over the finger), **moisture** (dry: broken, pale
ridges; wet: valleys bridged by sweat), sensor blur, noise, an uneven background with dust, the
sensor's image enhancement (the finger's histogram pulled towards a random target) and an exposure
with random black level, white level and gamma. All of these are drawn from the same distributions
for bona fide captures and for attacks, so global image statistics (mean, contrast, histogram,
finger area) say little about the class: the classes differ in local texture.

Bona fide captures carry the fine detail of living skin: **sweat pores** (pale dots along the ridge
centres), **crisp, slightly irregular ridge edges**, and uneven darkness along each ridge (sweat,
ridge units). Each attack is a cast of the finger's own master pattern (a spoof of that finger) in
one material, with that material's physically motivated artefacts:

- **gelatine**: softened ridge edges; air bubbles (pale round voids with a dark rim); no pores.
- **latex**: low, patchy contrast; ridges broken by thin cracks where the film tears; no pores.
- **woodglue**: blotchy valleys filled grey by uneven dried glue; dark flakes of residue; no pores.
- **silicone**: saturated, thick, flat black ridges with smooth edges, valleys closed in patches
  where the soft cast flattens; no pores, no sweat.
- **playdoh**: ridges smeared along the pressing direction, soft edges, coarse grain; no pores.

:data:`SPECIES_ARTEFACTS` says why, material by material.

Everything is deterministic given the seed: finger ``f`` draws from ``default_rng([seed, 0, f])`` and
sample ``i`` from ``default_rng([seed, 1, i])``, so no result depends on the order of generation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample, write_manifest
from spoofguard.errors import SpoofguardError

SPECIES_ARTEFACTS = {
    "gelatine": (
        "Gelatine is a soft, moist hydrogel cast in a mould: it deforms and wets the platen, so ridge "
        "edges are softened (a blurred ridge/valley transition), and air trapped while the warm "
        "gelatine sets leaves bubbles: pale round voids of 3-8 px radius (at 256 px) with a dark "
        "meniscus rim. The cast does not reproduce sweat pores."
    ),
    "latex": (
        "A thin latex film couples poorly and unevenly to the platen: low, patchy local contrast (grey "
        "ridges in places), and the film creases and tears where it cannot follow the ridges, so many "
        "ridges are broken by thin pale cracks one or two ridge periods long. The film bridges the pores."
    ),
    "woodglue": (
        "PVA wood glue dries unevenly and semi-transparent: blotchy valleys (irregular regions where "
        "thicker glue fills the valleys grey) and residue (ragged dark flakes of dried glue on the "
        "cast and the platen). Pores are not reproduced."
    ),
    "silicone": (
        "Silicone rubber is hydrophobic, elastic and cures to a smooth surface: ridges are saturated "
        "(flat, uniformly black, thick, with smooth sharp edges and no sweat texture), the soft cast "
        "flattens under pressure so valleys close in patches, no wet bridges form, and there are no pores."
    ),
    "playdoh": (
        "Play-Doh is a plastic, salty dough: pressing it on the sensor smears the ridges along the "
        "direction of motion (regions where ridges are dragged and washed out), softens their edges, "
        "and its salt and flour grains give a coarse pale and dark speckle. No pores."
    ),
}
SPECIES: tuple[str, ...] = tuple(SPECIES_ARTEFACTS)
"""The attack species this generator makes; see :data:`SPECIES_ARTEFACTS` for each one's artefacts."""

BONA_FIDE_FOLDER = "live"
SAMPLES_PER_FINGER = 4
PATTERNS = {"arch": 0.04, "tented_arch": 0.05, "left_loop": 0.32, "right_loop": 0.31, "whorl": 0.28}

# master ridge pattern: a canvas of MASTER px where UNIT px is about half a finger's width
MASTER = 216
UNIT = 67.0
N_ORIENT = 12
GABOR_ITERATIONS = 7
KERNEL = 11  # 11x11 keeps cv2.filter2D on its direct (fast) path


# --------------------------------------------------------------------------- helpers


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Zero-mean, unit-variance random field that varies over about ``cells`` blobs per side."""
    grid = rng.standard_normal((cells + 3, cells + 3)).astype(np.float32)
    h, w = shape
    big = cv2.resize(grid, (w + 2 * w // cells, h + 2 * h // cells), interpolation=cv2.INTER_CUBIC)
    oy, ox = h // cells, w // cells
    out = big[oy : oy + h, ox : ox + w]
    return (out - out.mean()) / (out.std() + 1e-6)


def fine_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """White noise blurred by ``sigma`` px, unit variance."""
    n = rng.standard_normal(shape, dtype=np.float32)
    if sigma > 0:
        n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / (n.std() + 1e-6)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))).astype(np.float32)


def spots(shape, centres: np.ndarray, radii: np.ndarray, value: float = 1.0) -> np.ndarray:
    """Anti-aliased filled discs on a float canvas in [0, 1] (sub-pixel positions)."""
    canvas = np.zeros(shape, np.uint8)
    shift = 4
    for (y, x), r in zip(centres, radii):
        cv2.circle(canvas, (int(x * 16), int(y * 16)), max(1, int(r * 16)), 255, -1, cv2.LINE_AA, shift)
    return canvas.astype(np.float32) * (value / 255.0)


def cracks(rng: np.random.Generator, shape, centres: np.ndarray, lengths: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased straight cracks of random direction through ``centres`` on a float canvas in [0, 1]."""
    canvas = np.zeros(shape, np.uint8)
    angles = rng.uniform(0, np.pi, len(centres))
    for (y, x), length, a in zip(centres, lengths, angles):
        dx, dy = 8 * length * math.cos(a), 8 * length * math.sin(a)
        p0, p1 = (int(x * 16 - dx), int(y * 16 - dy)), (int(x * 16 + dx), int(y * 16 + dy))
        cv2.line(canvas, p0, p1, 255, max(1, int(round(width))), cv2.LINE_AA, 4)
    return canvas.astype(np.float32) / 255.0


def random_points(rng: np.random.Generator, where: np.ndarray, n: int) -> np.ndarray:
    """``n`` random (y, x) positions (float) among the True pixels of ``where``."""
    ys, xs = np.nonzero(where)
    if len(ys) == 0 or n <= 0:
        return np.zeros((0, 2), np.float32)
    idx = rng.integers(0, len(ys), n)
    return np.stack([ys[idx], xs[idx]], 1).astype(np.float32) + rng.uniform(-0.5, 0.5, (n, 2)).astype(np.float32)


# --------------------------------------------------------------------------- master ridge pattern


def singular_points(rng: np.random.Generator, pattern: str) -> tuple[list[complex], list[complex]]:
    """Cores and deltas (complex positions in finger units, y down) for a pattern class."""
    side = -1.0 if pattern == "left_loop" else 1.0
    if pattern in ("left_loop", "right_loop"):
        core = complex(rng.uniform(-0.15, 0.15), rng.uniform(-0.35, 0.0))
        return [core], [core + complex(-side * rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9))]
    if pattern == "whorl":
        c = complex(rng.uniform(-0.12, 0.12), rng.uniform(-0.25, 0.05))
        d = rng.uniform(0.03, 0.2) * np.exp(1j * rng.uniform(-1.3, 1.3))
        deltas = [c + complex(-rng.uniform(0.6, 0.95), rng.uniform(0.45, 0.8)),
                  c + complex(rng.uniform(0.6, 0.95), rng.uniform(0.45, 0.8))]
        return [c - d, c + d], deltas
    if pattern == "tented_arch":
        c = complex(rng.uniform(-0.1, 0.1), rng.uniform(-0.2, 0.1))
        return [c], [c + complex(rng.uniform(-0.05, 0.05), rng.uniform(0.3, 0.5))]
    return [], []


def orientation_field(rng: np.random.Generator, pattern: str, size: int = MASTER) -> np.ndarray:
    """Ridge direction (radians, mod pi) per pixel by the zero-pole model, plus smooth noise."""
    y, x = np.mgrid[:size, :size].astype(np.float32)
    xn, yn = (x - size / 2) / UNIT, (y - size / 2) / UNIT
    if pattern == "arch":
        amp, width = rng.uniform(0.3, 0.65), rng.uniform(0.35, 0.6)
        slope = amp * xn / width**2 * np.exp(-(xn**2) / (2 * width**2)) * np.clip(1.2 - 0.6 * (yn + 0.3), 0.2, 1.5)
        theta = np.arctan(slope)
    else:
        z = xn + 1j * yn
        cores, deltas = singular_points(rng, pattern)
        theta = np.zeros((size, size), np.float64)
        for c in cores:
            theta += 0.5 * np.angle(z - c)
        for d in deltas:
            theta -= 0.5 * np.angle(z - d)
    theta = theta + rng.uniform(-0.12, 0.12) + 0.1 * smooth_noise(rng, (size, size), 5)
    return theta.astype(np.float32)


def gabor_kernel(theta: float, period: float, sigma: float, size: int = KERNEL) -> np.ndarray:
    """Zero-mean Gabor kernel for ridges running along ``theta``, gain 1 at ``period``."""
    r = size // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    across = -x * np.sin(theta) + y * np.cos(theta)
    envelope = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    wave = np.cos(2 * np.pi * across / period)
    g = envelope * wave
    g -= envelope * (g.sum() / envelope.sum())
    return (g / (g * wave).sum()).astype(np.float32)


def _orientation_weights(theta: np.ndarray, n: int = N_ORIENT) -> list[np.ndarray]:
    """Per orientation bin, each pixel's weight (linear interpolation between the two nearest bins)."""
    b = np.mod(theta, np.pi) / (np.pi / n)
    lo = np.floor(b).astype(np.int32) % n
    frac = (b - np.floor(b)).astype(np.float32)
    return [np.where(lo == k, 1 - frac, 0) + np.where((lo + 1) % n == k, frac, 0) for k in range(n)]


@dataclass
class Finger:
    """A finger's master ridge pattern: ``ridges`` in about [-1.5, 1.5] (ridge > 0), period in master px."""

    ridges: np.ndarray
    period: float
    pattern: str


def make_finger(rng: np.random.Generator) -> Finger:
    """Grow a master ridge pattern by iterated Gabor filtering (SFinGe's method, vectorised)."""
    names = list(PATTERNS)
    pattern = names[rng.choice(len(names), p=np.array(list(PATTERNS.values())) / sum(PATTERNS.values()))]
    theta = orientation_field(rng, pattern)
    period = float(rng.uniform(5.1, 6.0))
    p_lo, p_hi = period * 0.88, period * 1.12
    pmap = period * (1 + 0.07 * smooth_noise(rng, theta.shape, 4) + 0.05 * np.linspace(-1, 1, MASTER, dtype=np.float32)[:, None])
    w_hi = np.clip((pmap - p_lo) / (p_hi - p_lo), 0, 1).astype(np.float32)
    weights = []
    for k, w in enumerate(_orientation_weights(theta)):
        angle = k * np.pi / N_ORIENT
        weights.append(((w * (1 - w_hi)).astype(np.float32), gabor_kernel(angle, p_lo, 2.2)))
        weights.append(((w * w_hi).astype(np.float32), gabor_kernel(angle, p_hi, 2.4)))
    x = rng.standard_normal(theta.shape, dtype=np.float32)
    for it in range(GABOR_ITERATIONS):
        out = np.zeros_like(x)
        for w, kernel in weights:
            out += w * cv2.filter2D(x, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)
        x = np.clip(out * 2.5, -1, 1) if it < GABOR_ITERATIONS - 1 else out
    x /= np.percentile(np.abs(x), 95) + 1e-6
    ridges = np.clip(x, -1.5, 1.5)
    ridges = _add_creases(rng, ridges)
    return Finger(ridges=ridges.astype(np.float32), period=period, pattern=pattern)


def _add_creases(rng: np.random.Generator, ridges: np.ndarray) -> np.ndarray:
    """Flexion creases and scars (valley-level lines across the ridges), part of the finger itself."""
    n = rng.choice([0, 0, 0, 1, 2])
    if n == 0:
        return ridges
    canvas = np.zeros(ridges.shape, np.uint8)
    for _ in range(n):
        y0 = rng.uniform(0.35, 0.9) * MASTER
        a = rng.uniform(-0.35, 0.35)
        x0, x1 = rng.uniform(0, 0.4) * MASTER, rng.uniform(0.6, 1.0) * MASTER
        p0 = (int(x0 * 16), int((y0 + (x0 - MASTER / 2) * a) * 16))
        p1 = (int(x1 * 16), int((y0 + (x1 - MASTER / 2) * a) * 16))
        cv2.line(canvas, p0, p1, 255, int(rng.integers(1, 3)), cv2.LINE_AA, 4)
    crease = cv2.GaussianBlur(canvas.astype(np.float32) / 255, (0, 0), 0.6)
    return ridges * (1 - crease) - 1.0 * crease


# --------------------------------------------------------------------------- one capture


@dataclass
class Capture:
    """Everything about one impression that both classes share, at output resolution."""

    height: np.ndarray  # ridge height (ridge > 0)
    mask: np.ndarray  # 1 on the finger, 0 off it, soft rim
    period: float  # ridge period in output px
    scale: float  # output px per reference (256 px) px
    rng: np.random.Generator


def place_finger(finger: Finger, rng: np.random.Generator, size: int) -> Capture:
    """Rotate, shift and elastically distort the master onto the sensor; cut out the finger shape."""
    s = size / 256.0
    zoom = s * rng.uniform(1.6, 1.8)  # output px per master px
    angle = rng.uniform(-0.26, 0.26)
    shift = rng.uniform(-0.1, 0.1, 2) * MASTER
    v, u = np.mgrid[:size, :size].astype(np.float32)
    du, dv = (u - size / 2) / zoom, (v - size / 2) / zoom
    ca, sa = math.cos(angle), math.sin(angle)
    warp = 2.0 * smooth_noise(rng, (size, size), 3), 2.0 * smooth_noise(rng, (size, size), 3)
    map_x = (MASTER / 2 + shift[0] + ca * du - sa * dv + warp[0]).astype(np.float32)
    map_y = (MASTER / 2 + shift[1] + sa * du + ca * dv + warp[1]).astype(np.float32)
    master = finger.ridges
    if zoom < 0.8:  # shrink: low-pass first so the ridges do not alias
        master = cv2.GaussianBlur(master, (0, 0), 0.5 / zoom)
    height = cv2.remap(master, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return Capture(height, finger_mask(rng, size), finger.period * zoom, s, rng)


def finger_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fingertip contact area: an irregular ellipse, often cut by the bottom edge, with a soft rim."""
    cx, cy = size * (0.5 + rng.uniform(-0.07, 0.07)), size * (0.5 + rng.uniform(-0.04, 0.12))
    ax = size * rng.uniform(0.34, 0.46)
    ay = max(ax * 1.05, size * rng.uniform(0.44, 0.58))
    v, u = np.mgrid[:size, :size].astype(np.float32)
    r = np.sqrt(((u - cx) / ax) ** 2 + ((v - cy) / ay) ** 2)
    r = r * (1 + 0.05 * smooth_noise(rng, (size, size), 4)) + 0.03 * fine_noise(rng, (size, size), 2.0 * size / 256)
    rim = rng.uniform(0.05, 0.12)
    return np.clip((1 - r) / rim, 0, 1).astype(np.float32)


def contact(cap: Capture, pressure: float, softness: float, roughness: float) -> np.ndarray:
    """Ridge contact with the platen in [0, 1]: thicker with pressure, thinning out at the rim."""
    rng, size = cap.rng, cap.height.shape[0]
    level = 0.45 - 0.75 * pressure + 0.15 * smooth_noise(rng, (size, size), 3)
    level = level + 0.9 * (1 - cap.mask)  # the rim presses less: thinner, broken ridges
    h = cap.height
    if roughness > 0:
        h = h + roughness * fine_noise(rng, h.shape, 0.7 * cap.scale)
    return sigmoid((h - level) / softness)


def moisture(cap: Capture, c: np.ndarray, wetness: float) -> np.ndarray:
    """Dry skin (wetness < 0) breaks ridges into pale fragments; wet skin (> 0) bridges valleys."""
    size = c.shape[0]
    blobs = fine_noise(cap.rng, (size, size), 1.6 * cap.scale)
    if wetness < 0:
        gaps = sigmoid((blobs - 3.0 + 0.6 * -wetness) / 0.25)
        return c * (1 - gaps)
    patches = sigmoid((smooth_noise(cap.rng, (size, size), 8) - 2.0 + 0.8 * wetness) / 0.2)
    return np.maximum(c, patches * sigmoid((cap.height - 0.1) / 0.1))


def pores(cap: Capture, c: np.ndarray, strength: float) -> np.ndarray:
    """Sweat pores: pale dots of 2-3 px radius (at 256 px) on the ridge centres, about one per period."""
    size = c.shape[0]
    centres = cap.height > 0.75
    rate = 1.0 / (cap.period**2 * 0.35)
    n = int(rate * centres.sum())
    pts = random_points(cap.rng, centres, n)
    radii = cap.scale * cap.rng.uniform(2.0, 2.8, len(pts))
    dots = cv2.GaussianBlur(spots((size, size), pts, radii), (0, 0), 0.5 * cap.scale)
    return c * (1 - strength * dots)


def ridge_texture(cap: Capture, c: np.ndarray, depth: float) -> np.ndarray:
    """Uneven darkness along the ridges (sweat, ridge units): living skin is never a flat stamp."""
    t = fine_noise(cap.rng, c.shape, 1.8 * cap.scale)
    return c * (1 - depth * sigmoid(t * 1.5 - 0.5))


# --------------------------------------------------------------------------- attack species


def _gelatine(cap: Capture, p: dict) -> np.ndarray:
    """Soft, blurred ridges and air bubbles (pale voids with a dark meniscus rim)."""
    rng, size, s = cap.rng, cap.height.shape[0], cap.scale
    c = contact(cap, p["pressure"], rng.uniform(0.25, 0.4), 0.03)
    c = moisture(cap, c, p["wetness"])
    c = cv2.GaussianBlur(c, (0, 0), 1.3 * s)
    n = int(rng.integers(20, 50))
    pts = random_points(rng, cap.mask > 0.6, n)
    radii = s * rng.uniform(3.0, 8.0, n)
    rim = spots((size, size), pts, radii + 1.0 * s)
    void = spots((size, size), pts, radii)
    c = np.maximum(c, 0.75 * (rim - void) * cap.mask)
    return c * (1 - void * rng.uniform(0.85, 1.0, 1).astype(np.float32))


def _latex(cap: Capture, p: dict) -> np.ndarray:
    """Patchy low contrast and ridges broken by thin cracks in the film."""
    rng, size, s = cap.rng, cap.height.shape[0], cap.scale
    c = contact(cap, p["pressure"], rng.uniform(0.1, 0.18), 0.05)
    c = moisture(cap, c, p["wetness"])
    patchy = 0.25 + 0.6 * sigmoid(2.0 * smooth_noise(rng, (size, size), 5))
    c = c * patchy
    centres = cap.height > 0.5
    n = int(centres.sum() / (cap.period**2 * rng.uniform(0.4, 0.8)))
    pts = random_points(rng, centres, n)
    tears = cracks(rng, (size, size), pts, cap.period * rng.uniform(0.8, 2.0, len(pts)), s * rng.uniform(1.5, 2.5))
    return c * (1 - tears)


def _woodglue(cap: Capture, p: dict) -> np.ndarray:
    """Valleys filled grey in irregular blotches, and ragged dark flakes of dried glue."""
    rng, size, s = cap.rng, cap.height.shape[0], cap.scale
    c = contact(cap, p["pressure"], rng.uniform(0.08, 0.16), 0.05)
    c = moisture(cap, c, p["wetness"])
    field = smooth_noise(rng, (size, size), 7) + 0.35 * fine_noise(rng, (size, size), 2.0 * s)
    blotch = sigmoid((field - rng.uniform(-0.1, 0.5)) / 0.15) * cap.mask
    c = c + (1 - c) * blotch * rng.uniform(0.5, 0.8)
    n = int(rng.integers(30, 70))
    pts = random_points(rng, cap.mask > 0.2, n)
    flakes = spots((size, size), pts, s * rng.uniform(1.5, 4.0, n))
    flakes = flakes * sigmoid(fine_noise(rng, (size, size), 1.0 * s) * 2 + 1)  # ragged flakes
    return np.maximum(c, 0.9 * flakes)


def _silicone(cap: Capture, p: dict) -> np.ndarray:
    """Saturated, thick, flat ridges with smooth sharp edges; valleys closed in patches."""
    rng, size = cap.rng, cap.height.shape[0]
    c = contact(cap, p["pressure"] * 0.5 + 0.6, rng.uniform(0.03, 0.06), 0.0)
    c = moisture(cap, c, min(p["wetness"], 0.0) * 0.5)  # hydrophobic: no sweat bridges
    fused = sigmoid((smooth_noise(rng, (size, size), 6) - rng.uniform(0.6, 1.2)) / 0.12)
    c = np.maximum(c, fused * sigmoid((cap.height + 0.7) / 0.1))  # flattened cast: valleys closed
    return np.clip(c * 1.4, 0, 1)


def _playdoh(cap: Capture, p: dict) -> np.ndarray:
    """Ridges smeared along the pressing direction, soft edges, coarse pale and dark grain."""
    rng, size, s = cap.rng, cap.height.shape[0], cap.scale
    length = int(round(s * rng.uniform(9, 16))) | 1
    angle = rng.uniform(0, np.pi)
    k = np.zeros((length, length), np.float32)
    r = length // 2
    dx, dy = math.cos(angle) * r, math.sin(angle) * r
    cv2.line(k, (int(round(r - dx)), int(round(r - dy))), (int(round(r + dx)), int(round(r + dy))), 1.0, 1)
    smeared = cv2.filter2D(cap.height, cv2.CV_32F, k / k.sum(), borderType=cv2.BORDER_REFLECT)
    smeared = smeared / (np.percentile(np.abs(smeared), 95) + 1e-6)
    where = sigmoid((smooth_noise(rng, (size, size), 4) + rng.uniform(0.8, 2.0)) / 0.3)
    cap.height = where * smeared + (1 - where) * cap.height
    c = contact(cap, p["pressure"], rng.uniform(0.14, 0.24), 0.04)
    c = moisture(cap, c, p["wetness"])
    grains = fine_noise(rng, (size, size), 1.2 * s)
    c = c + 0.6 * (sigmoid((grains - 1.4) / 0.15) - sigmoid((-grains - 1.4) / 0.15))
    return np.clip(c, 0, 1)


ATTACKS: dict[str, Callable[[Capture, dict], np.ndarray]] = {
    "gelatine": _gelatine,
    "latex": _latex,
    "woodglue": _woodglue,
    "silicone": _silicone,
    "playdoh": _playdoh,
}


def _bona_fide(cap: Capture, p: dict) -> np.ndarray:
    """Living skin: crisp, slightly rough ridge edges, uneven darkness along ridges, sweat pores."""
    rng = cap.rng
    c = contact(cap, p["pressure"], rng.uniform(0.05, 0.11), rng.uniform(0.06, 0.12))
    c = moisture(cap, c, p["wetness"])
    c = ridge_texture(cap, c, rng.uniform(0.35, 0.55))
    return pores(cap, c, rng.uniform(0.9, 1.0))


# --------------------------------------------------------------------------- the sensor


def sensor(cap: Capture, c: np.ndarray, p: dict) -> np.ndarray:
    """Optical sensor: dark where the finger touches, uneven bright background, blur, noise, exposure."""
    rng, size, s = cap.rng, c.shape[0], cap.scale
    v, u = np.mgrid[:size, :size].astype(np.float32) / size - 0.5
    vignette = 1 - p["vignette"] * (u**2 + v**2) * 2
    background = vignette * (1 + 0.04 * smooth_noise(rng, (size, size), 3))
    n_dust = int(rng.integers(0, 25))
    dust = spots((size, size), rng.uniform(0, size, (n_dust, 2)), s * rng.uniform(0.5, 1.5, n_dust))
    ink = np.maximum(c * cap.mask, 0.6 * dust)
    img = background * (1 - p["depth"] * ink)
    img = cv2.GaussianBlur(img, (0, 0), p["blur"] * s)
    img = img + p["noise"] * rng.standard_normal(img.shape, dtype=np.float32)
    lo, hi = np.percentile(img[::2, ::2], (0.5, 99.5))
    img = np.clip((img - lo) / max(hi - lo, 1e-3), 0, 1)
    img = tone_map(img, cap.mask, rng, p["tone_map"]) ** p["gamma"]
    img = p["black"] + (p["white"] - p["black"]) * img
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def tone_map(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, amount: float, bins: int = 1024) -> np.ndarray:
    """The sensor's adaptive enhancement: pull the finger's grey-level histogram towards a random target.

    Fingerprint scanners enhance their images (gain, histogram stretching). Here the histogram of
    the finger area is moved (by ``amount`` in [0, 1]) to a random target with dark ridges, pale
    valleys and a spread between, drawn independently of the class; the background is left alone.
    The mapping is monotone, so ranks, hence all local structure, are kept.
    """
    q = np.clip(img * (bins - 1), 0, bins - 1).astype(np.int32)
    hist = np.bincount(q[mask > 0.5], minlength=bins).astype(np.float64)
    cdf = (np.cumsum(hist) - hist / 2) / max(hist.sum(), 1.0)
    w_dark, w_mid = rng.uniform(0.3, 0.55), rng.uniform(0.1, 0.25)
    k = 2048
    n_dark, n_mid = int(k * w_dark), int(k * w_mid)
    target = np.concatenate([
        rng.normal(rng.uniform(0.04, 0.2), rng.uniform(0.03, 0.08), n_dark),
        rng.uniform(0.15, 0.8, n_mid),
        rng.normal(rng.uniform(0.78, 0.92), rng.uniform(0.03, 0.07), k - n_dark - n_mid),
    ])
    target = np.sort(np.clip(target, 0, 1))
    lut = np.interp(cdf, (np.arange(k) + 0.5) / k, target).astype(np.float32)
    w = amount * mask
    return (1 - w) * img + w * lut[q]


def capture_params(rng: np.random.Generator) -> dict:
    """Per-capture conditions drawn the same way for bona fide samples and attacks."""
    return {
        "pressure": rng.uniform(0.0, 1.0),
        "wetness": rng.uniform(-1.0, 1.0),
        "depth": rng.uniform(0.75, 0.95),
        "vignette": rng.uniform(0.0, 0.3),
        "blur": rng.uniform(0.3, 0.6),
        "noise": rng.uniform(0.005, 0.03),
        "gamma": rng.uniform(0.8, 1.25),
        "black": rng.uniform(0, 45),
        "white": rng.uniform(175, 245),
        "tone_map": rng.uniform(0.5, 1.0),
    }


def render(finger: Finger, rng: np.random.Generator, size: int, species: str = "") -> np.ndarray:
    """One 8-bit grey capture of ``finger``: bona fide when ``species`` is empty, else that attack."""
    params = capture_params(rng)
    cap = place_finger(finger, rng, size)
    c = ATTACKS[species](cap, params) if species else _bona_fide(cap, params)
    return sensor(cap, c, params)


# --------------------------------------------------------------------------- a data set


def _check(out_dir: Path, n: int, species: tuple[str, ...], size: int, seed: int) -> None:
    unknown = [sp for sp in species if sp not in SPECIES]
    if unknown:
        raise SpoofguardError(f"unknown species {', '.join(map(repr, unknown))}; known species: {', '.join(SPECIES)}.")
    if not species:
        raise SpoofguardError(f"give at least one species (known: {', '.join(SPECIES)}).")
    if len(set(species)) != len(species):
        raise SpoofguardError("each species may be given only once.")
    if not isinstance(n, int) or n < 2 or n < 2 * len(species):
        raise SpoofguardError(f"-n must be at least 2 and at least twice the number of species ({2 * len(species)}) (got {n}).")
    if not isinstance(size, int) or not 64 <= size <= 2048:
        raise SpoofguardError(f"--size must be between 64 and 2048 pixels (got {size}).")
    if not isinstance(seed, int) or seed < 0:
        raise SpoofguardError(f"--seed must be a non-negative whole number (got {seed!r}).")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise SpoofguardError(f"{out_dir} already exists and is not empty; choose a new folder (nothing is overwritten).")


def plan(n: int, species: tuple[str, ...], seed: int) -> list[tuple[int, int, str]]:
    """(finger, impression, species or "") per sample, ordered by finger.

    Half the samples (rounded up) are bona fide, the rest split evenly over the species; samples are
    dealt at random to ``ceil(n / 4)`` fingers, so a finger may have live captures and spoofs.
    """
    n_bona = (n + 1) // 2
    per, extra = divmod(n - n_bona, len(species))
    classes = [""] * n_bona + [sp for i, sp in enumerate(species) for _ in range(per + (i < extra))]
    n_fingers = max(1, math.ceil(n / SAMPLES_PER_FINGER))
    order = np.random.default_rng([seed, 2]).permutation(n)
    impressions: dict[int, int] = {}
    rows = []
    for slot, k in enumerate(order):
        finger = slot % n_fingers
        impressions[finger] = impressions.get(finger, 0) + 1
        rows.append((finger, impressions[finger], classes[int(k)]))
    return sorted(rows, key=lambda r: (r[0], r[1]))


def generate_fingerprints(
    out_dir: str | os.PathLike,
    n: int = 200,
    species: tuple[str, ...] | list[str] = SPECIES,
    seed: int = 0,
    size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Write ``n`` synthetic prints to ``out_dir`` and return their manifest.

    Layout (what ``spoofguard data scan`` reads): ``out_dir/live/f0007_2.png`` for bona fide
    captures, ``out_dir/<species>/f0007_3.png`` for attacks (finger id = subject, then the
    impression number), and ``out_dir/manifest.csv``. Same arguments, same bytes.
    """
    out = Path(out_dir)
    species = tuple(s.strip() for s in species.split(",")) if isinstance(species, str) else tuple(species)
    _check(out, n, species, size, seed)
    rows = plan(n, species, seed)
    for folder in [BONA_FIDE_FOLDER, *species]:
        (out / folder).mkdir(parents=True, exist_ok=True)
    samples, finger, current = [], None, -1
    for i, (f, impression, sp) in enumerate(rows):
        if f != current:
            finger, current = make_finger(np.random.default_rng([seed, 0, f])), f
        img = render(finger, np.random.default_rng([seed, 1, i]), size, sp)
        subject = f"f{f:04d}"
        path = (out / (sp or BONA_FIDE_FOLDER) / f"{subject}_{impression}.png").resolve()
        _, png = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        path.write_bytes(png.tobytes())
        samples.append(Sample(path=str(path), label=ATTACK if sp else BONA_FIDE, species=sp, subject=subject))
        if progress is not None:
            progress(i + 1, n)
    manifest = Manifest(sorted(samples, key=lambda s: s.path))
    write_manifest(manifest, out / "manifest.csv")
    return manifest


def save_grid(manifest: Manifest, path: str | os.PathLike, per_class: int = 4) -> Path:
    """A picture grid: one row per class (bona fide first, then each species), titled by class name."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from spoofguard.media.images import load_image

    by_class: dict[str, list[Sample]] = {}
    for s in manifest:
        by_class.setdefault(s.class_name, []).append(s)
    names = sorted(by_class, key=lambda c: (c != BONA_FIDE, SPECIES.index(c) if c in SPECIES else 99, c))
    fig = Figure(figsize=(2.0 * per_class, 2.15 * len(names)))
    FigureCanvasAgg(fig)
    for r, name in enumerate(names):
        for k, s in enumerate(by_class[name][:per_class]):
            ax = fig.add_subplot(len(names), per_class, r * per_class + k + 1)
            ax.imshow(load_image(s.path, 1)[..., 0], cmap="gray", vmin=0, vmax=255)
            ax.set_title(name.replace("_", " "), fontsize=9)
            ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
