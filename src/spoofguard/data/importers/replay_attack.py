"""Idiap Replay-Attack and Replay-Mobile (face videos).

Both are published by the Idiap Research Institute, Switzerland, and released for research on
request: a signed end-user license agreement is sent to Idiap, which replies with download
instructions.

- Replay-Attack (Chingovska, Anjos and Marcel, "On the effectiveness of local binary patterns in
  face anti-spoofing", BIOSIG 2012): 50 clients filmed by a laptop webcam, 1300 videos; print,
  photo-on-a-screen and video-on-a-screen attacks (an iPhone 3GS "mobile" or an iPad "highdef"
  screen), the attack instrument held by hand or on a fixed support; two lighting conditions
  (controlled, adverse). Print-Attack and Photo-Attack are subsets with the same layout.
- Replay-Mobile (Costa-Pazo, Bhattacharjee, Vazquez-Fernandez and Marcel, "The Replay-Mobile face
  presentation-attack database", BIOSIG 2016; with Gradiant, Spain): 40 clients filmed by an iPad
  Mini 2 (tablet) and an LG G4 (smartphone), 1190 videos; print and matte-screen (photo or video)
  attacks, five lighting conditions.

Layout (capitalisation may vary; ``replayattack-train``-style folder names are accepted too)::

    replayattack/                  <- pass this folder
      train/
        real/client001_session01_webcam_authenticate_adverse_1.mov
        attack/fixed/attack_highdef_client001_session01_highdef_photo_adverse.mov
        attack/hand/attack_print_client001_session01_highdef_photo_controlled.mov
      devel/ ...
      test/ ...
      enroll/ ...                  (enrollment videos: skipped, see below)
      face-locations/ ...          (.face files: ignored)

Replay-Mobile has the same tree with the attacks directly in ``attack/`` and names such as
``client001_session01_authenticate_tablet_adverse.mov`` and
``attack_client005_session01_mattescreen_fixed_mobile_photo_lightoff.mov`` (``.mov`` or ``.mp4``;
a ``real_`` prefix is accepted).

Fields:

- ``label``: bona fide from ``real/``, attack from ``attack/``; a file whose name (``attack_...``
  or not) disagrees with its folder is skipped with a reason.
- ``species``: ``print`` for printed photos (``attack_print_...``, ``..._print_...``);
  ``photo_replay`` for a photo shown on a screen (``attack_highdef_..._photo``,
  ``attack_mobile_..._photo``, ``mattescreen_..._photo``); ``video_replay`` for a video shown on a
  screen (``..._video_...``).
- ``subject``: the client number as written (``client001`` -> ``001``).
- ``session``: ``session01`` -> ``1``.
- ``device``: Replay-Attack: the attack support, ``fixed`` or ``hand`` (from the ``attack/fixed``,
  ``attack/hand`` folder), empty for bona fide videos (all captures come from the same webcam).
  Replay-Mobile: the capture device, ``tablet`` or ``smartphone`` (``mobile`` in the name).
- The lighting (``controlled``/``adverse``; Replay-Mobile also ``lighton``/``lightoff`` etc.) is
  not a manifest column.
- ``split``: ``train``, ``dev`` (from ``devel/``), ``test``.
- ``video_id``: the path below the root without extension, e.g. ``train/real/client001_...``.

Videos under ``enroll/`` are bona fide enrolment recordings for face verification, not part of the
presentation-attack protocol: they are listed in ``skipped`` with the reason "enrollment video".
Protocols (``--protocol``), as bob.db.replaymobile defines them (``create.py``: the lists
``attack-grandtest-allsupports-alldevices``, ``attack-print-allsupports-alldevices``,
``attack-mattescreen-fixed-alldevices-alltype``, each with every bona fide ``real-alldevices`` video;
its tests count 640 / 320 / 320 attack videos):

- ``grandtest``: every attack (the usual protocol; the same as no protocol). Replay-Attack too.
- ``print`` (Replay-Mobile): bona fide videos and the printed-photo attacks (``..._print_...``), held
  by hand or fixed.
- ``mattescreen`` (Replay-Mobile): bona fide videos and the matte-screen attacks (photo and video,
  ``..._mattescreen_fixed_...``) on the fixed support; a hand-held one is left out.

Videos outside the protocol are listed in ``skipped`` ("not in protocol ..."). ``print`` and
``mattescreen`` on a Replay-Attack tree are refused: its own per-instrument lists (bob.db.replay's
protocol files) are not part of this package.
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

SPLIT_FOLDERS = {"train": "train", "devel": "dev", "dev": "dev", "test": "test"}
CLASS_FOLDERS = {"real": BONA_FIDE, "attack": ATTACK}
ENROLL_FOLDERS = {"enroll", "enrollment", "enrolment"}
SUPPORTS = {"fixed", "hand"}
PROTOCOLS = ("grandtest", "print", "mattescreen")
MOBILE_PROTOCOLS = ("print", "mattescreen")  # Replay-Mobile's
MOBILE_DEVICES = {"tablet", "smartphone"}
IDIAP_NAME = re.compile(r"(^|_)client\d+_session\d+(_|$)")
ENROLL_REASON = "enrollment video (not part of the PAD protocol)"


def _norm(name: str) -> str:
    name = norm_name(name)
    return re.sub(r"^(replayattack|replaymobile)(?=.)", "", name)


def detect(root: Path) -> bool:
    """train/devel/test folders whose real/ or attack/ folders hold Idiap-named videos
    (``...client001_session01...``), directly or one folder down (``attack/fixed``)."""
    def idiap_named(folder: Path, depth: int) -> bool:
        for entry in sorted(folder.iterdir()):
            if entry.is_file() and is_video_file(entry.name) and IDIAP_NAME.search(Path(entry.name).stem.lower()):
                return True
            if depth and entry.is_dir() and idiap_named(entry, depth - 1):
                return True
        return False

    for split in (d for d in root.iterdir() if d.is_dir() and _norm(d.name) in SPLIT_FOLDERS):
        for cls in (c for c in split.iterdir() if c.is_dir() and _norm(c.name) in CLASS_FOLDERS):
            if idiap_named(cls, 1):
                return True
    return False


def parse_name(stem: str) -> dict | None:
    """Fields from a Replay-Attack/Replay-Mobile file name, or None without a ``clientNNN`` part."""
    tokens = stem.lower().split("_")
    client = next((i for i, t in enumerate(tokens) if re.fullmatch(r"client\d+", t)), None)
    if client is None:
        return None
    session = next((t for t in tokens if re.fullmatch(r"session\d+", t)), "")
    attack = tokens[0] == "attack"
    # Replay-Attack attacks name their instrument first: attack_<print|mobile|highdef>_client...
    instrument = tokens[1] if attack and client == 2 else ""
    species = ""
    if attack:
        if {"print", "printed"} & set(tokens):
            species = "print"
        elif "video" in tokens:
            species = "video_replay"
        elif "photo" in tokens:
            species = "photo_replay"
    rest = set(tokens[client + 1:])
    # Replay-Mobile names the capture device; in Replay-Attack names "mobile" is the attack's screen
    phones = {"smartphone"} if instrument else {"smartphone", "mobile"}
    capture = "tablet" if "tablet" in rest else "smartphone" if phones & rest else ""
    if attack and not instrument:  # Replay-Mobile: attack_client005_session01_<print|mattescreen>_<support>_...
        instrument = next((t for t in tokens[client + 1:] if t in ("print", "mattescreen")), "")
    return {
        "attack": attack, "species": species, "subject": tokens[client][len("client"):],
        "session": str(int(session[len("session"):])) if session else "", "capture": capture,
        "support": next(iter(sorted(SUPPORTS & rest)), ""), "enroll": "enroll" in tokens, "instrument": instrument,
    }


def in_protocol(protocol: str, sample: Sample) -> bool:
    """Whether a sample belongs to ``protocol`` (bob.db.replaymobile's lists; see the module's notes)."""
    if protocol == "grandtest" or sample.label == BONA_FIDE:
        return True
    fields = parse_name(Path(sample.path).stem) or {}
    if protocol == "print":
        return fields.get("instrument") == "print"
    return fields.get("instrument") == "mattescreen" and fields.get("support") != "hand"


def _sample(path: Path, root: Path) -> tuple[Sample | None, str]:
    rel = path.relative_to(root)
    folders = [_norm(p) for p in rel.parts[:-1]]
    fields = parse_name(path.stem)
    if any(f in ENROLL_FOLDERS for f in folders) or (fields and fields["enroll"]):
        return None, ENROLL_REASON
    at = next((i for i, f in enumerate(folders) if f in SPLIT_FOLDERS), None)
    if at is None or at + 1 >= len(folders) or folders[at + 1] not in CLASS_FOLDERS:
        return None, "not inside a train|devel|test/real|attack folder"
    if fields is None:
        return None, "file name has no clientNNN part (e.g. client001_session01_webcam_authenticate_adverse_1.mov)"
    label = CLASS_FOLDERS[folders[at + 1]]
    if (label == ATTACK) != fields["attack"]:
        return None, f"the file name {'starts' if fields['attack'] else 'does not start'} with 'attack' " \
                     f"but the file is in {rel.parts[at + 1]}/"
    if label == ATTACK and not fields["species"]:
        return None, "attack file name names no print, photo or video"
    if fields["capture"]:  # Replay-Mobile: the capture device
        device = fields["capture"]
    elif label == ATTACK:  # Replay-Attack: the support, from attack/fixed or attack/hand
        device = next((f for f in folders[at + 2:] if f in SUPPORTS), fields["support"])
    else:
        device = ""
    return Sample(
        path=str(path.resolve()), label=label, species=fields["species"] if label == ATTACK else "",
        subject=fields["subject"], session=fields["session"], device=device,
        video_id=rel.with_suffix("").as_posix(), split=SPLIT_FOLDERS[folders[at]],
    ), ""


@register_importer("replay-attack", detect=detect)
def import_replay_attack(root: Path, protocol: str | None = None, check_images: bool = False) -> ImportResult:
    if protocol is not None:
        protocol = str(protocol).strip().lower()
        if protocol not in PROTOCOLS:
            raise SpoofguardError(
                f"unknown Replay-Attack/Replay-Mobile protocol {protocol!r}; valid protocols: grandtest (both), "
                "print, mattescreen (Replay-Mobile), or none: every train/devel/test video."
            )
    root = Path(root)
    if not any(d.is_dir() and _norm(d.name) in SPLIT_FOLDERS for d in root.iterdir()):
        raise SpoofguardError(f"no train/devel/test folders under {root}: is this Replay-Attack or Replay-Mobile?")
    samples, skipped = [], []
    for path in walk_files(root, is_video_file):  # .face files and anything else that is not a video
        sample, why = _sample(path, root)
        if sample is None:
            skipped.append((str(path), why))
        elif check_images and (problem := file_problem(path, "a video")):
            skipped.append((str(path), problem))
        else:
            samples.append(sample)
    if not samples:
        raise SpoofguardError(
            f"no Replay-Attack videos (train|devel|test/real|attack/...clientNNN_sessionNN....mov) under {root}: "
            "is this Replay-Attack or Replay-Mobile?"
        )
    if protocol in MOBILE_PROTOCOLS:
        other = next((s for s in samples if s.device not in MOBILE_DEVICES), None)
        if other is not None:
            raise SpoofguardError(
                f"protocol {protocol} is Replay-Mobile's, and {Path(other.path).name} is named the Replay-Attack way "
                "(no tablet/mobile capture device); for Replay-Attack use grandtest or no protocol."
            )
        kept = [s for s in samples if in_protocol(protocol, s)]
        skipped += [(s.path, f"not in protocol {protocol}") for s in samples if not in_protocol(protocol, s)]
        samples = kept
    return ImportResult(Manifest(samples), skipped)
