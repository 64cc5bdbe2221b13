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

import os
import re
from pathlib import Path

from spoofguard.data.images import is_image_file, open_checked
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.errors import SpoofguardError

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
    pattern = None
    if subject_pattern:
        try:
            pattern = re.compile(subject_pattern)
        except re.error as e:
            raise SpoofguardError(f"--subject-pattern {subject_pattern!r} is not a valid regular expression: {e}.") from None
        if pattern.groups < 1:
            raise SpoofguardError(f"--subject-pattern {subject_pattern!r} needs a group, e.g. '^(\\d+)_'.")
    samples, skipped = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not is_image_file(name):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root)
            cls = classify(rel)
            if cls is None:
                skipped.append((str(path), "not inside a class folder"))
                continue
            if check_images:
                try:
                    open_checked(path).close()
                except SpoofguardError as e:
                    skipped.append((str(path), str(e).split(": ", 1)[-1]))
                    continue
            subject = ""
            if pattern is not None:
                m = pattern.search(path.stem)
                subject = m.group(1) if m else ""
            samples.append(Sample(path=str(path.resolve()), label=cls[0], species=cls[1], subject=subject))
    if pattern is not None:
        unmatched = [s.path for s in samples if not s.subject]
        if unmatched:
            raise SpoofguardError(
                f"--subject-pattern {subject_pattern!r} matched no subject in {len(unmatched)} file name(s), "
                f"e.g. {Path(unmatched[0]).name}; fix the pattern or leave it out."
            )
    return ImportResult(Manifest(samples), skipped)
