"""Dataset layouts on disk, one file each, turned into manifests.

An importer is a function ``(root: Path, **options) -> ImportResult`` registered under a format name
with :func:`register_importer`. A new layout is one new file here plus its registration line below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from spoofguard.data.manifest import Manifest
from spoofguard.errors import SpoofguardError


@dataclass
class ImportResult:
    manifest: Manifest
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


Importer = Callable[..., ImportResult]
_IMPORTERS: dict[str, Importer] = {}


def register_importer(name: str):
    def deco(fn: Importer) -> Importer:
        _IMPORTERS[name] = fn
        return fn

    return deco


def list_formats() -> list[str]:
    return sorted(_IMPORTERS)


def get_importer(name: str) -> Importer:
    try:
        return _IMPORTERS[name]
    except KeyError:
        raise SpoofguardError(f"unknown dataset format {name!r}; known formats: {', '.join(list_formats())}.") from None


def import_dataset(root: str | Path, format: str = "folder", **options) -> ImportResult:
    root = Path(root)
    if not root.exists():
        raise SpoofguardError(f"{root}: no such folder.")
    if not root.is_dir():
        raise SpoofguardError(f"{root}: is a file, not a dataset folder (pass the folder, or a manifest .csv).")
    return get_importer(format)(root, **options)


# registrations: one line per layout
from spoofguard.data.importers import folder  # noqa: E402,F401
