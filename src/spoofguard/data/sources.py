"""Where samples come from: a manifest CSV or a dataset folder."""

from __future__ import annotations

from pathlib import Path

from spoofguard.data.importers import ImportResult, import_dataset
from spoofguard.data.manifest import read_manifest
from spoofguard.errors import SpoofguardError


def load_samples(data: str | Path, format: str = "folder", subject_pattern: str | None = None, protocol: str | None = None) -> ImportResult:
    """Read ``data`` (a manifest ``.csv`` or a dataset folder) into a manifest, refusing empty ones.
    ``protocol`` (``official:NAME``) asks a dataset folder's importer for its official protocol list."""
    data = Path(data)
    official = protocol.split(":", 1)[1] if protocol and protocol.startswith("official:") else None
    if data.is_file() and data.suffix.lower() == ".csv":
        if official:
            raise SpoofguardError(f"--protocol {protocol} reads the dataset's own lists: pass the dataset folder as --data, not a manifest "
                                  "(or scan it with `data scan --protocol NAME` and train on that manifest).")
        result = ImportResult(read_manifest(data))
    elif data.is_file():
        raise SpoofguardError(f"{data}: expected a dataset folder or a manifest .csv file.")
    else:
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
