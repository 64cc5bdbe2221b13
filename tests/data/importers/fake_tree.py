"""Fake dataset trees for the importer tests: folders and file names only. Importers never decode a
video, so each holds a few bytes of an mp4 header; an empty file is ``data=b""``."""

from pathlib import Path

VIDEO = b"\x00\x00\x00\x18ftypmp42"


def touch(root: Path, *names: str, data: bytes = VIDEO) -> Path:
    """Write ``data`` to each of ``names`` (paths relative to ``root``, folders made as needed); returns ``root``."""
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root
