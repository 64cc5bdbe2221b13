"""CASIA-FASD: CASIA Face Anti-Spoofing Database (face videos).

Published by the Center for Biometrics and Security Research (CBSR), Institute of Automation,
Chinese Academy of Sciences (Zhang, Yan, Liu, Lei, Yi and Li, "A face antispoofing database with
diverse attacks", ICB 2012). It is released for research on request: a signed license agreement is
sent to CASIA-CBSR, which replies with download instructions. 50 subjects (20 in the training set,
30 in the test set, different people), 12 videos each: bona fide, warped photo, cut photo and video
replay, each at three capture qualities.

Layout (capitalisation, spaces, ``_`` and ``-`` in folder names may vary, e.g. ``Train_Release``;
the folders may also sit one level down)::

    CASIA_faceAntisp/               <- pass this folder
      train_release/
        1/ 1.avi 2.avi ... 8.avi HR_1.avi ... HR_4.avi
        ...
        20/
      test_release/
        1/ ... 30/

File names (``HR_`` in any case), by quality and kind, as bob.db.casia_fasd maps them
(``File.get_quality``: 1/3/5/7 normal, 2/4/6/8 low, HR_* high; ``db_mappings``: ``real_normal`` = 1,
``real_low`` = 2, ``warped_normal`` = 3 ...)::

    quality   bona fide   warped photo   cut photo   video replay
    normal    1.avi       3.avi          5.avi       7.avi
    low       2.avi       4.avi          6.avi       8.avi
    high      HR_1.avi    HR_2.avi       HR_3.avi    HR_4.avi

- Warped photo -> ``species`` ``print``; cut photo (eye holes cut out) -> ``cutout``; video replay
  -> ``replay``; bona fide -> ``label`` ``bona_fide``.
- The quality (``low``, ``normal``, ``high``) -> ``device``: each quality was filmed with a
  different camera (an old USB camera, a new USB camera, a Sony NEX-5). ``session`` is empty.
- ``subject``: the folder name prefixed with its split, ``train-1`` .. ``train-20`` and
  ``test-1`` .. ``test-30``, because both sets number their (different) subjects from 1.
- ``split``: ``train`` from ``train_release``, ``test`` from ``test_release``. CASIA-FASD has no
  development set.

Every video is a sample (``video_id`` = its path below the root without extension, e.g.
``train_release/1/HR_1``).

Protocols (``--protocol``): the paper's seven test scenarios, applied to both splits; videos
outside the scenario are left out and counted as skipped. ``low``, ``normal``, ``high``: bona fide
and attack videos of that quality only. ``warped``, ``cut``, ``video``: all bona fide videos and
that attack only. ``overall``: everything (the same as no protocol).
"""

from __future__ import annotations

import os
from pathlib import Path

from spoofguard.media.images import file_problem
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.importers.common import norm_name, split_dirs, walk_files
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.errors import SpoofguardError
from spoofguard.media.video import is_video_file

SPLIT_FOLDERS = {"trainrelease": "train", "testrelease": "test"}
# normalised file stem -> (label, species, quality)
NAMES = {  # bob.db.casia_fasd: odd numbers normal quality, even numbers low, HR_ high
    "1": (BONA_FIDE, "", "normal"), "2": (BONA_FIDE, "", "low"), "hr1": (BONA_FIDE, "", "high"),
    "3": (ATTACK, "print", "normal"), "4": (ATTACK, "print", "low"), "hr2": (ATTACK, "print", "high"),
    "5": (ATTACK, "cutout", "normal"), "6": (ATTACK, "cutout", "low"), "hr3": (ATTACK, "cutout", "high"),
    "7": (ATTACK, "replay", "normal"), "8": (ATTACK, "replay", "low"), "hr4": (ATTACK, "replay", "high"),
}
SCENARIO_SPECIES = {"warped": "print", "cut": "cutout", "video": "replay"}
PROTOCOLS = ("low", "normal", "high", "warped", "cut", "video", "overall")


_norm = norm_name


def _split_dirs(root: Path) -> dict[str, Path]:
    """{split: folder} for train_release/test_release at the root or one level down."""
    return split_dirs(root, SPLIT_FOLDERS)


def detect(root: Path) -> bool:
    """A train_release/ or test_release/ folder (at the root or one level down) whose subject
    folders hold CASIA-named videos (``1.avi`` .. ``HR_4.avi``)."""
    for folder in _split_dirs(root).values():
        for subject in (d for d in sorted(folder.iterdir()) if d.is_dir()):
            with os.scandir(subject) as entries:
                if any(is_video_file(e.name) and _norm(Path(e.name).stem) in NAMES for e in entries):
                    return True
    return False


def in_protocol(protocol: str, label: str, species: str, quality: str) -> bool:
    if protocol == "overall":
        return True
    if protocol in SCENARIO_SPECIES:
        return label == BONA_FIDE or species == SCENARIO_SPECIES[protocol]
    return quality == protocol


@register_importer("casia-fasd", detect=detect)
def import_casia_fasd(root: Path, protocol: str | None = None, check_images: bool = False) -> ImportResult:
    if protocol is not None:
        protocol = str(protocol).strip().lower()
        if protocol not in PROTOCOLS:
            raise SpoofguardError(
                f"unknown CASIA-FASD protocol {protocol!r}; valid protocols (the paper's test scenarios): "
                f"{', '.join(PROTOCOLS)}."
            )
    root = Path(root)
    split_dirs = _split_dirs(root)
    if not split_dirs:
        raise SpoofguardError(f"no train_release/test_release folders under {root}: is this CASIA-FASD?")
    samples, skipped = [], []
    for split, folder in split_dirs.items():
        for path in walk_files(folder, is_video_file):
            below = path.relative_to(folder).parts
            kind = NAMES.get(_norm(path.stem))
            if len(below) < 2:
                skipped.append((str(path), f"not inside a subject folder of {folder.name}/"))
            elif kind is None:
                skipped.append((str(path), "file name is not one of CASIA-FASD's 1-8.avi or HR_1-HR_4.avi"))
            elif check_images and (problem := file_problem(path, "a video")):
                skipped.append((str(path), problem))
            elif protocol and not in_protocol(protocol, *kind):
                skipped.append((str(path), f"not in protocol {protocol}"))
            else:
                label, species, quality = kind
                samples.append(Sample(
                    path=str(path.resolve()), label=label, species=species, subject=f"{split}-{below[0]}",
                    device=quality, video_id=path.relative_to(root).with_suffix("").as_posix(), split=split,
                ))
    if not samples:
        raise SpoofguardError(
            f"no CASIA-FASD videos (train_release|test_release/<subject>/1.avi .. HR_4.avi) under {root}: "
            "is this CASIA-FASD?"
        )
    return ImportResult(Manifest(samples), skipped)
