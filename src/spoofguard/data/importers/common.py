"""What several dataset layouts need alike: folder-name matching, split folders, subject patterns,
a cheap image check. Each importer file keeps only what is particular to its layout."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterator

from spoofguard.errors import SpoofguardError


def norm_name(name: str) -> str:
    """A folder or list name compared without case, spaces, ``_`` or ``-`` (releases differ in all four)."""
    return re.sub(r"[\s_\-]+", "", name.lower())


def walk_files(folder: Path, wanted: Callable[[str], bool]) -> Iterator[Path]:
    """Every file below ``folder`` whose name ``wanted`` accepts, in sorted order (a folder's files, then its
    sub-folders), hidden files and folders skipped."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and wanted(name):
                yield Path(dirpath) / name


def split_dirs(root: Path, split_folders: dict[str, str]) -> dict[str, Path]:
    """``{split: folder}`` for the split folders named in ``split_folders`` (normalised name -> split),
    at the root or one level down (archives often unpack into one more folder)."""

    def at(folder: Path) -> dict[str, Path]:
        try:
            return {split_folders[norm_name(d.name)]: d for d in sorted(folder.iterdir())
                    if d.is_dir() and norm_name(d.name) in split_folders}
        except OSError:
            return {}

    found = at(root)
    if not found:
        for child in sorted(root.iterdir()):
            if child.is_dir() and not child.name.startswith(".") and (found := at(child)):
                break
    return found


def subject_regex(subject_pattern: str | None, option: str = "--subject-pattern") -> re.Pattern | None:
    """The user's subject pattern compiled, or None; a pattern without a group is refused."""
    if not subject_pattern:
        return None
    try:
        pattern = re.compile(subject_pattern)
    except re.error as e:
        raise SpoofguardError(f"{option} {subject_pattern!r} is not a valid regular expression: {e}.") from None
    if pattern.groups < 1:
        raise SpoofguardError(f"{option} {subject_pattern!r} needs a group, e.g. '^(\\d+)_'.")
    return pattern


def require_subjects(samples: list, subject_pattern: str) -> None:
    """Refuse a subject pattern that left some file without a subject (a silent half-split otherwise)."""
    unmatched = [s.path for s in samples if not s.subject]
    if unmatched:
        raise SpoofguardError(
            f"--subject-pattern {subject_pattern!r} matched no subject in {len(unmatched)} file name(s), "
            f"e.g. {Path(unmatched[0]).name}; fix the pattern or leave it out."
        )


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be opened as an image (from its header), or None when it can."""
    from spoofguard.media.images import open_checked

    try:
        open_checked(path).close()
        return None
    except SpoofguardError as e:
        return str(e).split(": ", 1)[-1]
