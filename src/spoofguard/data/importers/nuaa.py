"""NUAA Photograph Imposter Database (Tan et al., ECCV 2010).

Published by the Nanjing University of Aeronautics and Astronautics (NUAA); it is handed out by the
authors on request. 15 subjects were filmed live with a webcam (bona fide) and as printed photographs
held in front of it (attacks: species ``print``), in three sessions.

```
NUAA/
  ClientRaw/0001/0001_00_00_01_0.jpg      bona fide, one folder per subject
  ImposterRaw/0001/0001_00_00_01_0.jpg    printed-photo attacks
  ClientFace/ ImposterFace/               (optional) face crops
  ClientNormalized/ ImposterNormalized/   (optional) 64x64 grey faces
  client_train_raw.txt  imposter_train_raw.txt  client_test_raw.txt  imposter_test_raw.txt
```

File names are ``ID_glasses_position_session_picture.jpg`` (``0001_00_00_01_0.jpg``). ``variant``
picks the image set: ``raw`` (default, ``ClientRaw``/``ImposterRaw``), ``face`` or ``normalized``;
a missing pair of folders is an error.

How fields are filled: ``label`` from Client (bona fide) / Imposter (attack, species ``print``);
``subject`` = the ID (``0001``; the subject folder when the name does not parse); ``session`` = the
session field (``01``); ``device``, ``video_id`` empty (stills from one webcam).

Protocol lists: ``client_train_<variant>.txt`` etc. at the root, one path per line relative to the
Client/Imposter folder, with backslashes (``0001\\0001_00_00_01_0.jpg``). When some are present they
fill ``split`` (``train``/``test``); unlisted images keep an empty split, and each missing list file
is reported in ``skipped`` (no lists at all is fine: every split stays empty). ``protocol="nuaa"``
asks for the official protocol: all four lists must exist, and images in none of them are left out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spoofguard.data.images import is_image_file
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.data.importers.common import image_problem, walk_files
from spoofguard.errors import SpoofguardError

VARIANTS = ("raw", "face", "normalized")
PROTOCOLS = ("nuaa",)
FILE_NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)_(\d+)$")  # ID_glasses_position_session_picture


def _children(root: Path) -> dict[str, Path]:
    """Entries of ``root`` by lower-case name."""
    with os.scandir(root) as it:
        return {e.name.lower(): Path(e.path) for e in it}


def detect(root: Path) -> bool:
    """A ``Client<Variant>`` folder beside its ``Imposter<Variant>`` folder."""
    names = {n for n, p in _children(root).items() if p.is_dir()}
    return any(f"client{v}" in names and f"imposter{v}" in names for v in VARIANTS)


def _read_list(path: Path) -> set[str]:
    """Relative paths in a NUAA list file, with ``/`` separators, lower-case."""
    out = set()
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip().replace("\\", "/").strip("/")
        if line:
            out.add(line.split()[0].lower())
    return out


@register_importer("nuaa", detect=detect)
def import_nuaa(
    root: Path, protocol: str | None = None, check_images: bool = False, variant: str = "raw"
) -> ImportResult:
    variant = str(variant).lower()
    if variant not in VARIANTS:
        raise SpoofguardError(f"unknown NUAA variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
    if protocol is not None and str(protocol).lower() not in PROTOCOLS:
        raise SpoofguardError(f"unknown NUAA protocol {protocol!r}; the only one is 'nuaa' (the official train/test lists).")
    root = Path(root)
    children = _children(root)
    title = variant.capitalize()
    classes = [(children.get(f"{side}{variant}"), side, label) for side, label in (("client", BONA_FIDE), ("imposter", ATTACK))]
    if not all(folder is not None and folder.is_dir() for folder, _, _ in classes):
        found = [v for v in VARIANTS if f"client{v}" in children and f"imposter{v}" in children]
        hint = f" (found the {', '.join(found)} variant; pass variant=...)" if found else " (is this NUAA?)"
        raise SpoofguardError(f"no Client{title}/Imposter{title} folders under {root}{hint}.")

    lists: dict[tuple[str, str], set[str]] = {}  # (side, split) -> relative paths
    missing, skipped = [], []
    for side, _ in (("client", BONA_FIDE), ("imposter", ATTACK)):
        for split in ("train", "test"):
            name = f"{side}_{split}_{variant}.txt"
            if name in children:
                prefix = f"{side}{variant}/"  # tolerate lines that start with ClientRaw/
                lists[side, split] = {r[len(prefix):] if r.startswith(prefix) else r for r in _read_list(children[name])}
            else:
                missing.append(name)
    if protocol and missing:
        raise SpoofguardError(f"the NUAA protocol needs {missing[0]} in {root}, which is missing.")
    if lists:
        skipped += [(str(root / name), "protocol list missing: its images keep an empty split") for name in missing]

    samples = []
    for folder, side, label in classes:
        seen = set()
        for path in walk_files(folder, is_image_file):
            rel = path.relative_to(folder).as_posix().lower()
            seen.add(rel)
            splits = [sp for sp in ("train", "test") if rel in lists.get((side, sp), ())]
            if len(splits) > 1:
                skipped.append((str(path), f"in both {side}_train_{variant}.txt and {side}_test_{variant}.txt"))
                continue
            if protocol and not splits:
                skipped.append((str(path), "not in protocol nuaa"))
                continue
            if check_images and (problem := image_problem(path)):
                skipped.append((str(path), problem))
                continue
            m = FILE_NAME.match(path.stem)
            subject = m.group(1) if m else (path.parent.name if path.parent != folder else "")
            samples.append(Sample(
                path=str(path.resolve()), label=label, species="print" if label == ATTACK else "",
                subject=subject, session=m.group(4) if m else "", split=splits[0] if splits else "",
            ))
        for split in ("train", "test"):
            for rel in sorted(lists.get((side, split), set()) - seen):
                skipped.append((str(folder / rel), f"listed in {side}_{split}_{variant}.txt but not on disk"))
    return ImportResult(Manifest(samples), skipped)
