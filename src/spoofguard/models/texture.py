"""texture: hand-crafted texture descriptors of the finger + a linear classifier (the classic LivDet recipe).

The descriptors are the ones that won the early LivDet competitions and remain the baseline every
CNN must beat (Nikam & Agarwal 2008 and Marasco & Ross's survey for LBP; Ghiani et al., ICPR 2012
for LPQ; Gragnaniello et al. 2013 for the Weber local descriptor):

- **LBP**, uniform patterns (Ojala et al., TPAMI 2002) at four scales: (P=8, R=1) and (8, 2) with the
  59 rotation-variant uniform bins, (16, 2) and (24, 3) with the P+2 rotation-invariant uniform bins.
  Neighbours off the pixel grid are bilinearly interpolated, as in Ojala's paper and scikit-image.
- **LPQ** (Ojansivu & Heikkila 2008): the signs of the real and imaginary parts of a 7x7 short-term
  Fourier transform at four low frequencies, a 256-bin code that is blur-insensitive.
- **WLD** (Chen et al., TPAMI 2010): differential excitation ``atan(sum(neighbour - centre) / centre)``
  in 8 bins times gradient orientation in 8 sectors.

Every code is computed from whole grey levels by comparisons that have no float ties (LBP's
interpolated neighbours against the centre with a 1e-4 margin, LPQ's signs with a dead zone, WLD's
bins as integer comparisons), so an exported ONNX model gives the same histograms as torch.

Each histogram is taken over the **finger's foreground** only (local standard deviation over 15 px,
the same rule as the patch pipeline's mask, cleaned by a morphological close/open), normalised to
sum 1 and square-rooted (Hellinger), then standardised and fed to a linear classifier (logistic
regression, scikit-learn's, fitted by :mod:`spoofguard.training.fit_features`). Its output is the
classifier's logits, so ``softmax`` gives a calibrated P(class) and the model is an ``nn.Module``
like every other: bundles (the scaler and coefficients are tensors in the safetensors file, never a
pickle), predict, serve, compare and cv work unchanged. Nothing is learnt by gradient descent.

Input: one view of the capture at its **native resolution** (``crop="native"``: the print on a fixed
canvas, never resized, so the ridge texture is intact), pixel values 0-255 (``mean 0, std 1``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spoofguard.models.registry import Capabilities, register_model

LBP_SCALES = ((8, 1, "u2"), (8, 2, "u2"), (16, 2, "riu2"), (24, 3, "riu2"))
LPQ_WINDOW = 7
WLD_BINS = (8, 8)  # excitation x orientation
LPQ_DEAD_ZONE = 1e-2  # STFT parts within this of 0 count as 0: a flat area's are 0 up to float rounding
# WLD excitation bin edges: atan(r) >= -pi/2 + k pi/8  <=>  r >= tan(-pi/2 + k pi/8), k = 1..7
WLD_EDGES = tuple(math.tan(-math.pi / 2 + k * math.pi / WLD_BINS[0]) for k in range(1, WLD_BINS[0]))
MASK_FLOOR = 6.0


def _u2_table(p: int) -> torch.Tensor:
    """Code -> bin for uniform patterns (at most 2 circular 0/1 transitions): P(P-1)+2 uniform bins, one for the rest."""
    table, nxt = [], 0
    for code in range(2**p):
        bits = [(code >> i) & 1 for i in range(p)]
        if sum(bits[i] != bits[(i + 1) % p] for i in range(p)) <= 2:
            table.append(nxt)
            nxt += 1
        else:
            table.append(-1)
    return torch.tensor([nxt if t < 0 else t for t in table], dtype=torch.long)


def _neighbour_taps(p: int, r: int) -> list[list[tuple[int, int, float]]]:
    """Per neighbour of (P, R): the grid pixels ``(dy, dx, weight)`` whose weighted sum is its bilinearly
    interpolated value (one tap on the grid, up to four off it)."""
    out = []
    for i in range(p):
        dy, dx = round(-r * math.sin(2 * math.pi * i / p), 6), round(r * math.cos(2 * math.pi * i / p), 6)
        y0, x0 = math.floor(dy), math.floor(dx)
        fy, fx = dy - y0, dx - x0
        taps = [(y0, x0, (1 - fy) * (1 - fx)), (y0 + 1, x0, fy * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx), (y0 + 1, x0 + 1, fy * fx)]
        out.append([(yy, xx, w) for yy, xx, w in taps if w > 1e-9])
    return out


def _shifted(g: torch.Tensor, r: int, dy: int, dx: int) -> torch.Tensor:
    """``g[y + dy, x + dx]`` for every pixel at least ``r`` from the border."""
    h, w = g.shape[-2:]
    return g[..., r + dy : h - r + dy, r + dx : w - r + dx]


def _lbp_bits(g: torch.Tensor, p: int, r: int):
    """The P bits ``neighbour >= centre`` of every inner pixel of ``g (N, 1, H, W)``, one at a time
    (``(N, H-2R, W-2R)`` bool each), neighbours interpolated bilinearly."""
    centre = _shifted(g, r, 0, 0)[:, 0] - 1e-4
    for taps in _neighbour_taps(p, r):
        v = None
        for dy, dx, w in taps:
            t = _shifted(g, r, dy, dx)[:, 0]
            t = t if w == 1.0 else t * w
            v = t if v is None else v + t
        yield v >= centre


def _lbp_codes(g: torch.Tensor, p: int, r: int, kind: str, table: torch.Tensor | None) -> torch.Tensor:
    """``(N, H-2R, W-2R)`` long: the uniform ("u2", through ``table``) or rotation-invariant uniform
    ("riu2": number of ones if at most two 0/1 transitions, else P + 1) LBP code of every inner pixel."""
    code = ones = transitions = first = last = None
    for i, b in enumerate(_lbp_bits(g, p, r)):
        bi = b.to(torch.int32)
        if i == 0:
            first, ones, transitions = b, bi, torch.zeros_like(bi)
            code = bi.clone()
        else:
            ones = ones + bi
            transitions = transitions + (b != last).to(torch.int32)
            if kind == "u2":
                code = code + (bi << i)
        last = b
    transitions = transitions + (last != first).to(torch.int32)
    if kind == "u2":
        return table[code.long()]
    return torch.where(transitions <= 2, ones, torch.full_like(ones, p + 1)).long()


def _lpq_kernels(window: int = LPQ_WINDOW) -> torch.Tensor:
    """``(3, w)``: the 1-D STFT kernels 1, cos and -sin of frequency 1/w (LPQ's filters are their outer products)."""
    x = torch.arange(window, dtype=torch.float64) - window // 2
    w1 = torch.exp(-2j * math.pi * x / window)
    return torch.stack([torch.ones(window, dtype=torch.float64), w1.real, w1.imag]).float()


def _lpq_parts(g: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``(N, 8, H-w+1, W-w+1)``: real and imaginary STFT parts at (a,0), (0,a), (a,a), (a,-a), a = 1/w,
    computed separably (a 1-D pass along x, then along y)."""
    w = k.shape[1]
    xs = F.conv2d(g, k.view(3, 1, 1, w))  # along x: 1, Re, Im
    ys = F.conv2d(xs.reshape(-1, 1, *xs.shape[-2:]), k.view(3, 1, w, 1)).view(g.shape[0], 3, 3, xs.shape[-2] - w + 1, xs.shape[-1])
    yx = lambda a, b: ys[:, b, a]  # noqa: E731  (y kernel a, x kernel b); 0 = 1, 1 = Re, 2 = Im
    return torch.stack([
        yx(0, 1), yx(0, 2),  # (a, 0) along x
        yx(1, 0), yx(2, 0),  # (0, a) along y
        yx(1, 1) - yx(2, 2), yx(1, 2) + yx(2, 1),  # (a, a)
        yx(1, 1) + yx(2, 2), yx(2, 1) - yx(1, 2),  # (a, -a)
    ], 1)


def _wld_codes(g: torch.Tensor) -> torch.Tensor:
    """``(N, H-2, W-2)`` long: Weber local descriptor code (excitation bin x 8 + orientation octant) of
    every inner pixel of ``g`` (whole grey levels). Bins come from comparisons of integer sums, never
    from atan values near a bin edge, so torch and onnxruntime give the same codes."""
    inner = _shifted(g, 1, 0, 0)
    diff = sum(_shifted(g, 1, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx) - 8 * inner  # sum(neighbour - centre)
    scaled = inner + 1.0
    e_bin = sum((diff >= t * scaled).long() for t in WLD_EDGES)  # excitation atan(diff / (centre + 1)), 8 bins over (-pi/2, pi/2)
    gx = _shifted(g, 1, 0, 1) - _shifted(g, 1, 0, -1)
    gy = _shifted(g, 1, 1, 0) - _shifted(g, 1, -1, 0)
    octant = (gy >= 0).long() * 4 + (gx >= 0).long() * 2 + (gy.abs() >= gx.abs()).long()  # gradient orientation, 8 sectors
    return (e_bin * WLD_BINS[1] + octant)[:, 0]


def feature_count() -> int:
    n = sum(p * (p - 1) + 3 if kind == "u2" else p + 2 for p, _, kind in LBP_SCALES)
    return n + 256 + WLD_BINS[0] * WLD_BINS[1]


class Texture(nn.Module):
    def __init__(self, num_classes: int, in_chans: int = 1):
        super().__init__()
        self.in_chans = in_chans
        n = feature_count()
        for p, r, kind in LBP_SCALES:
            if kind == "u2":
                self.register_buffer(f"u2_{p}", _u2_table(p), persistent=False)
        self.register_buffer("lpq", _lpq_kernels(), persistent=False)
        self.register_buffer("powers8", 2 ** torch.arange(8).float(), persistent=False)
        # what fitting learns (saved in the bundle): the scaler and the linear classifier
        self.register_buffer("feature_mean", torch.zeros(n))
        self.register_buffer("feature_scale", torch.ones(n))
        self.register_buffer("weight", torch.zeros(num_classes, n))
        self.register_buffer("bias", torch.zeros(num_classes))

    # -- descriptors ---------------------------------------------------------------------------------

    def foreground(self, g: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` grey 0-255 -> float mask of the finger: local standard deviation over about
        15 px at least the mean over the textured pixels (and at least a floor, so a blank capture has
        no foreground), closed then opened. Worked out at a quarter of the resolution (the mask's
        detail is ridges-wide, ~8 px), then scaled back."""
        f = 4
        h, w = g.shape[-2:]
        small_mean = F.avg_pool2d(g, f, ceil_mode=True)
        small_sq = F.avg_pool2d(g * g, f, ceil_mode=True)
        k, pad = 5, 2  # 5 small pixels ~ 20 px: about 1.5 ridge periods at 500 dpi
        mean = F.avg_pool2d(F.pad(small_mean, (pad,) * 4, mode="replicate"), k, stride=1)
        sq = F.avg_pool2d(F.pad(small_sq, (pad,) * 4, mode="replicate"), k, stride=1)
        std = (sq - mean * mean).clamp_min(0).sqrt()
        textured = (std > 1.0).float()
        level = (std * textured).flatten(1).sum(1) / textured.flatten(1).sum(1).clamp_min(1.0)
        mask = (std >= level.clamp_min(MASK_FLOOR).view(-1, 1, 1, 1)).float()
        dilate = lambda m: F.max_pool2d(m, 3, stride=1, padding=1)  # noqa: E731
        erode = lambda m: -F.max_pool2d(-m, 3, stride=1, padding=1)  # noqa: E731
        mask = dilate(erode(erode(dilate(mask))))
        return F.interpolate(mask, scale_factor=f, mode="nearest")[..., :h, :w]

    def _hist(self, codes: torch.Tensor, mask: torch.Tensor, bins: int) -> torch.Tensor:
        """Normalised, square-rooted histogram of ``codes (N, H, W)`` over ``mask (N, H, W)``."""
        n = codes.shape[0]
        h = torch.zeros(n, bins, dtype=mask.dtype, device=mask.device).scatter_add_(1, codes.flatten(1), mask.flatten(1))
        return (h / h.sum(1, keepdim=True).clamp_min(1.0)).sqrt()

    def descriptors(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` pixel values 0-255 -> ``(N, F)`` texture features (before the scaler)."""
        g = x.float().mean(1, keepdim=True).round() if x.shape[1] > 1 else x.float()  # whole grey levels: the codes below are exact
        mask = self.foreground(g)
        # no ridges anywhere (a blank capture): look at everything; always applied (no data-dependent branch, which an
        # ONNX trace would freeze to whatever its example input took)
        empty = ~mask.flatten(1).any(1)
        mask = torch.where(empty.view(-1, 1, 1, 1), torch.ones_like(mask), mask)
        feats = []
        for p, r, kind in LBP_SCALES:
            bins = p * (p - 1) + 3 if kind == "u2" else p + 2
            table = getattr(self, f"u2_{p}") if kind == "u2" else None
            feats.append(self._hist(_lbp_codes(g, p, r, kind, table), mask[:, 0, r:-r, r:-r], bins))
        r = LPQ_WINDOW // 2
        q = (_lpq_parts(g, self.lpq) > LPQ_DEAD_ZONE).float()  # (N, 8, H-6, W-6); flat areas give 0, not rounding noise
        feats.append(self._hist((q * self.powers8.view(1, -1, 1, 1)).sum(1).long(), mask[:, 0, r:-r, r:-r], 256))
        feats.append(self._hist(_wld_codes(g), mask[:, 0, 1:-1, 1:-1], WLD_BINS[0] * WLD_BINS[1]))
        return torch.cat(feats, 1)

    # -- the classifier --------------------------------------------------------------------------------

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        z = (features - self.feature_mean) / self.feature_scale
        return z @ self.weight.t() + self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.descriptors(x))

    @torch.no_grad()
    def set_classifier(self, mean, scale, weight, bias) -> None:
        """Store a fitted scaler and linear classifier (numpy or torch arrays)."""
        for name, value in (("feature_mean", mean), ("feature_scale", scale), ("weight", weight), ("bias", bias)):
            t = torch.as_tensor(value, dtype=torch.float32)
            if t.shape != getattr(self, name).shape:
                raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {tuple(getattr(self, name).shape)}")
            getattr(self, name).copy_(t)


@register_model("texture", default_input_size=400, fingerprint_crop="native", capabilities=Capabilities(fitted=True), bounds={},
                input_contract={"mean": 0.0, "std": 1.0, "pixel_range": 255.0})
def texture(classes, in_chans=3):
    """Multi-scale LBP + LPQ + WLD histograms of the finger, logistic regression; fitted in seconds, no gradient training."""
    return Texture(len(classes), in_chans)
