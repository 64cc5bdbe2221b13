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
  ``unknown`` when fakes lie directly in the ``Fake``/``Spoof`` folder.
- ``split``: ``train`` or ``test`` from the nearest folder whose name has the word Training/Train or
  Testing/Test; empty without one. LivDet defines no dev set.
- ``device``: the sensor folder, lower-case (``crossmatch``, ``digital_persona``, ``greenbit`` ...):
  the nearest folder above ``Live``/``Fake`` that names a known sensor, else the nearest one that is
  not a Training/Testing or ``LivDet...`` folder; empty when there is none.
- ``subject``: the leading number of the file name (``12_3.png`` -> ``12``, ``001_1_1.png`` ->
  ``001``); empty when the name does not start with ``<digits>_``. ``subject_pattern`` (a regular
  expression, group 1 = subject) replaces this rule. LivDet numbers fakes by the mould, so an attack's
  number need not be the same finger as the bona fide sample with that number.
- ``session``, ``video_id``: empty. LivDet has no protocol lists (``protocol`` must be left out).

``--format auto`` picks this layout for a tree with a ``Live`` folder next to a ``Fake``/``Spoof``
folder (within three levels) when, in addition, one of: a folder on the way names a known sensor;
the ``Fake``/``Spoof`` folder holds a known material folder; or most images in the ``Live`` and
``Spoof`` folders are named the LivDet way (``<digits>_<digits>[_<digits>].png|bmp|tif``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spoofguard.data.images import is_image_file
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
LIVDET_FILE = re.compile(r"^\d+_\d+(_\d+)*\.(png|bmp|tiff?)$", re.IGNORECASE)
DEFAULT_SUBJECT = re.compile(r"^(\d+)_")


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def material(folder: str) -> str:
    """The species for a material folder name: ``Wood Glue`` -> ``woodglue``, ``Mix 1`` -> ``mix_1``."""
    return MATERIALS.get(_squash(folder), species_name(folder))


def split_of(folder: str) -> str:
    """``train``/``test`` for a Training/Testing folder (``LivDet2015 Training``, ``test``), else ""."""
    for w in _words(folder):
        if w in SPLIT_WORDS:
            return SPLIT_WORDS[w]
    m = re.fullmatch(r"livdet\d*(training|train|testing|test)", _squash(folder))
    return SPLIT_WORDS[m.group(1)] if m else ""


def sensor_of(folder: str) -> str:
    """The device for a folder naming a known sensor (``Digital_Persona``, ``Biometrika Training``), else ""."""
    if _squash(folder) in SENSORS:
        return SENSORS[_squash(folder)]
    return next((SENSORS[w] for w in _words(folder) if w in SENSORS), "")


def _fields(folders: tuple[str, ...]) -> dict | None:
    """label, species, split, device from the folders between the root and a file, or None."""
    cls = max((i for i, f in enumerate(folders) if f.lower() in LIVE_NAMES | FAKE_NAMES), default=None)
    if cls is None:
        return None
    above = folders[:cls][::-1]  # nearest first
    split = next((s for s in map(split_of, above) if s), "")
    device = next((d for d in map(sensor_of, above) if d), "")
    if not device:
        plain = [f for f in above if not split_of(f) and not _squash(f).startswith("livdet")]
        device = species_name(plain[0]) if plain else ""
    if folders[cls].lower() in LIVE_NAMES:
        return {"label": BONA_FIDE, "species": "", "split": split, "device": device}
    species = material(folders[cls + 1]) if cls + 1 < len(folders) else "unknown"
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
    pattern = subject_regex(subject_pattern, "subject pattern") or DEFAULT_SUBJECT
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
        m = pattern.search(path.stem)
        samples.append(Sample(path=str(path.resolve()), subject=m.group(1) if m else "", **fields))
    if not classified:
        raise SpoofguardError(f"no images in Live and Fake/Spoof folders under {root}: is this LivDet?")
    if subject_pattern and any(not s.subject for s in samples):
        bad = [Path(s.path).name for s in samples if not s.subject]
        raise SpoofguardError(
            f"subject pattern {subject_pattern!r} matched no subject in {len(bad)} file name(s), e.g. {bad[0]}; "
            "fix the pattern or leave it out."
        )
    return ImportResult(Manifest(samples), skipped)
