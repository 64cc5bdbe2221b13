"""OULU-NPU (face videos from six smartphones).

Published by the Center for Machine Vision and Signal Analysis, University of Oulu (Boulkenafet,
Komulainen, Li, Feng and Hadid, "OULU-NPU: A mobile face presentation attack database with
real-world variations", FG 2017). It is released for research on request: a signed license
agreement is sent to the University of Oulu, which replies with download instructions. 55 subjects,
3 sessions (different places and lighting), 6 phones, 4950 videos: bona fide, two printers and two
displays.

Layout (capitalisation, spaces, ``_`` and ``-`` in folder and list names may vary; the folders may
also sit one level down, e.g. ``OULU-NPU/Train_files``)::

    OULU-NPU/                       <- pass this folder
      Train_files/1_1_01_1.avi ...  (+ 1_1_01_1.txt eye positions, ignored)
      Dev_files/...
      Test_files/...
      Protocols/
        Protocol_1/Train.txt Dev.txt Test.txt
        Protocol_2/Train.txt Dev.txt Test.txt
        Protocol_3/Train_1.txt .. Train_6.txt, Dev_1.txt .., Test_1.txt .. Test_6.txt
        Protocol_4/Train_1.txt .. Train_6.txt, Dev_1.txt .., Test_1.txt .. Test_6.txt

Video names are ``Phone_Session_User_File``, e.g. ``1_3_45_2.avi``:

- Phone 1-6 -> ``device`` ``phone1`` .. ``phone6`` (Samsung Galaxy S6 edge, HTC Desire EYE, MEIZU X5,
  ASUS Zenfone Selfie, Sony XPERIA C5 Ultra Dual, OPPO N3).
- Session 1-3 -> ``session`` ``1`` .. ``3``.
- User 01-55 -> ``subject`` ``01`` .. ``55``, as written.
- File (access type): 1 bona fide; 2, 3 print attack (printer 1, 2) -> ``species`` ``print``;
  4, 5 replay attack (display 1, 2) -> ``species`` ``replay``. Which printer or display is not a
  manifest column.

Every video is a sample (``video_id`` = its path below the root without extension, e.g.
``Train_files/1_3_45_2``). Without a protocol ``split`` is ``train``/``dev``/``test`` from the
folder the video is in, and all videos are listed.

Protocols (``--protocol``): ``1``, ``2``, ``3_1`` .. ``3_6``, ``4_1`` .. ``4_6`` (protocols 3 and 4
are leave-one-phone-out, so they need a sub-protocol number: ``3`` alone is an error). The lists in
``Protocols/Protocol_N/`` decide which videos are used and their split: each line is
``label,video`` (``+1,1_1_01_1``; ``+1`` bona fide, a negative number an attack), and the video is
looked up in the ``Train_files``/``Dev_files``/``Test_files`` folder of the list's split. A list
line whose label disagrees with the access type in the name, or whose video is missing, is skipped
with a reason; videos not in the protocol are left out and counted as skipped. A missing list file
of the chosen protocol is an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spoofguard.media.images import file_problem
from spoofguard.data.importers import ImportResult, register_importer
from spoofguard.data.importers.common import norm_name, split_dirs, walk_files
from spoofguard.data.manifest import ATTACK, BONA_FIDE, Manifest, Sample
from spoofguard.errors import SpoofguardError
from spoofguard.media.video import is_video_file

NAME = re.compile(r"^([1-6])_([1-3])_(\d{2})_([1-5])$")  # phone_session_user_file
SPLIT_FOLDERS = {"trainfiles": "train", "devfiles": "dev", "testfiles": "test"}
LIST_NAMES = {"train": "Train", "dev": "Dev", "test": "Test"}
ACCESS = {"1": (BONA_FIDE, ""), "2": (ATTACK, "print"), "3": (ATTACK, "print"),
          "4": (ATTACK, "replay"), "5": (ATTACK, "replay")}
PROTOCOLS = ("1", "2", *(f"3_{i}" for i in range(1, 7)), *(f"4_{i}" for i in range(1, 7)))
NAME_HELP = "Phone_Session_User_File (e.g. 1_1_01_1.avi)"


_norm = norm_name


def _child(folder: Path, normalized: str) -> Path | None:
    """The entry of ``folder`` whose normalised name is ``normalized``, if any."""
    try:
        return next((c for c in sorted(folder.iterdir()) if _norm(c.name) == normalized), None)
    except OSError:
        return None


def _split_dirs(root: Path) -> dict[str, Path]:
    """{split: folder} for Train_files/Dev_files/Test_files at the root or one level down."""
    return split_dirs(root, SPLIT_FOLDERS)


def detect(root: Path) -> bool:
    """A Train_files/, Dev_files/ or Test_files/ folder (at the root or one level down) holding a
    ``1_1_01_1.avi``-style video."""
    for folder in _split_dirs(root).values():
        with os.scandir(folder) as entries:
            if any(is_video_file(e.name) and NAME.match(Path(e.name).stem) for e in entries):
                return True
    return False


def parse_protocol(protocol) -> str:
    """``"1"``, ``"Protocol_3_2"``, ``"3-2"``, ``"3.2"`` -> one of PROTOCOLS, else SpoofguardError."""
    text = _norm(str(protocol)).removeprefix("protocol").replace(".", "")
    m = re.fullmatch(r"([1-4])([1-6])?", text)
    if m and m.group(1) in "34" and not m.group(2):
        subs = ", ".join(p for p in PROTOCOLS if p.startswith(m.group(1)))
        raise SpoofguardError(
            f"OULU-NPU protocol {m.group(1)} has six sub-protocols (one per left-out phone); choose one of {subs}."
        )
    value = f"{m.group(1)}_{m.group(2)}" if m and m.group(2) else (m.group(1) if m else "")
    if value not in PROTOCOLS:
        raise SpoofguardError(f"unknown OULU-NPU protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}.")
    return value


def _videos(folder: Path) -> dict[str, Path]:
    """{stem: path} of the video files below ``folder``."""
    out = {}
    for path in walk_files(folder, is_video_file):
        out.setdefault(path.stem, path)
    return out


def _sample(path: Path, root: Path, split: str) -> tuple[Sample | None, str]:
    m = NAME.match(path.stem)
    if not m:
        return None, f"file name is not {NAME_HELP}"
    phone, session, user, access = m.groups()
    label, species = ACCESS[access]
    return Sample(
        path=str(path.resolve()), label=label, species=species, subject=user, session=session,
        device=f"phone{phone}", video_id=path.relative_to(root).with_suffix("").as_posix(), split=split,
    ), ""


def _protocol_lists(split_dirs: dict[str, Path], protocol: str) -> dict[str, Path]:
    """{split: list file} of ``protocol``; SpoofguardError naming the first missing file."""
    major, _, minor = protocol.partition("_")
    suffix = f"_{minor}" if minor else ""
    base = split_dirs[next(iter(split_dirs))].parent  # the folder holding Train_files etc.
    protocols = _child(base, "protocols")
    folder = _child(protocols, f"protocol{major}") if protocols else None
    lists = {}
    for split, stem in LIST_NAMES.items():
        f = _child(folder, _norm(f"{stem}{suffix}.txt")) if folder else None
        if f is None or not f.is_file():
            expected = base / "Protocols" / f"Protocol_{major}" / f"{stem}{suffix}.txt"
            raise SpoofguardError(f"OULU-NPU protocol {protocol} needs the list file {expected}, which is missing.")
        lists[split] = f
    return lists


def _read_list(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """([(label, video name)], skipped) from a protocol list of ``+1,1_1_01_1`` lines."""
    rows, bad = [], []
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not re.fullmatch(r"[+-]?\d+", parts[0]):
            bad.append((f"{path}:{i}", f"expected 'label,video' like '+1,1_1_01_1', got {line.strip()!r}"))
            continue
        rows.append((BONA_FIDE if int(parts[0]) > 0 else ATTACK, Path(parts[1]).stem))
    return rows, bad


@register_importer("oulu-npu", detect=detect)
def import_oulu_npu(root: Path, protocol: str | None = None, check_images: bool = False) -> ImportResult:
    if protocol is not None:
        protocol = parse_protocol(protocol)
    root = Path(root)
    split_dirs = _split_dirs(root)
    if not split_dirs:
        raise SpoofguardError(f"no Train_files/Dev_files/Test_files folders under {root}: is this OULU-NPU?")
    videos = {split: _videos(folder) for split, folder in split_dirs.items()}
    samples, skipped = [], []

    def add(path: Path, split: str, listed_label: str | None = None, where: str = "") -> None:
        sample, why = _sample(path, root, split)
        if sample is None:
            skipped.append((str(path), why))
        elif listed_label is not None and listed_label != sample.label:
            skipped.append((str(path), f"{where} labels it {listed_label} but its access type says {sample.label}"))
        elif check_images and (problem := file_problem(path, "a video")):
            skipped.append((str(path), problem))
        else:
            samples.append(sample)

    if protocol is None:
        for split, found in videos.items():
            for path in found.values():
                add(path, split)
    else:
        used: set[Path] = set()
        for split, list_file in _protocol_lists(split_dirs, protocol).items():
            where = list_file.relative_to(root).as_posix() if list_file.is_relative_to(root) else str(list_file)
            rows, bad = _read_list(list_file)
            skipped += bad
            for label, name in rows:
                path = videos.get(split, {}).get(name)
                if path is None:
                    folder = split_dirs.get(split, root / f"{LIST_NAMES[split]}_files")
                    skipped.append((str(folder / name), f"listed in {where} but there is no such video"))
                elif path not in used:
                    used.add(path)
                    add(path, split, label, where)
        for found in videos.values():
            skipped += [(str(p), f"not in protocol {protocol}") for p in found.values() if p not in used]
    if not samples:
        raise SpoofguardError(
            f"no OULU-NPU videos ({NAME_HELP} in Train_files/Dev_files/Test_files) under {root}: is this OULU-NPU?"
        )
    return ImportResult(Manifest(samples), skipped)
