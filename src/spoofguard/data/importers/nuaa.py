"""NUAA Photograph Imposter Database (Tan et al., ECCV 2010).

Published by the Nanjing University of Aeronautics and Astronautics (NUAA); it is handed out by the
authors on request. 15 subjects were filmed live with a webcam (bona fide) and as printed photographs
held in front of it (attacks: species ``print``), in three sessions.

The release (``NUAAImposterDB``) holds three image sets, each with its four protocol lists, as
xbob.db.nuaa lists them (``raw/client_train_raw.txt``, ``Detectedface/client_train_face.txt``,
``NormalizedFace/client_train_normalized.txt`` ...)::

    NUAAImposterDB/                        <- pass this folder, or one of the three below
      raw/
        ClientRaw/0001/0001_00_00_01_0.jpg      bona fide, one folder per subject
        ImposterRaw/0001/0001_00_00_01_0.jpg    printed-photo attacks
        client_train_raw.txt  imposter_train_raw.txt  client_test_raw.txt  imposter_test_raw.txt
      Detectedface/                        face crops: ClientFace/ ImposterFace/ *_face.txt
      NormalizedFace/                      64x64 grey faces: ClientNormalized/ ImposterNormalized/ *_normalized.txt

The image set (``variant``: ``raw``, ``face`` or ``normalized``) is found from the folders, no option
needed: the folder you pass holds one ``Client<Set>``/``Imposter<Set>`` pair (``raw/``,
``Detectedface/``), or the set folders are one level down (``NUAAImposterDB/``). Where several sets
are present, ``raw`` is read (then ``face``, then ``normalized``) and a warning names the others and
the folder to pass for each; ``variant=`` (Python) picks one. Passing one ``Client<Set>`` or
``Imposter<Set>`` folder reads that class only, with the lists from the folder above, and warns.

File names are ``ID_glasses_position_session_picture.jpg`` (``0001_00_00_01_0.jpg``).

How fields are filled: ``label`` from Client (bona fide) / Imposter (attack, species ``print``);
``subject`` = the ID (``0001``; the subject folder when the name does not parse); ``session`` = the
session field (``01``); ``device``, ``video_id`` empty (stills from one webcam).

Protocol lists: ``client_train_<variant>.txt`` etc. beside the Client/Imposter folders, one path per
line relative to the Client/Imposter folder, with backslashes (``0001\\0001_00_00_01_0.jpg``). When
some are present they fill ``split`` (``train``/``test``); unlisted images keep an empty split, and
each missing list file is reported in ``skipped`` (no lists at all is fine: every split stays empty).
``protocol="nuaa"`` asks for the official protocol: all four lists must exist, and images in none
of them are left out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spoofguard.media.images import is_image_file
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.data.importers.common import image_problem, walk_files
from spoofguard.errors import SpoofguardError

VARIANTS = ("raw", "face", "normalized")
PROTOCOLS = ("nuaa",)
FILE_NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)_(\d+)$")  # ID_glasses_position_session_picture


SET_FOLDERS = {"raw": "raw", "face": "Detectedface", "normalized": "NormalizedFace"}  # the release's names
SIDES = (("client", BONA_FIDE), ("imposter", ATTACK))


def _children(root: Path) -> dict[str, Path]:
    """Entries of ``root`` by lower-case name."""
    try:
        with os.scandir(root) as it:
            return {e.name.lower(): Path(e.path) for e in it}
    except OSError:
        return {}


def _pairs(folder: Path) -> list[str]:
    """The variants whose ``Client<Set>`` and ``Imposter<Set>`` folders are both in ``folder``."""
    children = _children(folder)
    return [v for v in VARIANTS if all(f"{side}{v}" in children and children[f"{side}{v}"].is_dir() for side, _ in SIDES)]


def _one_side(folder: Path) -> tuple[str, str] | None:
    """(side, variant) when ``folder`` is itself a ``ClientRaw``-like folder holding subject folders."""
    for side, _ in SIDES:
        for v in VARIANTS:
            if folder.name.lower() == f"{side}{v}":
                if any(p.is_dir() and re.fullmatch(r"\d{4}", name) for name, p in _children(folder).items()):
                    return side, v
    return None


def _sets(root: Path) -> dict[str, Path]:
    """{variant: folder holding its Client/Imposter pair}: in ``root`` itself, else one level down."""
    here = _pairs(root)
    if here:
        return {v: root for v in here}
    found: dict[str, Path] = {}
    for child in sorted((p for p in _children(root).values() if p.is_dir()), key=lambda p: p.name)[:64]:
        for v in _pairs(child):
            found.setdefault(v, child)
    return found


def detect(root: Path) -> bool:
    """A ``Client<Set>`` folder beside its ``Imposter<Set>`` folder, in ``root`` or one level down
    (``NUAAImposterDB/raw/``), or ``root`` is one such folder holding subject folders."""
    return bool(_sets(root)) or _one_side(root) is not None


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
    root: Path, protocol: str | None = None, check_images: bool = False, variant: str | None = None
) -> ImportResult:
    if variant is not None:
        variant = str(variant).lower()
        if variant not in VARIANTS:
            raise SpoofguardError(f"unknown NUAA variant {variant!r}; choose one of {', '.join(VARIANTS)} (or leave it out: "
                                  "the folders tell).")
    if protocol is not None and str(protocol).lower() not in PROTOCOLS:
        raise SpoofguardError(f"unknown NUAA protocol {protocol!r}; the only one is 'nuaa' (the official train/test lists).")
    root = Path(root)
    variant, home, classes, warnings = _locate(root, variant)
    children = _children(home)
    lists, skipped = _protocol_lists(home, children, [side for _, side, _ in classes], variant, protocol)
    samples = []
    for folder, side, label in classes:
        skipped += _read_side(folder, side, label, variant, lists, protocol, check_images, samples)
    return ImportResult(Manifest(samples), skipped, warnings)


def _locate(root: Path, variant: str | None):
    """Which image set to read and where: ``(variant, home, [(folder, side, label)], warnings)``. The
    folders tell the set (raw, face, normalized); a single Client or Imposter folder reads that class."""
    warnings: list[str] = []
    sets = _sets(root)
    one_side = _one_side(root) if not sets else None
    if one_side is not None:
        side, found = one_side
        if variant is not None and variant != found:
            raise SpoofguardError(f"{root} is NUAA's {root.name} folder (the {found} set), not the {variant} set.")
        other = f"Imposter{found.capitalize()}" if side == "client" else f"Client{found.capitalize()}"
        warnings.append(f"{root.name} holds NUAA's {'bona fide' if side == 'client' else 'attack'} images only; "
                        f"pass its parent folder {root.parent} (with {other}) for both classes")
        return found, root.parent, [(root, s, label) for s, label in SIDES if s == side], warnings
    if not sets:
        raise SpoofguardError(f"no NUAA folders under {root}: expected ClientRaw/ImposterRaw (or ClientFace/ImposterFace, "
                              "ClientNormalized/ImposterNormalized), or NUAAImposterDB's raw/, Detectedface/, NormalizedFace/ "
                              "one level down (is this NUAA?).")
    if variant is None:
        variant = next(v for v in VARIANTS if v in sets)
        others = [v for v in VARIANTS if v in sets and v != variant]
        if others:
            where = [f"{v} ({_hint(sets[v], root, v)})" for v in others]
            warnings.append(f"several NUAA image sets here: read {variant} ({_pairs_name(variant)}); also present: "
                            + ", ".join(where))
    elif variant not in sets:
        title = variant.capitalize()
        raise SpoofguardError(f"no Client{title}/Imposter{title} folders under {root} (found the {', '.join(sets)} "
                              f"set{'s' if len(sets) > 1 else ''}; leave the variant out to read "
                              f"{next(v for v in VARIANTS if v in sets)}).")
    home = sets[variant]
    children = _children(home)
    return variant, home, [(children[f"{side}{variant}"], side, label) for side, label in SIDES], warnings


def _protocol_lists(home: Path, children: dict, sides: list[str], variant: str, protocol: str | None):
    """The official lists found next to the image folders: ``{(side, split): relative paths}``, and the
    missing ones as skipped rows (with ``protocol``, a missing list is an error)."""
    lists: dict[tuple[str, str], set[str]] = {}
    missing = []
    for side in sides:
        for split in ("train", "test"):
            name = f"{side}_{split}_{variant}.txt"
            if name in children:
                prefix = f"{side}{variant}/"  # tolerate lines that start with ClientRaw/
                lists[side, split] = {r[len(prefix):] if r.startswith(prefix) else r for r in _read_list(children[name])}
            else:
                missing.append(name)
    if protocol and missing:
        raise SpoofguardError(f"the NUAA protocol needs {missing[0]} in {home}, which is missing.")
    skipped = [(str(home / name), "protocol list missing: its images keep an empty split") for name in missing] if lists else []
    return lists, skipped


def _read_side(folder: Path, side: str, label: str, variant: str, lists: dict, protocol, check_images: bool, samples: list) -> list:
    """Append the samples of one class folder to ``samples``; returns its skipped rows."""
    skipped, seen = [], set()
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
    return skipped


def _pairs_name(variant: str) -> str:
    title = variant.capitalize()
    return f"Client{title}/Imposter{title}"


def _hint(folder: Path, root: Path, variant: str) -> str:
    """How to read ``variant`` instead: the folder to pass, or variant= when it shares the folder."""
    if folder != root:
        return f"pass {folder} to read it"
    return f"{_pairs_name(variant)} beside the others: variant='{variant}' in Python, or a folder holding only that pair"
