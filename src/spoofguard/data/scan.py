"""What a manifest holds: counts per label, species and subject, and duplicate files."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from spoofguard.data.manifest import Manifest, sha256_file


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
