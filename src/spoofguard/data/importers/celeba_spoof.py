"""CelebA-Spoof (Zhang et al., ECCV 2020).

Published by SenseTime Research and CUHK MMLab; the data is requested through the CelebA-Spoof
project page (agreement for non-commercial research). 625,537 images of 10,177 subjects, with
rich attack, illumination and environment labels.

```
CelebA_Spoof/
  Data/
    train/4980/live/000001.jpg         (plus 000001_BB.txt bounding boxes: ignored)
    train/4980/spoof/000001.jpg
    test/...
  metas/intra_test/train_label.json    {"Data/train/4980/spoof/000001.jpg": [44 numbers], ...}
  metas/intra_test/test_label.json
```

How fields are filled:

- ``split``: ``train``/``test`` from the label file (``train_label.json``/``test_label.json``), or
  from the ``Data/train``/``Data/test`` folder where that split has no label file.
- ``label``: from the label list's index 43 (0 live, 1 spoof), checked against the ``live``/``spoof``
  folder: a disagreement is listed in ``skipped``. Without a label file: from the folder.
- ``species`` from index 40 (spoof type): 1 ``photo``, 2 ``poster``, 3 ``a4`` (prints), 4
  ``face_mask``, 5 ``upper_body_mask``, 6 ``region_mask`` (cut-out masks), 7 ``pc``, 8 ``pad``,
  9 ``phone`` (screen replays), 10 ``3d_mask``; ``unknown`` for attacks read without a label file.
- ``session`` = ``<illumination>-<environment>`` from indices 41 and 42 (illumination 1 normal,
  2 strong, 3 back, 4 dark; environment 1 indoor, 2 outdoor; 0 = ``none``), e.g. ``normal-indoor``;
  empty for live images, which carry neither. The manifest has no columns of its own for these
  conditions, so they travel in ``session``.
- ``subject`` = the numeric folder (``4980``); ``device`` and ``video_id`` are empty.

Images listed in a label file but missing on disk, and images on disk missing from their split's
label file, are listed in ``skipped``. ``protocol="intra_test"`` (the official intra-dataset test)
requires both label files and leaves out images in neither.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from spoofguard.media.images import is_image_file
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.data.importers.common import image_problem, walk_files
from spoofguard.errors import SpoofguardError

SPECIES = {1: "photo", 2: "poster", 3: "a4", 4: "face_mask", 5: "upper_body_mask", 6: "region_mask",
           7: "pc", 8: "pad", 9: "phone", 10: "3d_mask"}
ILLUMINATION = {0: "none", 1: "normal", 2: "strong", 3: "back", 4: "dark"}
ENVIRONMENT = {0: "none", 1: "indoor", 2: "outdoor"}
SPLITS = ("train", "test")
PROTOCOLS = ("intra_test",)


def _dir(parent: Path, name: str) -> Path | None:
    """The sub-folder of ``parent`` called ``name`` in any case, or None."""
    if not parent.is_dir():
        return None
    with os.scandir(parent) as it:
        return next((Path(e.path) for e in it if e.name.lower() == name and e.is_dir()), None)


def detect(root: Path) -> bool:
    """``Data/train`` or ``Data/test`` plus ``metas/intra_test``, or a subject folder holding live/spoof."""
    data = _dir(root, "data")
    splits = [d for d in (_dir(data, s) for s in SPLITS) if d] if data else []
    if not splits:
        return False
    metas = _dir(root, "metas")
    if metas and _dir(metas, "intra_test"):
        return True
    with os.scandir(splits[0]) as it:
        subject = next((Path(e.path) for e in it if e.name.isdigit() and e.is_dir()), None)
    return subject is not None and (_dir(subject, "live") or _dir(subject, "spoof")) is not None


def _load_labels(path: Path) -> dict:
    try:
        labels = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SpoofguardError(f"cannot read {path}: not a CelebA-Spoof label file ({e}).") from None
    if not isinstance(labels, dict):
        raise SpoofguardError(f"{path}: expected a JSON object mapping image paths to label lists.")
    return {k.replace("\\", "/").lstrip("./"): v for k, v in labels.items()}


def _from_labels(values) -> tuple[dict | None, str]:
    """Sample fields from a 44-number label list, or (None, why not)."""
    if not isinstance(values, list) or len(values) < 44:
        return None, "its label is not a list of 44 numbers"
    try:
        kind, light, place, spoof = (int(v) for v in values[40:44])
    except (TypeError, ValueError):
        return None, "its label has non-numbers at indices 40-43"
    if spoof == 0:
        return {"label": BONA_FIDE, "species": "", "session": ""}, ""
    if spoof != 1 or kind not in SPECIES:
        return None, f"unknown label (spoof type {kind}, live/spoof {spoof})"
    session = f"{ILLUMINATION.get(light, str(light))}-{ENVIRONMENT.get(place, str(place))}"
    return {"label": ATTACK, "species": SPECIES[kind], "session": session}, ""


@register_importer("celeba-spoof", detect=detect)
def import_celeba_spoof(root: Path, protocol: str | None = None, check_images: bool = False) -> ImportResult:
    if protocol is not None and str(protocol).lower().replace("-", "_") not in PROTOCOLS:
        raise SpoofguardError(f"unknown CelebA-Spoof protocol {protocol!r}; the only one is 'intra_test'.")
    root = Path(root)
    data = _dir(root, "data")
    folders = {s: _dir(data, s) for s in SPLITS} if data else {}
    if not any(folders.values()):
        raise SpoofguardError(
            f"no Data/train or Data/test folders under {root}: is this CelebA-Spoof? (point at the folder holding Data/ and metas/)"
        )
    meta = root / "metas" / "intra_test"
    samples, skipped = [], []
    for split in SPLITS:
        label_file = meta / f"{split}_label.json"
        if not label_file.is_file():
            if protocol:
                raise SpoofguardError(f"the CelebA-Spoof intra_test protocol needs {label_file}, which is missing.")
            if folders[split]:
                why = f"label file missing: Data/{split} read from its live/spoof folders, species unknown"
                skipped.append((str(label_file), why))
            labels = None
        else:
            labels = _load_labels(label_file)
        on_disk = set()
        # images only: *_BB.txt bounding boxes and other side files are passed over
        for path in walk_files(folders[split], is_image_file) if folders[split] else ():
            parts = path.relative_to(folders[split]).parts
            key = f"Data/{split}/" + "/".join(parts)
            on_disk.add(key)
            folder_label = {"live": BONA_FIDE, "spoof": ATTACK}.get(parts[-2].lower()) if len(parts) >= 2 else None
            if folder_label is None:
                skipped.append((str(path), "not inside a live or spoof folder"))
                continue
            if labels is None:
                fields = {"label": folder_label, "species": "unknown" if folder_label == ATTACK else "", "session": ""}
            elif key not in labels:
                skipped.append((str(path), f"not in {label_file.name}"))
                continue
            else:
                fields, why = _from_labels(labels[key])
                if fields is None:
                    skipped.append((str(path), f"{why} in {label_file.name}"))
                    continue
                if fields["label"] != folder_label:
                    says = "spoof" if fields["label"] == ATTACK else "live"
                    skipped.append((str(path), f"{label_file.name} says {says} but it is in a {parts[-2]} folder"))
                    continue
            if check_images and (problem := image_problem(path)):
                skipped.append((str(path), problem))
                continue
            subject = parts[0] if len(parts) >= 3 else ""
            samples.append(Sample(path=str(path.resolve()), subject=subject, split=split, **fields))
        for key in sorted(set(labels or ()) - on_disk):
            skipped.append((str(root / key), f"listed in {label_file.name} but not on disk"))
    return ImportResult(Manifest(samples), skipped)
