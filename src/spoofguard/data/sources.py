"""Where samples come from: a manifest CSV or a dataset folder."""

from __future__ import annotations

from pathlib import Path

from spoofguard.data.importers import ImportResult, import_dataset, report_warnings
from spoofguard.data.manifest import read_manifest
from spoofguard.errors import SpoofguardError


def load_samples(data: str | Path, format: str = "auto", subject_pattern: str | None = None, protocol: str | None = None,
                 root: str | Path | None = None) -> ImportResult:
    """Read ``data`` (a manifest ``.csv`` or a dataset folder) into a manifest, refusing empty ones.

    ``format`` is the folder's layout; ``auto`` (the default) detects it as ``data scan`` does, so a
    folder gets the same labels, species and subjects (and so the same data fingerprint) whichever
    command reads it. ``protocol`` (``official:NAME``) asks a dataset folder's importer for its
    official protocol list. ``root`` overrides the data root a manifest records (the data moved).
    Whole-set warnings (one class only, species that look like subject ids) are in the result's
    ``warnings`` and logged."""
    data = Path(data)
    official = protocol.split(":", 1)[1] if protocol and protocol.startswith("official:") else None
    if data.is_file() and data.suffix.lower() == ".csv":
        if official:
            raise SpoofguardError(f"--protocol {protocol} reads the dataset's own lists: pass the dataset folder as --data, not a manifest "
                                  "(or scan it with `data scan --protocol NAME` and train on that manifest).")
        result = report_warnings(ImportResult(read_manifest(data, root=root)), data)
    elif data.is_file():
        raise SpoofguardError(f"{data}: expected a dataset folder or a manifest .csv file.")
    else:
        if root is not None:
            raise SpoofguardError(f"{data}: a data root override is for a manifest .csv; a dataset folder is its own root.")
        options = {"subject_pattern": subject_pattern} if subject_pattern else {}
        if official:
            options["protocol"] = official
        result = import_dataset(data, format=format, **options)
    if len(result.manifest) == 0:
        why = f" ({len(result.skipped)} file(s) skipped: not in a class folder or unreadable)" if result.skipped else ""
        raise SpoofguardError(
            f"{data}: no usable images found{why}. Expected one folder per class, e.g. {data}/live/*.png and {data}/spoof/*.png."
        )
    return result
