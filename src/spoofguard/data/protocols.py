"""Evaluation protocols: how a manifest is divided into train / dev / test.

- ``random``: stratified by class (bona fide and each attack species), 70/15/15. Byte-identical
  files are kept together in one split, so a duplicated capture cannot leak from train into test.
- ``subject``: subject-disjoint with the same proportions (stratified by each subject's main class);
  the default whenever every sample has a subject.
- ``manifest``: the splits already written in the manifest (a dataset's official partition, as its
  importer reads it). Official partitions often have no dev part: then dev is carved from train
  (15 % of the train subjects), never from test.
- ``official:NAME``: a dataset's own protocol list (OULU-NPU ``1`` .. ``4_6``, NUAA ``nuaa``, SiW
  ``2_1`` ...), read by its importer from the dataset folder (``--data DATASET --format ...``).
- ``leave-one-species-out:SPECIES``: the unseen-attack question. A subject-disjoint (or random)
  split, then train and dev lose every SPECIES sample, and test keeps only bona fide and SPECIES:
  the detector is judged on an attack it never met, at a threshold chosen without it.
- ``cross-device:DEVICE``: test is every sample captured with DEVICE; train and dev (85/15) come
  from the other devices.
- ``cross-dataset:OTHER.csv``: train and dev (85/15) from this manifest, test is all of OTHER (a
  manifest or a dataset folder).

All are deterministic given the seed.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from spoofguard.data.manifest import ATTACK, BONA_FIDE, SPLITS, Manifest, sha256_file
from spoofguard.errors import SpoofguardError

PROTOCOLS = ("auto", "random", "subject", "manifest", "official", "leave-one-species-out", "cross-device", "cross-dataset")
WITH_ARGUMENT = ("official", "leave-one-species-out", "cross-device", "cross-dataset")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)
TRAIN_DEV = (0.85, 0.15, 0.0)


def parse_protocol(text: str) -> tuple[str, str]:
    """``"leave-one-species-out:latex"`` -> ``("leave-one-species-out", "latex")``; plain names -> ``(name, "")``."""
    name, _, arg = str(text).partition(":")
    name = name.strip().lower()
    if name not in PROTOCOLS:
        raise SpoofguardError(f"unknown protocol {text!r}; choose one of {', '.join(PROTOCOLS)} "
                              "(leave-one-species-out:SPECIES, cross-device:DEVICE, cross-dataset:OTHER.csv).")
    if name in WITH_ARGUMENT and not arg.strip():
        example = {"official": "official:1 (with --data DATASET_FOLDER)", "leave-one-species-out": "leave-one-species-out:latex", "cross-device": "cross-device:phone1",
                   "cross-dataset": "cross-dataset:other/manifest.csv"}[name]
        raise SpoofguardError(f"protocol {name} needs what to hold out, e.g. --protocol {example}.")
    if name not in WITH_ARGUMENT and arg:
        raise SpoofguardError(f"protocol {name} takes no argument (got {arg!r}).")
    return name, arg.strip()


def resolve_protocol(manifest: Manifest, protocol: str = "auto") -> str:
    name, _ = parse_protocol(protocol)
    if name != "auto":
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
    name, arg = parse_protocol(protocol)
    if name == "official":  # the importer already read the protocol's lists into the split column
        if not manifest.has_splits:
            raise SpoofguardError(f"protocol {protocol}: read the dataset folder with its layout (--format) so its protocol lists fill the splits.")
        carved, how = split_manifest(manifest, "manifest", seed, fractions, hashes)
        return carved, protocol + (" (dev carved from train)" if "carved" in how else "")
    if name == "manifest":
        if not manifest.has_splits:
            raise SpoofguardError("protocol 'manifest' needs a split for every row; some rows have none.")
        if not any(s.split == "dev" for s in manifest):
            train = Manifest([s for s in manifest if s.split == "train"])
            if not len(train):
                raise SpoofguardError("protocol 'manifest': the manifest has no train rows.")
            carved, how = _split(train, seed, TRAIN_DEV, hashes)
            split_of = {s.path: s.split for s in carved}
            manifest = manifest.with_splits([split_of.get(s.path, s.split) for s in manifest])
            return manifest, f"manifest (dev carved from train, {how})"
        return manifest, protocol
    if name == "leave-one-species-out":
        return _leave_one_species_out(manifest, arg, seed, fractions, hashes)
    if name == "cross-device":
        return _cross_device(manifest, arg, seed, hashes)
    if name == "cross-dataset":
        return _cross_dataset(manifest, arg, seed, hashes)
    return _split(manifest, seed, fractions, hashes, protocol)


def _split(manifest: Manifest, seed: int, fractions, hashes, protocol: str = "") -> tuple[Manifest, str]:
    """Subject-disjoint when every sample has a subject (or ``protocol="subject"``), else random."""
    protocol = protocol or ("subject" if manifest.has_subjects else "random")
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


def _leave_one_species_out(manifest: Manifest, species: str, seed: int, fractions, hashes) -> tuple[Manifest, str]:
    present = sorted({s.species for s in manifest if s.label == ATTACK})
    if species not in present:
        raise SpoofguardError(f"leave-one-species-out: no attack species {species!r} in the data; its species are {', '.join(present) or 'none'}.")
    if len(present) < 2:
        raise SpoofguardError(f"leave-one-species-out needs at least two attack species; the data has only {species!r}.")
    split, how = _split(manifest, seed, fractions, hashes)
    keep = [s for s in split if (s.split == "test" and (s.label == BONA_FIDE or s.species == species))
            or (s.split != "test" and s.species != species)]
    if not any(s.split == "test" and s.species == species for s in keep):
        raise SpoofguardError(f"leave-one-species-out: no {species!r} sample landed in the test split (too few subjects carry it); more subjects are needed for this question.")
    return Manifest(keep), f"leave-one-species-out:{species} ({how})"


def _cross_device(manifest: Manifest, device: str, seed: int, hashes) -> tuple[Manifest, str]:
    devices = sorted({s.device for s in manifest if s.device})
    if device not in devices:
        raise SpoofguardError(f"cross-device: no samples from device {device!r}; the devices are {', '.join(devices) or 'unknown (no device column)'}.")
    rest, _ = _split(Manifest([s for s in manifest if s.device != device]), seed, TRAIN_DEV, hashes)
    test = Manifest([s for s in manifest if s.device == device]).with_splits(["test"] * sum(1 for s in manifest if s.device == device))
    return Manifest(list(rest) + list(test)), f"cross-device:{device}"


def _cross_dataset(manifest: Manifest, other: str, seed: int, hashes) -> tuple[Manifest, str]:
    from spoofguard.data.sources import load_samples

    test = load_samples(other).manifest
    mine = {s.path for s in manifest}
    shared = [s.path for s in test if s.path in mine]
    if shared:
        raise SpoofguardError(f"cross-dataset: {len(shared)} file(s) are in both datasets, e.g. {shared[0]}; that is not a cross-dataset test.")
    train_dev, _ = _split(manifest, seed, TRAIN_DEV, hashes)
    return Manifest(list(train_dev) + list(test.with_splits(["test"] * len(test)))), f"cross-dataset:{other}"


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
