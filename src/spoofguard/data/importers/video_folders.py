"""Video folders: one folder per class holding videos.

The layout of many community anti-spoofing sets (e.g. the video sets shared on Kaggle by data
vendors, or your own recordings): each class is a folder of videos, optionally inside official
``train``/``dev``/``test`` folders. Videos may sit in sub-folders of their class folder (one per
person, say).

Layout::

    dataset/                     <- pass this folder
      [train|dev|val|valid|test/]     optional; val/valid/devel/validation -> dev
        real/  live/  bona_fide/ ...  bona fide
        replay/  printouts/  cut-out/  mask/  spoof/ ...   attacks, one folder per kind
          [person/]clip.mp4

Fields:

- ``label``: bona fide when the class folder is ``live``, ``real``, ``bona_fide``, ``bonafide``,
  ``genuine`` or ``client`` (any case), else attack.
- ``species``: the class folder's name, lower case, spelled the usual way: ``printouts``,
  ``printed``, ``print``, ``paper`` -> ``print``; ``replay``, ``display``, ``screen`` -> ``replay``;
  ``cut-out``, ``cutout``, ``cut`` -> ``cutout``; ``mask``, ``masks`` -> ``mask``; any other name
  as it is (``Spoof`` -> ``spoof``, ``3D Mask`` -> ``3d_mask``).
- ``split``: from the top-level ``train``/``dev``/``test`` folder if there is one, else empty.
- ``video_id``: the video's path below the root without extension (``train/real/p01/clip``).
- ``subject``: empty, unless ``subject_pattern`` (a regular expression on the file name without
  extension, first group = subject) recovers it, e.g. ``^(\\d+)_`` for ``17_replay.mp4``.

Every video is a sample; extract frames with ``spoofguard data frames`` before training. Images in
class folders are skipped (with a reason): use the ``folder`` format for images.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spoofguard.media.images import file_problem
from spoofguard.media.images import is_image_file
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.importers.common import norm_name, require_subjects, subject_regex, walk_files
from spoofguard.data.importers.folder import BONA_FIDE_NAMES, species_name
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.errors import SpoofguardError
from spoofguard.media.video import is_video_file

SPLIT_NAMES = {
    "train": "train", "training": "train",
    "dev": "dev", "devel": "dev", "val": "dev", "valid": "dev", "validation": "dev",
    "test": "test", "testing": "test",
}
SPECIES_SPELLINGS = {
    "print": ("printouts", "printout", "printed", "print", "prints", "paper"),
    "replay": ("replay", "replays", "display", "screen"),
    "cutout": ("cutout", "cutouts", "cut"),
    "mask": ("mask", "masks"),
}
# Replay-Attack / Replay-Mobile (train/real/*.mov, train/attack/*.mov) have their own format.
_IDIAP_NAME = re.compile(r"(^|_)client\d+_session\d+_", re.IGNORECASE)
_SPECIES = {spelling: species for species, spellings in SPECIES_SPELLINGS.items() for spelling in spellings}


_key = norm_name


def is_bona_fide(folder: str) -> bool:
    return folder.lower() in BONA_FIDE_NAMES or species_name(folder) in BONA_FIDE_NAMES


def classify(folder: str) -> tuple[str, str]:
    """(label, species) for a class folder's name."""
    if is_bona_fide(folder):
        return BONA_FIDE, ""
    return ATTACK, _SPECIES.get(_key(folder), species_name(folder))


def _dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def detect(root: Path) -> bool:
    """Class folders (below the root, or below train/dev/test folders) holding video files directly
    and no images: at least one bona fide class and one other. Trees named the Idiap way
    (``client001_session01_...``) are left to the replay-attack format."""
    top = _dirs(root)
    levels = [d for d in top if _key(d.name) in SPLIT_NAMES] or [root]
    bona_fide = other = False
    for level in levels:
        for cls in _dirs(level):
            with os.scandir(cls) as entries:
                names = [e.name for e in entries if not e.name.startswith(".") and e.is_file()]
            if any(is_image_file(n) for n in names):
                return False
            if any(_IDIAP_NAME.search(n) for n in names):
                return False
            if any(is_video_file(n) for n in names):
                if is_bona_fide(cls.name):
                    bona_fide = True
                else:
                    other = True
    return bona_fide and other


@register_importer("video-folders", detect=detect)
def import_video_folders(root: Path, protocol: str | None = None, check_images: bool = False,
                         subject_pattern: str | None = None) -> ImportResult:
    if protocol is not None:
        raise SpoofguardError("the video-folders format has no protocols; leave --protocol out.")
    root = Path(root)
    pattern = subject_regex(subject_pattern)
    samples, skipped = [], []
    for path in walk_files(root, lambda name: is_video_file(name) or is_image_file(name)):
        rel = path.relative_to(root)
        folders = list(rel.parts[:-1])
        split = SPLIT_NAMES.get(_key(folders[0]), "") if folders else ""
        if split:
            folders = folders[1:]
        if not folders:
            skipped.append((str(path), "not inside a class folder"))
            continue
        if not is_video_file(path.name):
            skipped.append((str(path), "an image: this format takes videos (use --format folder for images)"))
            continue
        if check_images and (problem := file_problem(path, "a video")):
            skipped.append((str(path), problem))
            continue
        label, species = classify(folders[0])
        subject = ""
        if pattern is not None:
            m = pattern.search(path.stem)
            subject = m.group(1) if m else ""
        samples.append(Sample(path=str(path.resolve()), label=label, species=species, subject=subject,
                              video_id=rel.with_suffix("").as_posix(), split=split))
    if not samples:
        raise SpoofguardError(
            f"no videos in class folders (real/, replay/, ...) under {root}: expected one folder of videos per class."
        )
    if pattern is not None:
        require_subjects(samples, subject_pattern)
    return ImportResult(Manifest(samples), skipped)
