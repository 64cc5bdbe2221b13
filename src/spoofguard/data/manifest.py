"""Manifests: one CSV row per sample.

Columns: ``path, label, species, subject, session, device, video_id, split`` (empty where unknown).
``label`` is ``bona_fide`` or ``attack``; ``species`` names the attack's kind (PAI species) and is
empty for bona fide rows. Paths in a manifest file are written relative to the file's folder, so a
dataset and its manifest can move together; they are resolved to absolute paths on reading.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Iterable, Iterator

from spoofguard.errors import SpoofguardError

BONA_FIDE = "bona_fide"
ATTACK = "attack"
LABELS = (BONA_FIDE, ATTACK)
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True, slots=True)
class Sample:
    """One capture: where it is and what it is."""

    path: str
    label: str
    species: str = ""
    subject: str = ""
    session: str = ""
    device: str = ""
    video_id: str = ""
    split: str = ""

    @property
    def class_name(self) -> str:
        """The class this sample trains as when species are classes: ``bona_fide`` or its species."""
        return BONA_FIDE if self.label == BONA_FIDE else (self.species or ATTACK)


COLUMNS = tuple(f.name for f in fields(Sample))


class Manifest:
    """An ordered list of samples with the few questions every stage asks of it."""

    def __init__(self, samples: Iterable[Sample]):
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]

    def split(self, name: str) -> "Manifest":
        return Manifest(s for s in self.samples if s.split == name)

    def with_splits(self, splits: list[str]) -> "Manifest":
        if len(splits) != len(self.samples):
            raise ValueError("one split per sample expected")
        # positional construction: replace() costs three times as much, which shows at a million rows
        return Manifest(Sample(s.path, s.label, s.species, s.subject, s.session, s.device, s.video_id, sp)
                        for s, sp in zip(self.samples, splits))

    @property
    def has_subjects(self) -> bool:
        return bool(self.samples) and all(s.subject for s in self.samples)

    @property
    def has_splits(self) -> bool:
        return bool(self.samples) and all(s.split for s in self.samples)

    def class_names(self, species_as_classes: bool = False) -> list[str]:
        """Class list for a model: ``[bona_fide, attack]`` or ``[bona_fide, species...]`` (sorted)."""
        if not species_as_classes:
            return [BONA_FIDE, ATTACK]
        species = sorted({s.class_name for s in self.samples if s.label == ATTACK})
        return [BONA_FIDE, *species]

    def counts(self) -> dict[tuple[str, str], int]:
        """Number of samples per (label, species)."""
        out: dict[tuple[str, str], int] = {}
        for s in self.samples:
            key = (s.label, s.species)
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    def fingerprint(self) -> str:
        """A short hash of the rows (paths relative to their common folder, labels, splits).

        Recorded in a bundle so a model can be traced to the exact data it was trained on.
        """
        root = common_root(self.samples)
        h = hashlib.sha256()
        for s in self.samples:
            row = asdict(s)
            row["path"] = _relative(s.path, root)
            h.update("\x1f".join(row[c] for c in COLUMNS).encode())
            h.update(b"\x1e")
        return h.hexdigest()[:16]


def common_root(samples: Iterable[Sample]) -> str:
    paths = [s.path for s in samples]
    if not paths:
        return ""
    try:
        return os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:  # mixed absolute/relative or different drives
        return ""


def _relative(path: str, root: str) -> str:
    if not root:
        return path
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:
        return path


def validate_sample(row: dict[str, str], where: str) -> Sample:
    unknown = set(row) - set(COLUMNS)
    values = {c: (row.get(c) or "").strip() for c in COLUMNS}
    if not values["path"]:
        raise SpoofguardError(f"{where}: empty 'path'.")
    if values["label"] not in LABELS:
        raise SpoofguardError(
            f"{where}: label {values['label']!r} is not one of {', '.join(LABELS)}."
        )
    if values["split"] and values["split"] not in SPLITS:
        raise SpoofguardError(
            f"{where}: split {values['split']!r} is not one of {', '.join(SPLITS)} (or empty)."
        )
    if values["label"] == BONA_FIDE:
        values["species"] = ""
    del unknown  # extra columns are allowed and ignored
    return Sample(**values)


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read a manifest CSV; relative paths are resolved against the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise SpoofguardError(f"manifest {path} does not exist (make one with `spoofguard data scan DIR -o {path}`).")
    base = str(path.resolve().parent)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = {"path", "label"} - set(header)
        if missing:
            raise SpoofguardError(
                f"{path} is not a manifest: it lacks the column(s) {', '.join(sorted(missing))}. "
                f"Expected columns: {', '.join(COLUMNS)}."
            )
        # columns by position (extra columns are allowed and ignored): a million rows in a few seconds
        where = [header.index(c) if c in header else None for c in COLUMNS]
        width = len(header)
        samples = []
        for i, row in enumerate(reader, start=2):
            if len(row) < width:
                row = row + [""] * (width - len(row))
            values = [row[k].strip() if k is not None else "" for k in where]
            if not values[0] or values[1] not in LABELS or (values[7] and values[7] not in SPLITS):
                validate_sample(dict(zip(COLUMNS, values)), f"{path}, line {i}")  # raises with the reason
            if values[1] == BONA_FIDE:
                values[2] = ""
            if not os.path.isabs(values[0]):
                values[0] = os.path.normpath(os.path.join(base, values[0]))
            samples.append(Sample(*values))
    if not samples:
        raise SpoofguardError(f"manifest {path} has no rows.")
    return Manifest(samples)


def write_manifest(manifest: Manifest, path: str | os.PathLike) -> Path:
    """Write a manifest CSV with paths relative to its folder where possible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = str(path.resolve().parent)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for s in manifest:
            row = asdict(s)
            row["path"] = _relative(s.path, base) if os.path.isabs(s.path) else s.path
            writer.writerow(row)
    return path


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
