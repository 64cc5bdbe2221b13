"""The one rule for files a command writes: never replace an existing file unless asked, never its own input.

Every command that writes a file (``score -o``, ``evaluate --out``, ``metrics --json``, ``data scan -o``,
``predict --heatmaps``, ``export``, ``import-onnx``, ``enroll`` ...) calls :func:`refuse_to_replace`
(``predict --heatmaps`` through :func:`heatmap_names`)
with every path it is about to write *before* it does any work, so a refusal costs nothing and loses
nothing:

- a path that is one of the command's inputs (the same file by any spelling, link or hard link) is
  refused always, ``--overwrite`` or not: ``score --data in.csv -o in.csv`` would replace the user's
  manifest with a score file;
- an existing path is refused unless ``overwrite``; a folder where a file is to be written is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from spoofguard.errors import SpoofguardError


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def refuse_to_replace(outputs: Iterable, *, overwrite: bool = False, inputs: Iterable = (), option: str = "") -> None:
    """Raise :class:`SpoofguardError` if any of ``outputs`` is one of ``inputs`` (always), is a folder, or
    exists (unless ``overwrite``). ``option`` names the command-line option that chose the path
    (e.g. ``-o``), for the message. ``None`` entries are ignored in both lists."""
    ins = [Path(p) for p in inputs if p is not None]
    said = f"{option} " if option else ""
    for out in (Path(p) for p in outputs if p is not None):
        for i in ins:
            if _same_file(out, i):
                raise SpoofguardError(f"{said}{out} is also an input of this command ({i}); it is never replaced. Write to another file.")
        if out.is_dir():
            raise SpoofguardError(f"{said}{out} is a folder; give a file name.")
        if (out.exists() or out.is_symlink()) and not overwrite:
            raise SpoofguardError(f"{said}{out} exists; pass --overwrite to replace it (or choose another name).")


class UniqueNames:
    """File names in ``folder`` for one run of a command, none the same twice (``x.png``, ``x-2.png`` ...,
    case-insensitively, for file systems that ignore case) and, unless ``overwrite``, none that was there
    before (so two inputs named ``x.png`` in different folders give two pictures)."""

    def __init__(self, folder: str | os.PathLike, overwrite: bool = False):
        self.folder, self.overwrite = Path(folder), overwrite
        self.taken: set[str] = set()

    def take(self, stem: str, suffix: str = ".png") -> str:
        name, k = f"{stem}{suffix}", 1
        while name.lower() in self.taken or (not self.overwrite and (self.folder / name).exists()):
            k += 1
            name = f"{stem}-{k}{suffix}"
        self.taken.add(name.lower())
        return name


def heatmap_names(folder: str | os.PathLike, files: list, overwrite: bool = False) -> UniqueNames:
    """The explanation pictures' names: ``NAME.png`` per input image (``NAME-faceK.png`` for face K+1 with
    --all-faces), never the same twice in a run (``NAME-2.png`` ...). Refuses a --heatmaps folder that is a
    file, that holds input images (a picture could replace one), or that holds pictures this run would
    write (unless --overwrite); before any work is done."""
    import re

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SpoofguardError(f"--heatmaps {folder} is a file; give a folder for the explanation pictures.")
    if folder.is_dir():
        inside = [Path(f) for f in files if Path(f).resolve().parent == folder.resolve()]
        if inside:
            raise SpoofguardError(f"--heatmaps {folder} holds input images (e.g. {inside[0].name}); write the explanations to another folder.")
        if not overwrite:
            stems = {Path(f).stem.lower() for f in files}
            pattern = re.compile(r"^(?P<stem>.*?)(-face\d+)?(-\d+)?\.png$", re.IGNORECASE)
            for existing in folder.iterdir():
                m = pattern.match(existing.name)
                if m and (m["stem"].lower() in stems or existing.stem.lower() in stems):
                    refuse_to_replace([existing], option="--heatmaps")
    return UniqueNames(folder, overwrite)
