"""Dataset layouts on disk, one file each, turned into manifests.

An importer is a function ``(root: Path, **options) -> ImportResult`` registered under a format name
with :func:`register_importer`, optionally with ``detect(root) -> bool`` (does this folder look like
my layout? names only, cheap) so ``--format auto`` can pick it. A new layout is one new file here
plus its registration line below.

:func:`import_dataset` adds whole-set warnings to the result (``ImportResult.warnings``: one class
only, species that look like subject ids, a folder read with ``--format folder`` that another layout
recognises) and logs each on the ``spoofguard.data`` logger; they never stop a scan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from spoofguard.data.manifest import Manifest
from spoofguard.errors import SpoofguardError

log = logging.getLogger("spoofguard.data")


@dataclass
class ImportResult:
    manifest: Manifest
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[str] = field(default_factory=list)  # what looks wrong with the set as a whole (one line each)


def report_warnings(result: ImportResult, where: str | Path) -> ImportResult:
    """Add the whole-set warnings (:func:`~spoofguard.data.scan.manifest_warnings`) to ``result`` and
    log each one on the ``spoofguard.data`` logger (printed on stderr unless logging is configured)."""
    from spoofguard.data.scan import manifest_warnings

    for message in manifest_warnings(result.manifest):
        if message not in result.warnings:
            result.warnings.append(message)
    for message in result.warnings:
        log.warning("warning: %s: %s", where, message)
    return result


Importer = Callable[..., ImportResult]
_IMPORTERS: dict[str, Importer] = {}
_DETECTORS: dict[str, Callable[[Path], bool]] = {}


def register_importer(name: str, detect: Callable[[Path], bool] | None = None):
    def deco(fn: Importer) -> Importer:
        _IMPORTERS[name] = fn
        if detect is not None:
            _DETECTORS[name] = detect
        return fn

    return deco


def detect_format(root: Path) -> str:
    """The layout ``root`` looks like (the first specific layout that recognises it), else ``folder``."""
    for name in sorted(_DETECTORS):
        try:
            if _DETECTORS[name](root):
                return name
        except OSError:
            continue
    return "folder"


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
    chosen = format
    if format == "auto":
        format = detect_format(root)
    importer = get_importer(format)
    import inspect

    options = {k: v for k, v in options.items() if v is not None}  # None: not given
    accepted = [name for name in inspect.signature(importer).parameters if name != "root"]
    unknown = sorted(k for k in options if k not in accepted)
    if unknown:
        raise SpoofguardError(f"the {format} layout takes no option {', '.join(unknown)}"
                              + (" (it defines no official protocol lists)" if "protocol" in unknown else "")
                              + f"; it takes {', '.join(accepted)}.")
    result = importer(root, **options)
    if chosen == "folder" and len(result.manifest) and (looks := detect_format(root)) != "folder":
        result.warnings.append(f"this folder looks like the {looks} layout: --format {looks} (or auto) reads its labels, "
                               "species, subjects and splits as that layout defines them; the folder layout takes "
                               "each file's folder name as its class")
    return report_warnings(result, root)


# registrations: one line per layout
from spoofguard.data.importers import folder  # noqa: E402,F401
from spoofguard.data.importers import livdet  # noqa: E402,F401
from spoofguard.data.importers import nuaa  # noqa: E402,F401
from spoofguard.data.importers import oulu_npu  # noqa: E402,F401
from spoofguard.data.importers import casia_fasd  # noqa: E402,F401
from spoofguard.data.importers import replay_attack  # noqa: E402,F401
from spoofguard.data.importers import msu_mfsd  # noqa: E402,F401
from spoofguard.data.importers import celeba_spoof  # noqa: E402,F401
from spoofguard.data.importers import siw  # noqa: E402,F401
from spoofguard.data.importers import video_folders  # noqa: E402,F401
