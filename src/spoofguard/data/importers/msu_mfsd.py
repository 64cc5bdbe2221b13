"""MSU-MFSD: MSU Mobile Face Spoofing Database (face videos).

Published by the Pattern Recognition and Image Processing Lab, Michigan State University (Wen, Han
and Jain, "Face Spoof Detection with Image Distortion Analysis", IEEE TIFS 2015). It is released
for research on request: a signed license agreement is sent to MSU, which replies with download
instructions. The public part has 35 subjects and 280 videos filmed with a laptop webcam (MacBook
Air) and an Android phone (Google Nexus 5): bona fide, printed photo, and video replayed on an
iPad Air or an iPhone 5S.

Layout (capitalisation may vary)::

    MSU-MFSD/                       <- pass this folder
      scene01/
        real/real_client002_android_SD_scene01.mp4 ... real_client002_laptop_SD_scene01.mov
        attack/attack_client002_android_SD_printed_photo_scene01.mp4
               attack_client002_laptop_SD_ipad_video_scene01.mov
               attack_client002_laptop_SD_iphone_video_scene01.mov ...
      train_sub_list.txt            (client ids of the training set, one per line)
      test_sub_list.txt             (client ids of the test set)

File names are ``real|attack_clientNNN_<camera>_<SD|HD>[_<attack>]_scene01``:

- ``clientNNN`` -> ``subject`` ``NNN`` (as written, e.g. ``002``).
- ``<camera>`` (``android`` or ``laptop``) -> ``device``.
- ``<attack>``: ``printed_photo`` -> ``species`` ``print``; ``ipad_video`` and ``iphone_video``
  -> ``replay`` (which screen is not a manifest column). ``real_`` -> ``bona_fide``; the prefix
  must agree with the ``real/``/``attack/`` folder, or the file is skipped with a reason.
- ``session`` is empty (one session).
- ``split``: ``train`` or ``test`` from ``train_sub_list.txt``/``test_sub_list.txt`` (the
  official subject split; ids are compared as numbers, so ``2``, ``02`` and ``002`` match
  ``client002``). A subject in neither list is skipped with a reason. Without the two lists
  ``split`` is empty; with only one, it is empty too and the missing list is reported in
  ``skipped``.
- ``video_id``: the path below the root without extension, e.g. ``scene01/real/real_client002_android_SD_scene01``.

The lists may also sit in the ``scene01`` folder or in an ``information`` folder next to it. MSU-MFSD
has no other protocol.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spoofguard.media.images import file_problem
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.importers.common import norm_name, walk_files
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.errors import SpoofguardError
from spoofguard.media.video import is_video_file

CLASS_FOLDERS = {"real": BONA_FIDE, "attack": ATTACK}
LISTS = {"train": "train_sub_list.txt", "test": "test_sub_list.txt"}
NAME_HELP = "real|attack_clientNNN_<camera>_... (e.g. attack_client002_android_SD_printed_photo_scene01.mp4)"


_norm = norm_name


def _scene_dirs(root: Path) -> list[Path]:
    return [d for d in sorted(root.iterdir()) if d.is_dir() and re.fullmatch(r"scene\d+", _norm(d.name))]


def detect(root: Path) -> bool:
    """A scene01/ folder whose real/ or attack/ folder holds MSU-named videos (``real_client002_...``)."""
    for scene in _scene_dirs(root):
        for cls in (c for c in scene.iterdir() if c.is_dir() and _norm(c.name) in CLASS_FOLDERS):
            with os.scandir(cls) as entries:
                if any(is_video_file(e.name) and parse_name(Path(e.name).stem) for e in entries):
                    return True
    return False


def parse_name(stem: str) -> dict | None:
    """Fields from an MSU-MFSD file name, or None when it does not follow the convention."""
    tokens = stem.lower().split("_")
    if len(tokens) < 3 or tokens[0] not in ("real", "attack") or not re.fullmatch(r"client\d+", tokens[1]):
        return None
    species = ""
    if tokens[0] == "attack":
        rest = set(tokens[3:])
        species = "print" if {"printed", "print"} & rest else "replay" if "video" in rest else ""
    return {"attack": tokens[0] == "attack", "subject": tokens[1][len("client"):], "device": tokens[2],
            "species": species}


def _find_list(root: Path, name: str) -> Path | None:
    for folder in (root, *_scene_dirs(root), root / "information"):
        try:
            hit = next((f for f in folder.iterdir() if f.is_file() and f.name.lower() == name), None)
        except OSError:
            continue
        if hit:
            return hit
    return None


def _read_ids(path: Path) -> set[int]:
    return {int(n) for n in re.findall(r"\d+", path.read_text(errors="replace"))}


@register_importer("msu-mfsd", detect=detect)
def import_msu_mfsd(root: Path, protocol: str | None = None, check_images: bool = False) -> ImportResult:
    if protocol is not None:
        raise SpoofguardError(
            f"MSU-MFSD has no protocol {protocol!r}: its one official split comes from train_sub_list.txt and "
            "test_sub_list.txt; leave --protocol out."
        )
    root = Path(root)
    scenes = _scene_dirs(root)
    if not scenes:
        raise SpoofguardError(f"no scene01/ folder (with real/ and attack/) under {root}: is this MSU-MFSD?")
    skipped = []
    lists = {split: _find_list(root, name) for split, name in LISTS.items()}
    ids = {}
    if all(lists.values()):
        ids = {split: _read_ids(path) for split, path in lists.items()}
    elif any(lists.values()):
        for split, path in lists.items():
            if path is None:
                skipped.append((str(root / LISTS[split]), "missing, so no split is set (both subject lists are needed)"))
    samples = []
    for scene in scenes:
        for path in walk_files(scene, is_video_file):
            sample, why = _sample(path, root, scene, ids)
            if sample is None:
                skipped.append((str(path), why))
            elif check_images and (problem := file_problem(path, "a video")):
                skipped.append((str(path), problem))
            else:
                samples.append(sample)
    if not samples:
        raise SpoofguardError(f"no MSU-MFSD videos (scene01/real|attack/{NAME_HELP}) under {root}: is this MSU-MFSD?")
    return ImportResult(Manifest(samples), skipped)


def _sample(path: Path, root: Path, scene: Path, ids: dict[str, set[int]]) -> tuple[Sample | None, str]:
    rel = path.relative_to(scene)
    folder = _norm(rel.parts[0]) if len(rel.parts) > 1 else ""
    if folder not in CLASS_FOLDERS:
        return None, f"not inside {scene.name}/real or {scene.name}/attack"
    fields = parse_name(path.stem)
    if fields is None:
        return None, f"file name is not {NAME_HELP}"
    label = CLASS_FOLDERS[folder]
    if fields["attack"] != (label == ATTACK):
        return None, f"the file name starts with {path.stem.split('_')[0]!r} but the file is in {rel.parts[0]}/"
    if label == ATTACK and not fields["species"]:
        return None, "attack file name names neither printed_photo nor a video"
    split = ""
    if ids:
        number = int(fields["subject"])
        split = next((s for s in ("train", "test") if number in ids[s]), "")
        if not split:
            return None, f"client {fields['subject']} is in neither {LISTS['train']} nor {LISTS['test']}"
    return Sample(
        path=str(path.resolve()), label=label, species=fields["species"], subject=fields["subject"],
        device=fields["device"], video_id=path.relative_to(root).with_suffix("").as_posix(), split=split,
    ), ""
