"""`spoofguard data check`: what would make an evaluation on this manifest lie.

Leakage (the manifest's splits let test information into training; exit status 1):

- a **subject** in more than one split;
- a **video** (``video_id``) whose frames sit in more than one split;
- **identical files** (sha256) in more than one split;
- **near-duplicates** across splits: a 256-bit difference hash (dHash: 17x16 grey thumbnail, sign
  of horizontal differences) within ``max_hamming`` bits, so re-encoded or slightly cropped copies
  of one capture are caught too. On NUAA (one webcam, one room, 9 people) a 10-px crop saved as JPEG
  at quality 70 is 13 bits from its original, consecutive frames of one video about 5, and frames of
  two different people at least 31: the default of 16 bits sits between. (A 64-bit hash could not
  tell two people in the same room apart: 1 bit.)

Warnings (reported, exit status 0): identical files within one split, class imbalance (a class below
10 % of the samples), images smaller than ``min_side`` pixels, unreadable files. A manifest without
splits can only be checked for the warnings and for duplicates; leakage needs splits (e.g. a run's
``split.csv``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from spoofguard.data.manifest import Manifest
from spoofguard.errors import SpoofguardError


@dataclass
class Finding:
    kind: str  # subjects_across_splits | videos_across_splits | identical_across_splits | near_duplicates_across_splits | ...
    leak: bool
    message: str
    examples: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    samples: int
    findings: list[Finding]

    @property
    def leaks(self) -> list[Finding]:
        return [f for f in self.findings if f.leak]


def check_manifest(manifest: Manifest, near_duplicates: bool = True, max_hamming: int = 16, min_side: int = 64,
                   hashes: dict[str, str] | None = None, workers: int = 4) -> CheckReport:
    from spoofguard.data.scan import find_duplicates

    if len(manifest) == 0:
        raise SpoofguardError("the manifest has no samples to check.")
    findings: list[Finding] = []
    has_splits = any(s.split for s in manifest)
    if has_splits:
        findings += _across_splits(manifest, "subject", "subjects_across_splits", "subject(s) appear in more than one split")
        findings += _across_splits(manifest, "video_id", "videos_across_splits", "video(s) have frames in more than one split")
    groups = find_duplicates(manifest, hashes)
    crossing = [g for g in groups if g.crosses_splits]
    within = [g for g in groups if not g.crosses_splits]
    if crossing:
        findings.append(Finding("identical_across_splits", True, f"{len(crossing)} group(s) of byte-identical files span more than one split",
                                [" == ".join(g.paths) + f"  ({', '.join(g.splits)})" for g in crossing[:10]]))
    if within:
        extra = sum(len(g.paths) - 1 for g in within)
        findings.append(Finding("identical_files", False, f"{len(within)} group(s) of byte-identical files ({extra} redundant file(s))",
                                [" == ".join(g.paths) for g in within[:10]]))
    sizes, dhashes, unreadable = _thumbnails(manifest, workers)
    if unreadable:
        findings.append(Finding("unreadable", False, f"{len(unreadable)} file(s) cannot be read as images", unreadable[:10]))
    tiny = [f"{p} ({w}x{h})" for p, (w, h) in sizes.items() if min(w, h) < min_side]
    if tiny:
        findings.append(Finding("tiny_images", False, f"{len(tiny)} image(s) smaller than {min_side} px on a side", tiny[:10]))
    findings += _imbalance(manifest)
    if near_duplicates and has_splits:
        pairs = _near_pairs(manifest, dhashes, max_hamming, {tuple(sorted(g.paths)) for g in groups})
        if pairs:
            findings.append(Finding("near_duplicates_across_splits", True,
                                    f"{len(pairs)} pair(s) of near-identical images (dHash within {max_hamming} bits) span two splits",
                                    [f"{a} ~ {b} ({d} bits)" for a, b, d in pairs[:10]]))
    return CheckReport(len(manifest), findings)


def _across_splits(manifest: Manifest, column: str, kind: str, what: str) -> list[Finding]:
    splits: dict[str, set] = defaultdict(set)
    for s in manifest:
        value = getattr(s, column)
        if value and s.split:
            splits[value].add(s.split)
    bad = sorted(v for v, sp in splits.items() if len(sp) > 1)
    if not bad:
        return []
    return [Finding(kind, True, f"{len(bad)} {what}", [f"{v}: {', '.join(sorted(splits[v]))}" for v in bad[:10]])]


def _imbalance(manifest: Manifest) -> list[Finding]:
    counts = Counter(s.label for s in manifest)
    n = len(manifest)
    low = [f"{c}: {k} of {n} ({100 * k / n:.1f} %)" for c, k in sorted(counts.items()) if k / n < 0.10]
    if len(counts) < 2:
        low = [f"only {next(iter(counts))} samples"]
    return [Finding("class_imbalance", False, "classes are strongly imbalanced (report per-class rates, consider --balanced)", low)] if low else []


def dhash(image, side: int = 16) -> np.ndarray:
    """``side * side``-bit difference hash of a PIL image, packed into ``side * side / 8`` bytes."""
    from PIL import Image

    small = np.asarray(image.convert("L").resize((side + 1, side), Image.Resampling.BILINEAR), dtype=np.int16)
    return np.packbits((small[:, 1:] > small[:, :-1]).flatten())


def _thumbnails(manifest: Manifest, workers: int):
    """(size from the header, dHash) per image; videos are skipped, unreadable files listed."""
    from spoofguard.media.images import is_image_file, open_checked

    def one(path: str):
        if not is_image_file(path):
            return path, None, None, None
        try:
            img = open_checked(path)
            try:
                size = img.size  # the header's, before the draft below shrinks the decode
                img.draft("L", (64, 64))  # JPEG: decode at a fraction of the size
                return path, size, dhash(img), None
            finally:
                img.close()
        except (SpoofguardError, OSError, ValueError, SyntaxError) as e:
            return path, None, None, str(e)

    sizes, hashes, unreadable = {}, {}, []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, size, h, err in pool.map(one, [s.path for s in manifest]):
            if err:
                unreadable.append(err if err.startswith(path) else f"{path}: {err}")
            elif size:
                sizes[path], hashes[path] = size, h
    return sizes, hashes, unreadable


POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def _near_pairs(manifest: Manifest, dhashes: dict[str, np.ndarray], max_hamming: int, identical: set) -> list[tuple[str, str, int]]:
    """Pairs of images in different splits whose dHashes differ in at most ``max_hamming`` bits."""
    rows = [(s.path, s.split) for s in manifest if s.path in dhashes and s.split]
    if len(rows) < 2:
        return []
    h = np.stack([dhashes[p] for p, _ in rows])  # (n, bytes)
    split = np.array([sp for _, sp in rows])
    out = []
    for start in range(0, len(rows), 128):
        dist = POPCOUNT[h[start : start + 128, None, :] ^ h[None, :, :]].sum(-1)
        for i, j in zip(*np.nonzero(dist <= max_hamming)):
            a, b = start + i, j
            if a < b and split[a] != split[b] and tuple(sorted((rows[a][0], rows[b][0]))) not in identical:
                out.append((rows[a][0], rows[b][0], int(dist[i, j])))
    return sorted(out, key=lambda t: t[2])
