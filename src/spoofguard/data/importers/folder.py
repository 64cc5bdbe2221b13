"""The generic layout: one folder per class, at any depth.

A file whose path (below the root) passes through a folder named ``live``, ``real``, ``bona_fide``,
``bonafide``, ``genuine`` or ``client`` (any case) is bona fide. Any other file is an attack whose
species is the name of the folder that holds it: ``Fake/Gelatine/x.png`` gives ``gelatine``,
``spoof/x.png`` gives ``spoof``. Files directly in the root have no class and are skipped.

Subjects are not part of this layout; ``subject_pattern`` (a regular expression applied to the file
name without extension, first group = subject) recovers them where file names carry them, e.g.
``^(\\d+)_`` for LivDet's ``12_3.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

from spoofguard.media.images import is_image_file
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.data.importers.common import image_problem, require_subjects, subject_regex, walk_files

BONA_FIDE_NAMES = {"live", "real", "bona_fide", "bonafide", "bona-fide", "genuine", "client"}


def species_name(folder: str) -> str:
    """Normalise a folder name to a species: lower case, spaces to underscores."""
    return re.sub(r"\s+", "_", folder.strip().lower())


def classify(relative: Path) -> tuple[str, str] | None:
    """(label, species) for a file path relative to the root, or None when it has no class folder."""
    folders = relative.parts[:-1]
    if not folders:
        return None
    if any(f.lower() in BONA_FIDE_NAMES for f in folders):
        return BONA_FIDE, ""
    return ATTACK, species_name(folders[-1])


@register_importer("folder")
def import_folder(root: Path, subject_pattern: str | None = None, check_images: bool = True) -> ImportResult:
    pattern = subject_regex(subject_pattern)
    samples, skipped = [], []
    for path in walk_files(root, is_image_file):
        rel = path.relative_to(root)
        cls = classify(rel)
        if cls is None:
            skipped.append((str(path), "not inside a class folder"))
            continue
        if check_images and (problem := image_problem(path)):
            skipped.append((str(path), problem))
            continue
        subject = ""
        if pattern is not None:
            m = pattern.search(path.stem)
            subject = m.group(1) if m else ""
        samples.append(Sample(path=str(path.resolve()), label=cls[0], species=cls[1], subject=subject))
    if pattern is not None:
        require_subjects(samples, subject_pattern)
    return ImportResult(Manifest(samples), skipped)
