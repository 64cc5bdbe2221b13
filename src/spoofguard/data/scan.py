"""What a manifest holds: counts per label, species and subject, duplicate files, and warnings about
the set as a whole (one class only, species that look like subject ids)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, sha256_file

# a species named like a subject, session or capture number: "0001", "12", "s01", "subject_3", "id-7"
ID_LIKE = re.compile(r"\d+|(?:subject|subj|sub|s|id|person|user|client|p)[_\-]?\d+")
MANY_SPECIES = 20  # more attack kinds than any public PAD set has (SiW-M: 13)


def manifest_warnings(manifest: Manifest) -> list[str]:
    """What looks wrong with the set as a whole, one line each (empty when nothing does):

    - one class only (all bona fide or all attacks): it can be scanned, merged with another set or
      used to measure one error rate, but a model cannot learn from it;
    - attack species that look like subject or session numbers (``0001``, ``s01``): a folder per
      subject read as a folder per attack kind, e.g. NUAA's ``ImposterRaw/0001/`` with ``--format folder``;
    - more than 20 species: rarely attack kinds either.
    """
    if not len(manifest):
        return []
    out = []
    labels = Counter(s.label for s in manifest)
    if len(labels) == 1:
        only = next(iter(labels))
        missing = "attack" if only == BONA_FIDE else "bona fide"
        out.append(f"one class only: all {len(manifest)} samples are {only.replace('_', ' ')}, none {missing} "
                   f"(fine to merge or to measure {'BPCER' if only == BONA_FIDE else 'APCER'} on; training needs both classes)")
    species = Counter(s.species for s in manifest if s.label == ATTACK and s.species)
    ids = sorted((sp for sp in species if ID_LIKE.fullmatch(sp)), key=lambda sp: (len(sp), sp))
    if ids:
        shown = ", ".join(ids[:5]) + (f" (+{len(ids) - 5} more)" if len(ids) > 5 else "")
        out.append(f"{len(ids)} of {len(species)} attack species look like subject or session numbers, not attack kinds: "
                   f"{shown}; the species is the name of the folder holding a file, so a folder per subject is read as "
                   "a species (pick the dataset's layout with --format, or write a manifest)")
    if len(species) > MANY_SPECIES:
        out.append(f"{len(species)} attack species: more than any public PAD set has; check that the folders below the "
                   "attack folder name attack kinds (print, replay, gelatine ...), not subjects or sessions")
    return out


@dataclass
class DuplicateGroup:
    sha256: str
    paths: list[str]
    splits: list[str]

    @property
    def crosses_splits(self) -> bool:
        return len({s for s in self.splits if s}) > 1


def file_hashes(manifest: Manifest, workers: int = 4) -> dict[str, str]:
    paths = [s.path for s in manifest]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(paths, pool.map(sha256_file, paths)))


def find_duplicates(manifest: Manifest, hashes: dict[str, str] | None = None) -> list[DuplicateGroup]:
    """Groups of byte-identical files (sha256), largest first."""
    hashes = hashes if hashes is not None else file_hashes(manifest)
    groups: dict[str, list] = defaultdict(list)
    missing = Manifest([s for s in manifest if s.path not in hashes])
    if len(missing):  # e.g. another dataset's test rows (cross-dataset)
        hashes = {**hashes, **file_hashes(missing)}
    for s in manifest:
        groups[hashes[s.path]].append(s)
    dups = [
        DuplicateGroup(h, [s.path for s in members], [s.split for s in members])
        for h, members in groups.items()
        if len(members) > 1
    ]
    return sorted(dups, key=lambda g: (-len(g.paths), g.paths[0]))


def count_table(manifest: Manifest) -> list[dict]:
    """One row per (label, species): samples and distinct subjects."""
    rows: dict[tuple[str, str], dict] = {}
    for s in manifest:
        r = rows.setdefault((s.label, s.species), {"label": s.label, "species": s.species or "-", "samples": 0, "_subjects": set()})
        r["samples"] += 1
        if s.subject:
            r["_subjects"].add(s.subject)
    out = []
    for key in sorted(rows):
        r = rows[key]
        out.append({"label": r["label"], "species": r["species"], "samples": r["samples"], "subjects": len(r.pop("_subjects"))})
    return out


def subject_table(manifest: Manifest) -> dict[str, dict[str, int]]:
    """Samples per subject and class: {subject: {class: n}}."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for s in manifest:
        if s.subject:
            d = out[s.subject]
            d[s.class_name] = d.get(s.class_name, 0) + 1
    return dict(sorted(out.items()))
