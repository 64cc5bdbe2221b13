"""Evaluation protocols: how a manifest is divided into train / dev / test.

- ``random``: stratified by class (bona fide and each attack species), 70/15/15. Byte-identical
  files are kept together in one split, so a duplicated capture cannot leak from train into test.
- ``subject``: subject-disjoint with the same proportions (stratified by each subject's main class);
  the default whenever every sample has a subject.
- ``manifest``: the splits already written in the manifest.

All are deterministic given the seed.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from spoofguard.data.manifest import ATTACK, BONA_FIDE, SPLITS, Manifest, sha256_file
from spoofguard.errors import SpoofguardError

PROTOCOLS = ("auto", "random", "subject", "manifest")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


def resolve_protocol(manifest: Manifest, protocol: str = "auto") -> str:
    if protocol not in PROTOCOLS:
        raise SpoofguardError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}.")
    if protocol != "auto":
        return protocol
    if manifest.has_splits:
        return "manifest"
    return "subject" if manifest.has_subjects else "random"


def split_manifest(
    manifest: Manifest,
    protocol: str = "auto",
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    hashes: dict[str, str] | None = None,
) -> tuple[Manifest, str]:
    """Return the manifest with its ``split`` column filled, and the protocol used."""
    protocol = resolve_protocol(manifest, protocol)
    if protocol == "manifest":
        if not manifest.has_splits:
            raise SpoofguardError("protocol 'manifest' needs a split for every row; some rows have none.")
        return manifest, protocol
    if protocol == "subject":
        if not manifest.has_subjects:
            n = sum(1 for s in manifest if not s.subject)
            raise SpoofguardError(
                f"protocol 'subject' needs a subject for every sample; {n} have none "
                "(use --subject-pattern when scanning, or --protocol random)."
            )
        units = [s.subject for s in manifest]
    else:
        hashes = hashes if hashes is not None else {s.path: sha256_file(s.path) for s in manifest}
        units = [hashes[s.path] for s in manifest]
    splits = _assign(units, [s.class_name for s in manifest], seed, fractions)
    return manifest.with_splits(splits), protocol


def _assign(units: list[str], classes: list[str], seed: int, fractions) -> list[str]:
    """Give every unit (subject, or group of identical files) one split, stratified by class.

    Each unit is filed under its most frequent class; within a class the units are shuffled and cut
    where the running sample count crosses the split fractions, so samples (not units) follow the
    proportions. Each split gets at least one unit of a class that has three or more.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise SpoofguardError(f"split fractions {fractions} must be three non-negative numbers adding up to 1.")
    rng = np.random.default_rng(seed)
    unit_size = Counter(units)
    unit_classes: dict[str, Counter] = defaultdict(Counter)
    for u, c in zip(units, classes):
        unit_classes[u][c] += 1
    by_class: dict[str, list[str]] = defaultdict(list)
    for u in sorted(unit_classes):
        by_class[max(sorted(unit_classes[u]), key=lambda c: unit_classes[u][c])].append(u)
    split_of: dict[str, str] = {}
    bounds = np.cumsum(fractions)[:2]
    for cls in sorted(by_class):
        members = by_class[cls]
        order = [members[i] for i in rng.permutation(len(members))]
        sizes = np.array([unit_size[u] for u in order], dtype=float)
        # midpoint of each unit's share of the running count decides its split
        mid = (np.cumsum(sizes) - sizes / 2) / sizes.sum()
        idx = np.searchsorted(bounds, mid, side="right")
        if len(order) >= 3:
            for k in (1, 2):  # make sure dev and test are not empty for this class
                train_units = np.flatnonzero(idx == 0)
                if fractions[k] > 0 and not (idx == k).any() and len(train_units) > 1:
                    idx[train_units[-1]] = k
        for u, i in zip(order, idx):
            split_of[u] = SPLITS[int(i)]
    return [split_of[u] for u in units]


def split_summary(manifest: Manifest) -> dict[str, dict[str, int]]:
    """Samples per split and class: {split: {class: n}}."""
    out: dict[str, dict[str, int]] = {sp: {} for sp in SPLITS}
    for s in manifest:
        d = out.setdefault(s.split or "(none)", {})
        d[s.class_name] = d.get(s.class_name, 0) + 1
    return out


def check_trainable(manifest: Manifest) -> None:
    """Refuse splits that cannot train a detector or pick its threshold, with the reason."""
    for split, need in (("train", (BONA_FIDE, ATTACK)), ("dev", (BONA_FIDE, ATTACK))):
        labels = {s.label for s in manifest if s.split == split}
        missing = [lab for lab in need if lab not in labels]
        if missing:
            raise SpoofguardError(
                f"the {split} split has no {' and no '.join(missing)} samples, so a detector cannot be "
                f"{'trained' if split == 'train' else 'given a threshold'}; the dataset is too small or too "
                "unbalanced for this protocol (add data, or use --protocol random)."
            )
