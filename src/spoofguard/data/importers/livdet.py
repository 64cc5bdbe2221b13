"""LivDet: the Fingerprint Liveness Detection Competitions (2009-2021).

The competition data sets are published by the University of Cagliari (PRA Lab) with Clarkson
University and are handed out on request, after signing their licence agreement. Each edition
arranges its folders a little differently; this importer reads all of them:

```
LivDet2015/                         or the flattened variant:
  Training/                           livdet2011-biometrika-train/
    CrossMatch/                         live/10_1.png
      Live/12_3.bmp                     spoof/10_1.png
      Fake/
        Body Double/001_1_1.bmp
        Ecoflex/...
  Testing/
    CrossMatch/...
```

Sensor and Training/Testing folders may come in either order (``Biometrika/Training/Live`` or
``Training/Biometrika/Live``), in any capitalisation and spacing (``Train``, ``testing``,
``LivDet2015 Training``, ``Digital_Persona``). Images are ``.png``, ``.bmp``, ``.tif`` or ``.jpg``.

How fields are filled (only folders *below* the folder you point at are read, not its own name):

- ``label``: bona fide below a ``Live`` folder, attack below a ``Fake`` or ``Spoof`` folder (any case);
  the nearest such folder counts. Images below neither are listed as skipped.
- ``species``: the material folder just below ``Fake``/``Spoof``, with spelling normalised
  (Gelatin/Gelatine -> ``gelatine``, Wood Glue -> ``woodglue``, Play-Doh -> ``playdoh``,
  Body Double -> ``body_double``, Liquid Ecoflex -> ``liquid_ecoflex``, Elmer's glue ->
  ``elmers_glue``; other names lower-case with spaces as underscores, e.g. ``Mix1`` -> ``mix1``);
  when fakes lie directly in the ``Fake``/``Spoof`` folder, that folder's name (``spoof``, ``fake``),
  as the generic folder layout names it too, so both layouts give such a tree the same species.
- ``split``: ``train`` or ``test`` from the nearest folder whose name has the word Training/Train or
  Testing/Test, also glued to a sensor name as LivDet 2013 writes them (``BiometrikaTrain``,
  ``CrossMatchTest``); empty without one. LivDet defines no dev set.
- ``device``: the sensor, lower-case (``crossmatch``, ``digital_persona``, ``greenbit`` ...), one name
  per sensor whatever the split: the nearest folder above ``Live``/``Fake`` that names a known sensor,
  alone or glued to a split word (``BiometrikaTrain`` and ``BiometrikaTest`` are both
  ``biometrika``), else the nearest one that is not a Training/Testing or ``LivDet...`` folder
  (with a glued split word removed); empty when there is none.
- ``subject``: from the file name, as each sensor's naming carries it: the leading number before
  ``_`` (``12_3.png`` -> ``12``, ``001_1_1.png`` -> ``001``, LivDet 2013 CrossMatch/Swipe
  ``1017371_R1_1.bmp`` -> ``1017371``); LivDet 2013 Biometrika/Italdata names (``031TLidxBmk.png``,
  ``002.1TLidxBmk.png``, fakes ``031.1TrrLidxBmk.png``, ``082.TrrLidxItd.png``) give the number
  before the ``.copy`` and ``T`` parts, as three digits (``031``, ``002``; the release's one
  ``0083.3Trr...`` is ``083``). Empty when the name carries none. ``subject_pattern`` (a regular
  expression, group 1 = subject) replaces these rules. LivDet numbers fakes by the mould, so an
  attack's number need not be the same finger as the bona fide sample with that number.
- ``session``, ``video_id``: empty. LivDet has no protocol lists (``protocol`` must be left out).

``--format auto`` picks this layout for a tree with a ``Live`` folder next to a ``Fake``/``Spoof``
folder (within three levels) when, in addition, one of: a folder on the way names a known sensor;
the ``Fake``/``Spoof`` folder holds a known material folder; or most images in the ``Live`` and
``Spoof`` folders are named the LivDet way (``<digits>_<digits>[_<digits>].png|bmp|tif``,
``1017371_R1_1.bmp``, ``031TLidxBmk.png``, ``002.1TrrLidxItd.png``).

The LivDet 2013 shapes follow the release's file lists as bob.db.livdet2013 ships them
(``Training/BiometrikaTrain/Live/031TLidxBmk.png``, ``Training/CrossMatchTrain/Spoof/BodyDouble/
1017371_R1_1.bmp``, ``Testing/ItaldataTest/...``, ``SwipeTrain/Live/0272105_R1_1.bmp``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spoofguard.media.images import is_image_file
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.importers.folder import species_name
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.data.importers.common import image_problem, subject_regex, walk_files
from spoofguard.errors import SpoofguardError

SENSORS = {  # squashed folder name -> device
    "biometrika": "biometrika", "crossmatch": "crossmatch", "digitalpersona": "digital_persona",
    "greenbit": "greenbit", "italdata": "italdata", "orcathus": "orcathus", "sagem": "sagem",
    "swipe": "swipe", "identix": "identix", "hiscan": "hi_scan", "dermalog": "dermalog",
}
MATERIALS = {  # squashed folder name -> species
    "gelatin": "gelatine", "gelatine": "gelatine", "latex": "latex", "silicone": "silicone",
    "woodglue": "woodglue", "playdoh": "playdoh", "ecoflex": "ecoflex", "bodydouble": "body_double",
    "modasil": "modasil", "liquidecoflex": "liquid_ecoflex", "oomoo": "oomoo", "rtv": "rtv",
    "elmersglue": "elmers_glue", "silgum": "silgum",
}
LIVE_NAMES = {"live"}
FAKE_NAMES = {"fake", "spoof"}
SPLIT_WORDS = {"training": "train", "train": "train", "testing": "test", "test": "test"}
LIVDET_FILE = re.compile(r"^(\d+_R?\d+(_\d+)*|\d+(\.\d*)?T[a-z]+)\.(png|bmp|tiff?)$", re.IGNORECASE)
DEFAULT_SUBJECT = re.compile(r"^(\d+)_")
# LivDet 2013 Biometrika / Italdata: <subject>[.<copy>]T<finger...>, e.g. 031TLidxBmk, 002.1TLidxBmk, 082.TrrLidxItd
NUMBER_DOT_T = re.compile(r"^(\d+)(?:\.\d*)?T", re.IGNORECASE)
_SPLIT_WORD = "(training|train|testing|test)"
_SENSOR_WORD = "(" + "|".join(sorted(SENSORS, key=len, reverse=True)) + ")"
_GLUED = [re.compile(f"(?:livdet\\d*)?{_SENSOR_WORD}{_SPLIT_WORD}?"), re.compile(f"(?:livdet\\d*)?{_SPLIT_WORD}{_SENSOR_WORD}")]


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def material(folder: str) -> str:
    """The species for a material folder name: ``Wood Glue`` -> ``woodglue``, ``Mix 1`` -> ``mix_1``."""
    return MATERIALS.get(_squash(folder), species_name(folder))


def _glued(folder: str) -> tuple[str, str]:
    """(sensor, split) for a folder that glues a known sensor to a split word, LivDet 2013's way
    (``BiometrikaTrain``, ``CrossMatchTest``, ``LivDet2013ItaldataTraining``, ``TestSwipe``), else ("", "")."""
    squashed = _squash(folder)
    if m := _GLUED[0].fullmatch(squashed):
        return SENSORS[m.group(1)], SPLIT_WORDS[m.group(2)] if m.group(2) else ""
    if m := _GLUED[1].fullmatch(squashed):
        return SENSORS[m.group(2)], SPLIT_WORDS[m.group(1)]
    return "", ""


def split_of(folder: str) -> str:
    """``train``/``test`` for a Training/Testing folder (``LivDet2015 Training``, ``test``,
    ``BiometrikaTrain``), else ""."""
    for w in _words(folder):
        if w in SPLIT_WORDS:
            return SPLIT_WORDS[w]
    m = re.fullmatch(r"livdet\d*(training|train|testing|test)", _squash(folder))
    if m:
        return SPLIT_WORDS[m.group(1)]
    if glued := _glued(folder)[1]:
        return glued
    suffix = _SPLIT_SUFFIX.search(folder.strip())
    return SPLIT_WORDS[_squash(suffix.group(0))] if suffix else ""


def sensor_of(folder: str) -> str:
    """The device for a folder naming a known sensor (``Digital_Persona``, ``Biometrika Training``,
    ``BiometrikaTrain``), else ""."""
    if _squash(folder) in SENSORS:
        return SENSORS[_squash(folder)]
    if found := next((SENSORS[w] for w in _words(folder) if w in SENSORS), ""):
        return found
    return _glued(folder)[0]


_SPLIT_SUFFIX = re.compile(r"(?:[\s_\-]+(?i:training|train|testing|test)|(?<=[a-z0-9])(?:Training|Train|Testing|Test))$")


def _unsplit(folder: str) -> str:
    """A folder name without a split word at its end, after a separator or CamelCase
    (``NewSensorTrain``, ``New Sensor-test`` -> ``NewSensor``, ``New Sensor``; ``Latest`` stays)."""
    return _SPLIT_SUFFIX.sub("", folder.strip()) or folder


def subject_of(stem: str) -> str:
    """The subject a LivDet file name carries (see the module's notes), else ""."""
    if m := DEFAULT_SUBJECT.search(stem):
        return m.group(1)
    if m := NUMBER_DOT_T.search(stem):
        return f"{int(m.group(1)):03d}"
    return ""


def _fields(folders: tuple[str, ...]) -> dict | None:
    """label, species, split, device from the folders between the root and a file, or None."""
    cls = max((i for i, f in enumerate(folders) if f.lower() in LIVE_NAMES | FAKE_NAMES), default=None)
    if cls is None:
        return None
    above = folders[:cls][::-1]  # nearest first
    split = next((s for s in map(split_of, above) if s), "")
    device = next((d for d in map(sensor_of, above) if d), "")
    if not device:
        plain = [f for f in above if not _squash(f).startswith("livdet")
                 and (not split_of(f) or _unsplit(f) != f)]  # NewSensorTrain: a sensor folder with its split glued on
        device = species_name(_unsplit(plain[0])) if plain else ""
    if folders[cls].lower() in LIVE_NAMES:
        return {"label": BONA_FIDE, "species": "", "split": split, "device": device}
    species = material(folders[cls + 1]) if cls + 1 < len(folders) else species_name(folders[cls])
    return {"label": ATTACK, "species": species, "split": split, "device": device}


def _is_material(folder: str) -> bool:
    return _squash(folder) in MATERIALS or re.fullmatch(r"mix\d*", _squash(folder)) is not None


def _subdirs(path: Path) -> list[os.DirEntry]:
    with os.scandir(path) as it:
        return sorted((e for e in it if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name)


def _livdet_names(folder: Path, limit: int = 20) -> bool:
    """True when most of the folder's images (the first ``limit``) are named like ``12_3.png``."""
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.is_file() and is_image_file(e.name))[:limit]
    return 2 * sum(bool(LIVDET_FILE.match(n)) for n in names) > len(names)


def detect(root: Path) -> bool:
    """A Live folder beside a Fake/Spoof folder within three levels, plus a LivDet-specific sign."""

    def visit(parent: Path, path_names: tuple[str, ...], depth: int) -> bool:
        dirs = _subdirs(parent)
        live = [e for e in dirs if e.name.lower() in LIVE_NAMES]
        fake = [e for e in dirs if e.name.lower() in FAKE_NAMES]
        if live and fake:
            if any(sensor_of(n) for n in path_names):
                return True
            if any(_is_material(m.name) for f in fake for m in _subdirs(Path(f.path))):
                return True
            live_dir, fake_dir = Path(live[0].path), Path(fake[0].path)
            if _livdet_names(live_dir) and _livdet_names(fake_dir):
                return True
        if depth < 2:
            for e in dirs[:64]:
                if e.name.lower() not in LIVE_NAMES | FAKE_NAMES and visit(Path(e.path), path_names + (e.name,), depth + 1):
                    return True
        return False

    return root.is_dir() and visit(root, (), 0)


@register_importer("livdet", detect=detect)
def import_livdet(
    root: Path, protocol: str | None = None, check_images: bool = False, subject_pattern: str | None = None
) -> ImportResult:
    if protocol:
        raise SpoofguardError(
            f"LivDet has no protocol lists (got protocol {protocol!r}); its Training/Testing folders give the split, "
            "so leave the protocol out."
        )
    pattern = subject_regex(subject_pattern, "subject pattern")
    root = Path(root)
    samples, skipped, classified = [], [], 0
    for path in walk_files(root, is_image_file):
        rel = path.relative_to(root)
        fields = _fields(rel.parts[:-1])
        if fields is None:
            skipped.append((str(path), "not inside a Live or Fake/Spoof folder"))
            continue
        classified += 1
        if check_images and (problem := image_problem(path)):
            skipped.append((str(path), problem))
            continue
        if pattern is None:
            subject = subject_of(path.stem)
        else:
            subject = m.group(1) if (m := pattern.search(path.stem)) else ""
        samples.append(Sample(path=str(path.resolve()), subject=subject, **fields))
    if not classified:
        raise SpoofguardError(f"no images in Live and Fake/Spoof folders under {root}: is this LivDet?")
    if subject_pattern and any(not s.subject for s in samples):
        bad = [Path(s.path).name for s in samples if not s.subject]
        raise SpoofguardError(
            f"subject pattern {subject_pattern!r} matched no subject in {len(bad)} file name(s), e.g. {bad[0]}; "
            "fix the pattern or leave it out."
        )
    return ImportResult(Manifest(samples), skipped)
