"""SiW: Spoof in the Wild (face videos).

Published by Michigan State University (Liu, Jourabloo and Liu, "Learning Deep Models for Face
Anti-Spoofing: Binary or Auxiliary Supervision", CVPR 2018). The dataset is released for research
on request: a signed license agreement is sent to the MSU Computer Vision Lab, which replies with
download instructions. 165 subjects, live videos and print and replay attacks, filmed with two
sensors.

Layout (folder capitalisation varies between copies: ``Train``/``train``, ``live``/``Live``)::

    SiW_release/                 <- pass this folder
      Train/
        live/<subject>/<subject>-<sensor>-1-<medium>-<session>.mov   (+ .face files, ignored)
        spoof/<subject>/<subject>-<sensor>-<type>-<medium>-<session>.mov
      Test/
        live/...
        spoof/...

File names are ``SubjectID-SensorID-TypeID-MediumID-SessionID.mov``, e.g. ``006-2-3-4-1.mov``:

- SubjectID -> ``subject`` (``006``), as written.
- SensorID 1 or 2 (1: Canon EOS T6, 2: Logitech C920 webcam) -> ``device`` ``sensor1``/``sensor2``.
- TypeID 1 live (bona fide), 2 print, 3 replay -> ``label``, and ``species`` ``print``/``replay``.
  It must agree with the ``live``/``spoof`` folder the file is in; a file where they disagree is
  skipped with a reason.
- MediumID: the attack instrument. For print: 1 high-resolution, 2 low-resolution paper; for
  replay: 1 iPad Pro, 2 iPhone 7, 3 Galaxy S8, 4 Asus MB168B monitor. It is not a manifest column
  (species stays ``print``/``replay``); protocol 2 uses it.
- SessionID -> ``session``.

Every video is a sample (``video_id`` = its path below the root without extension, e.g.
``Train/spoof/006/006-2-3-4-1``); ``split`` is ``train`` or ``test`` from the ``Train``/``Test``
folder. Extract frames with ``spoofguard data frames`` before training.

Protocols (``--protocol``); train samples always come from ``Train/``, test samples from ``Test/``
(the two hold different subjects), samples outside the protocol are left out and counted as skipped:

- ``1``: all of ``Train/`` and ``Test/`` as they are. The paper trains on only the first 60 frames
  of each training video; that frame limit is a training setting, not part of the manifest.
- ``2_1`` .. ``2_4``: leave one replay medium out. Train on live videos and replay attacks shown on
  the three other media; test on live videos and replay attacks on medium N (1 iPad Pro, 2 iPhone 7,
  3 Galaxy S8, 4 Asus MB168B). Print attacks are left out.
- ``3_1``: train on live + print, test on live + replay. ``3_2``: train on live + replay, test on
  live + print.
"""

from __future__ import annotations

import re
from pathlib import Path

from spoofguard.media.images import file_problem
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.importers.common import norm_name, walk_files
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.errors import SpoofguardError
from spoofguard.media.video import is_video_file

NAME = re.compile(r"^(\d+)-(\d+)-(\d+)-(\d+)-(\d+)$")  # subject-sensor-type-medium-session
SPLIT_FOLDERS = {"train": "train", "test": "test"}
CLASS_FOLDERS = {"live": BONA_FIDE, "spoof": ATTACK}
TYPES = {"1": (BONA_FIDE, ""), "2": (ATTACK, "print"), "3": (ATTACK, "replay")}
PROTOCOLS = ("1", "2_1", "2_2", "2_3", "2_4", "3_1", "3_2")


_norm = norm_name


def _medium(stem: str) -> str:
    return str(int(NAME.match(stem).group(4)))


def in_protocol(protocol: str, split: str, species: str, medium: str) -> bool:
    """Whether a video of this split/species/medium belongs to ``protocol`` (one of PROTOCOLS)."""
    if protocol == "1" or not species:  # live videos are in every protocol, in their own split
        return True
    major, _, minor = protocol.partition("_")
    if major == "2":
        if species != "replay":
            return False
        return (medium != minor) if split == "train" else (medium == minor)
    train_kind, test_kind = ("print", "replay") if minor == "1" else ("replay", "print")
    return species == (train_kind if split == "train" else test_kind)


def _split_dirs(root: Path) -> list[Path]:
    """The Train/Test folders at the root (or one level down, e.g. SiW_release/Train)."""
    def at(folder: Path) -> list[Path]:
        try:
            return [d for d in folder.iterdir() if d.is_dir() and _norm(d.name) in SPLIT_FOLDERS]
        except OSError:
            return []

    found = at(root)
    if not found:  # a wrapper such as SiW_release/ (a few folders at most: a cheap look)
        children = sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith("."))
        for child in children[:10]:
            found += at(child)
    return sorted(found)


def detect(root: Path) -> bool:
    """Train/ or Test/ holding live/ or spoof/ holding subject folders of ``006-2-3-4-1.mov`` files."""
    for split in _split_dirs(root):
        for cls in split.iterdir():
            if not (cls.is_dir() and _norm(cls.name) in CLASS_FOLDERS):
                continue
            for subject in [d for d in sorted(cls.iterdir()) if d.is_dir()][:3]:
                if any(
                    is_video_file(f.name) and NAME.match(Path(f.name).stem) for f in subject.iterdir()
                ):
                    return True
    return False


def _sample(path: Path, root: Path) -> tuple[Sample | None, str]:
    """The sample for one video file, or (None, why it is skipped)."""
    rel = path.relative_to(root)
    folders = [_norm(p) for p in rel.parts[:-1]]
    split_at = next((i for i, f in enumerate(folders) if f in SPLIT_FOLDERS), None)
    if split_at is None or split_at + 1 >= len(folders) or folders[split_at + 1] not in CLASS_FOLDERS:
        return None, "not inside a Train|Test/live|spoof folder"
    m = NAME.match(path.stem)
    if not m:
        return None, "file name is not SubjectID-SensorID-TypeID-MediumID-SessionID (e.g. 006-2-3-4-1.mov)"
    subject, sensor, type_id, _medium_id, session = m.groups()
    if type_id not in TYPES:
        return None, f"unknown type id {type_id} (1 live, 2 print, 3 replay)"
    label, species = TYPES[type_id]
    folder_label = CLASS_FOLDERS[folders[split_at + 1]]
    if label != folder_label:
        return None, f"type id {type_id} ({species or 'live'}) disagrees with its folder {rel.parts[split_at + 1]}/"
    return Sample(
        path=str(path.resolve()), label=label, species=species, subject=subject, session=session,
        device=f"sensor{int(sensor)}", video_id=rel.with_suffix("").as_posix(),
        split=SPLIT_FOLDERS[folders[split_at]],
    ), ""


@register_importer("siw", detect=detect)
def import_siw(root: Path, protocol: str | None = None, check_images: bool = False) -> ImportResult:
    if protocol is not None:
        protocol = str(protocol).strip().replace("-", "_").replace(".", "_")
        if protocol not in PROTOCOLS:
            raise SpoofguardError(f"unknown SiW protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}.")
    root = Path(root)
    if not _split_dirs(root):
        raise SpoofguardError(f"no Train/ or Test/ folders under {root}: is this SiW (SiW_release)?")
    samples, skipped = [], []
    for path in walk_files(root, is_video_file):  # .face bounding-box files and anything else that is not a video
        sample, why = _sample(path, root)
        if sample is None:
            skipped.append((str(path), why))
            continue
        if check_images and (problem := file_problem(path, "a video")):
            skipped.append((str(path), problem))
            continue
        if protocol and not in_protocol(protocol, sample.split, sample.species, _medium(path.stem)):
            skipped.append((str(path), f"not in protocol {protocol}"))
            continue
        samples.append(sample)
    if not samples:
        raise SpoofguardError(
            f"no SiW videos (Train|Test/live|spoof/<subject>/006-2-3-4-1.mov) under {root}: is this SiW?"
        )
    if protocol:
        for split in ("train", "test"):
            for label, kind in ((BONA_FIDE, "live"), (ATTACK, "attack")):
                if not any(s.split == split and s.label == label for s in samples):
                    raise SpoofguardError(
                        f"SiW protocol {protocol} leaves no {split} {kind} videos under {root}: "
                        f"is the {split.capitalize()}/ folder complete?"
                    )
    return ImportResult(Manifest(samples), skipped)
