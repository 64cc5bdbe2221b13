"""Manifests: one CSV row per sample.

Columns: ``path, label, species, subject, session, device, video_id, split`` (empty where unknown).
``label`` is ``bona_fide`` or ``attack``; ``species`` names the attack's kind (PAI species) and is
empty for bona fide rows. Paths are resolved to absolute paths on reading.

Where a row's ``path`` is relative to (so the file survives a move):

- A manifest *inside* its data folder (every sample below the CSV's folder, e.g. ``data frames``'
  cache or a synthesised set) stores paths relative to the CSV's folder and nothing else: the folder
  moves as one piece, and the file is byte-identical wherever it is written.
- A manifest *outside* its data (``data scan DIR -o elsewhere.csv``, a run's ``split.csv``) records
  the data root in two extra columns: ``root`` (absolute) and ``root_relative`` (the same folder
  relative to the CSV's folder), with ``path`` relative to the root. On reading, the recorded ``root``
  is used while it exists (the CSV was moved or copied alone); else ``root_relative`` from the CSV's
  new place (CSV and data moved together); ``read_manifest(..., root=NEW)`` overrides both (the
  data was moved). An override also applies to manifests without a root (their paths are relative to
  the CSV's folder otherwise).
- Manifests written before the root columns existed (paths relative to the CSV, ``../../data/...``)
  and manifests with absolute paths read as they always did.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Iterable, Iterator

from spoofguard.errors import SpoofguardError
from spoofguard.verdict import ATTACK, BONA_FIDE  # noqa: F401  (the labels, defined once; re-exported here for importers)
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
ROOT_COLUMNS = ("root", "root_relative")  # written only by a manifest outside its data folder


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


def read_manifest(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Manifest:
    """Read a manifest CSV into absolute paths (see the module's notes for what relative paths are
    relative to). ``root`` overrides the data root the file records (or, for a file that records
    none, the CSV's folder): pass the data's new location after moving it."""
    path = Path(path)
    if not path.is_file():
        raise SpoofguardError(f"manifest {path} does not exist (make one with `spoofguard data scan DIR -o {path}`).")
    base = str(path.resolve().parent)
    override = str(Path(root).expanduser().resolve()) if root is not None else None
    if override is not None and not os.path.isdir(override):
        raise SpoofguardError(f"data root {root}: no such folder (the folder the manifest's paths are relative to).")
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
        at_root = [header.index(c) if c in header else None for c in ROOT_COLUMNS]
        width = len(header)
        bases: dict[tuple[str, str], str] = {}  # (root, root_relative) -> the folder it resolves to
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
                key = tuple(row[k].strip() if k is not None else "" for k in at_root)
                if key not in bases:
                    bases[key] = _data_root(key, base, override, f"{path}, line {i}")
                values[0] = os.path.normpath(os.path.join(bases[key], values[0]))
            samples.append(Sample(*values))
    if not samples:
        raise SpoofguardError(f"manifest {path} has no rows.")
    recorded = {k[0] for k in bases if k[0]}
    if override is not None and len(recorded) > 1:
        raise SpoofguardError(f"{path} records {len(recorded)} data roots ({', '.join(sorted(recorded))}); "
                              "one root override cannot stand for all of them: rewrite the root column instead.")
    return Manifest(samples)


def _data_root(key: tuple[str, str], base: str, override: str | None, where: str) -> str:
    """The folder a row's relative path is relative to: the override, the recorded root while it
    exists, the recorded root relative to the CSV's folder, else the recorded root (so a missing
    file names where the data was)."""
    recorded, relative = key
    if override is not None:
        return override
    if not recorded:
        return os.path.normpath(os.path.join(base, relative)) if relative else base
    if not os.path.isabs(recorded):
        raise SpoofguardError(f"{where}: root {recorded!r} is not an absolute path (root_relative holds the relative one).")
    if os.path.isdir(recorded):
        return recorded
    if relative and os.path.isdir(moved := os.path.normpath(os.path.join(base, relative))):
        return moved
    return recorded


def write_manifest(manifest: Manifest, path: str | os.PathLike) -> Path:
    """Write a manifest CSV. Samples all below the CSV's folder: paths relative to that folder (the
    folder moves as one piece). Otherwise: paths relative to the samples' common folder, recorded as
    ``root`` (absolute) and ``root_relative`` (from the CSV's folder), so the CSV may move alone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = str(path.resolve().parent)
    absolute = [s for s in manifest if os.path.isabs(s.path)]
    inside = all(_is_below(s.path, base) for s in absolute)
    root = "" if inside else common_root(absolute)
    if not inside and (not root or not os.path.isabs(root)):
        root = ""  # no common folder (e.g. two drives): absolute paths, as they are
    relative = ""
    if root:
        try:
            relative = Path(os.path.relpath(root, base)).as_posix()
        except ValueError:  # another drive
            relative = ""
    columns = COLUMNS + (ROOT_COLUMNS if root else ())
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for s in manifest:
            row = [s.path, s.label, s.species, s.subject, s.session, s.device, s.video_id, s.split]
            if os.path.isabs(s.path):
                if inside:
                    row[0] = _relative(s.path, base)
                elif root:
                    row[0] = _relative(s.path, root)
            if root:
                row += [root, relative] if os.path.isabs(s.path) else ["", ""]
            writer.writerow(row)
    return path


def _is_below(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), folder]) == folder
    except ValueError:  # another drive
        return False


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
