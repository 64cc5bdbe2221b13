"""The model zoo: published PAD weights by name, downloaded once into a local cache.

A :class:`ZooEntry` names a set of published files (each pinned by URL, SHA-256 and size) and a
converter that turns them into a spoofguard bundle. :func:`pull` downloads the files (or copies them
from a folder or URL given with ``source``, for machines without network), checks every byte against
the pins, converts, and installs the result under :func:`home`::

    $SPOOFGUARD_HOME/models/<name>/model.safetensors   the bundle (what Detector loads)
                                   files/              the published files, as downloaded
                                   source.json         entry, licence, homepage, pins, when and from where

A pull is all or nothing: everything is staged in a hidden ``.partial-*`` folder next to the final one
and moved into place only once the files are verified and converted, so a failed or interrupted pull
leaves no model folder behind, and a previous good pull stays as it was until the new one is complete.

:func:`resolve` lets every command that takes a model path also take a zoo name; :func:`listing` is
what ``spoofguard models list`` prints. Nothing here imports torch; a converter is imported only when
a pull needs it. Downloads use :mod:`urllib` (proxies from the usual environment variables apply).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib
import json
import os
import re
import secrets
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from spoofguard.errors import SpoofguardError

TIMEOUT = 30.0  # seconds without a byte before a download is given up
CHUNK = 1 << 16
SIZE_SLACK = 2  # a download may not grow past this many times the published size
STALE_S = 24 * 3600  # leftovers of a killed pull older than this are swept at the next pull

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ZooFile:
    """One published file: its name in the cache, where upstream serves it, its SHA-256 and size in bytes."""

    name: str
    url: str
    sha256: str
    size: int

    def __post_init__(self):
        if not _NAME.match(self.name) or self.name.endswith(".part"):
            raise ValueError(f"zoo file name {self.name!r} must be a plain file name")
        if not _SHA256.match(self.sha256):
            raise ValueError(f"zoo file {self.name}: sha256 must be 64 lower-case hex digits, got {self.sha256!r}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size <= 0:
            raise ValueError(f"zoo file {self.name}: size must be a positive number of bytes, got {self.size!r}")


@dataclass(frozen=True)
class ZooEntry:
    """A published model: what it is, under which licence, its files, and how to turn them into a bundle.

    ``convert`` is ``"module:function"``, imported only when a pull needs it and called as
    ``convert(files: dict[str, Path], out: Path, entry: ZooEntry) -> Path``; it must write a spoofguard
    bundle at ``out``.
    """

    name: str
    description: str
    licence: str
    source: str
    files: list[ZooFile] = field(default_factory=list)
    convert: str = ""

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"zoo entry name {self.name!r} must be letters, digits, '.', '_' or '-'")
        if not self.files:
            raise ValueError(f"zoo entry {self.name}: needs at least one file")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"zoo entry {self.name}: file names must be unique, got {names}")
        module, sep, func = self.convert.partition(":")
        if not (sep and module and func):
            raise ValueError(f"zoo entry {self.name}: convert must be 'module:function', got {self.convert!r}")


_REGISTRY: dict[str, ZooEntry] = {}


def register(entry: ZooEntry, replace: bool = False) -> ZooEntry:
    """Add ``entry`` to the zoo; a name already taken needs ``replace=True``."""
    if not isinstance(entry, ZooEntry):
        raise TypeError(f"register() takes a ZooEntry, got {type(entry).__name__}")
    if entry.name in _REGISTRY and not replace:
        raise ValueError(f"zoo entry {entry.name!r} is already registered (pass replace=True to replace it)")
    _REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove ``name`` from the zoo (a no-op when it is not there); the cache is left alone."""
    _REGISTRY.pop(name, None)


def entries() -> list[ZooEntry]:
    """Every registered entry, sorted by name."""
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]


def entry(name: str) -> ZooEntry:
    """The entry called ``name``; an unknown name raises SpoofguardError listing the known ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise SpoofguardError(f"no model called {name!r} in the zoo; known models: {known} (see `spoofguard models list`).") from None


# ----------------------------------------------------------------------------------------------- cache


def home() -> Path:
    """The cache root: ``$SPOOFGUARD_HOME``, else ``~/.cache/spoofguard``."""
    root = os.environ.get("SPOOFGUARD_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "spoofguard"


def model_dir(name: str) -> Path:
    """Where a pulled model ``name`` lives (whether or not it is pulled)."""
    return home() / "models" / entry(name).name


def bundle_path(name: str) -> Path:
    """Where the bundle of model ``name`` lives once pulled."""
    return model_dir(name) / "model.safetensors"


def is_pulled(name: str) -> bool:
    """Whether model ``name`` has a bundle in the cache (cheap: does not re-check the files)."""
    return bundle_path(name).is_file()


def listing() -> list[dict]:
    """One dict per entry: name, description, licence, source (homepage), pulled, path (None if not pulled)."""
    rows = []
    for e in entries():
        pulled = is_pulled(e.name)
        rows.append({"name": e.name, "description": e.description, "licence": e.licence, "source": e.source,
                     "size": sum(f.size for f in e.files), "pulled": pulled,
                     "path": str(bundle_path(e.name)) if pulled else None})
    return rows


def resolve(name_or_path: str) -> str:
    """A model argument as a path: an existing file or folder as given; a pulled zoo name as its bundle.

    A zoo name that is not pulled raises SpoofguardError saying how to pull it. Anything else comes
    back unchanged, so the caller's usual "no such model file" message applies.
    """
    text = os.fspath(name_or_path)
    if Path(text).exists():
        return text
    if text in _REGISTRY:
        if is_pulled(text):
            return str(bundle_path(text))
        raise SpoofguardError(f"model {text!r} is in the zoo but not pulled yet: run `spoofguard models pull {text}` "
                              f"(offline: --from DIR, a folder holding {', '.join(f.name for f in _REGISTRY[text].files)}).")
    return text


# ------------------------------------------------------------------------------------------------ pull


def pull(name: str, source: str | os.PathLike | None = None, say: Callable[[str], object] = print,
         force: bool = False, timeout: float = TIMEOUT) -> Path:
    """Download, verify and convert zoo model ``name``; return the path of its bundle.

    ``source``: where to get the files instead of their published URLs: a local folder holding them
    under their names, or an http(s):// or file:// URL of such a folder (``source + "/" + name``).
    Every file is streamed into the cache, refused if it grows past twice its published size, and
    checked against its SHA-256. Any failure raises SpoofguardError and leaves nothing half-written;
    a model already pulled with the same pins is only re-checked (``force=True`` pulls it again).
    """
    e = entry(name)
    final = home() / "models" / e.name
    if not force and _pulled_ok(e, final):
        say(f"{e.name} is already pulled (sha256 verified): {final / 'model.safetensors'}")
        return final / "model.safetensors"
    if final.exists() and not force:
        say(f"the cached {e.name} at {final} is incomplete or out of date; pulling it again")

    local, source_label = _source_folder(e, source)
    models = final.parent
    try:
        models.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SpoofguardError(f"cannot create the model cache {models} ({err}); set SPOOFGUARD_HOME to a writable folder.") from None
    _sweep(models)
    staging = _make_staging(models, e.name)
    try:
        fetched = []
        with _writing():
            (staging / "files").mkdir()
        for f in e.files:
            where = _location(f, source, local)
            dest = staging / "files" / f.name
            say(f"{'copying' if isinstance(where, Path) else 'downloading'} {f.name} ({_mb(f.size)}) from {where}")
            _fetch(f, where, dest, timeout, from_source=source is not None)
            fetched.append({"name": f.name, "url": f.url, "sha256": f.sha256, "size": f.size, "fetched_from": str(where)})
        say(f"files verified (sha256); converting with {e.convert}")
        files = {f.name: staging / "files" / f.name for f in e.files}
        out = staging / "model.safetensors"
        _converter(e)(files, out, e)
        _check_bundle(e, out)
        info = {"name": e.name, "description": e.description, "licence": e.licence, "source": e.source,
                "convert": e.convert, "files": fetched, "pulled_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "from": source_label, "spoofguard_version": _version()}
        with _writing():
            (staging / "source.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            _install(staging, final)
    except _CacheWriteError as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise SpoofguardError(f"could not write {e.name} into the model cache {models} ({err.__cause__}); "
                              "free some space or set SPOOFGUARD_HOME to a writable folder.") from None
    except BaseException:  # anything, Ctrl-C included: nothing half-written stays behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    say(f"pulled {e.name} ({e.licence}, {e.source}): {final / 'model.safetensors'}")
    return final / "model.safetensors"


def _pulled_ok(e: ZooEntry, folder: Path) -> bool:
    """A complete earlier pull of the same pins: bundle present, source.json and files matching the entry."""
    if not (folder / "model.safetensors").is_file():
        return False
    try:
        info = json.loads((folder / "source.json").read_text(encoding="utf-8"))
        pins = {f["name"]: f["sha256"] for f in info["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if pins != {f.name: f.sha256 for f in e.files}:
        return False
    for f in e.files:
        p = folder / "files" / f.name
        try:
            if not p.is_file() or p.stat().st_size != f.size or _sha256_file(p) != f.sha256:
                return False
        except OSError:
            return False
    return True


def _source_folder(e: ZooEntry, source) -> tuple[Path | None, str]:
    """(the local folder, or None for URLs) and how source.json records where the files came from."""
    if source is None:
        return None, "upstream"
    text = os.fspath(source)
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return None, text
    if scheme == "file":
        folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(text).path))
    elif len(scheme) > 1:  # "C:" is a drive, not a scheme
        raise SpoofguardError(f"--from {text}: only local folders and http(s):// or file:// URLs are supported.")
    else:
        folder = Path(text).expanduser()
    if not folder.is_dir():
        raise SpoofguardError(f"--from {text}: no such folder; pass a folder (or the URL of one) holding "
                              f"{', '.join(f.name for f in e.files)}.")
    missing = [f for f in e.files if not (folder / f.name).is_file()]
    if missing:
        raise SpoofguardError(f"--from {text}: missing {', '.join(f.name for f in missing)}; the folder must hold the published "
                              "files under their names (get them from: " + ", ".join(f.url for f in missing) + ").")
    return folder, str(folder.resolve()) if scheme != "file" else text


def _location(f: ZooFile, source, local: Path | None) -> Path | str:
    """A local Path to copy from, or an http(s) URL to download."""
    if local is not None:
        return local / f.name
    if source is not None:
        return os.fspath(source).rstrip("/") + "/" + urllib.parse.quote(f.name)
    parts = urllib.parse.urlsplit(f.url)
    if parts.scheme.lower() == "file":
        return Path(urllib.request.url2pathname(parts.path))
    return f.url


def _fetch(f: ZooFile, where: Path | str, dest: Path, timeout: float, from_source: bool) -> None:
    """Stream ``f`` from ``where`` to ``dest`` (a .part file first), checking size and sha256."""
    hint = "pass --from DIR_OR_URL with the files"
    part = dest.with_name(dest.name + ".part")
    announced = None
    if isinstance(where, Path):
        try:
            reader = open(where, "rb")
        except OSError as err:
            raise SpoofguardError(f"cannot read {where} ({err}); the --from folder must hold {f.name}.") from None
    else:
        request = urllib.request.Request(where, headers={"User-Agent": f"spoofguard/{_version()}"})
        try:
            reader = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) only, checked above)
        except urllib.error.HTTPError as err:
            err.close()
            what = f"check that {os.path.dirname(where)} holds {f.name}" if from_source else hint
            raise SpoofguardError(f"could not download {f.name} from {where}: HTTP {err.code} {err.reason}; {what}.") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
            why = getattr(err, "reason", None) or err
            raise SpoofguardError(f"could not download {f.name} from {where} ({why}) (no network?); {hint}.") from None
        length = reader.headers.get("Content-Length")
        announced = int(length) if length and length.isdigit() else None
        if announced is not None and announced > SIZE_SLACK * f.size:
            reader.close()
            raise SpoofguardError(f"{where} announces {announced} bytes for {f.name}, whose published size is {f.size}; "
                                  "refusing it (not the published file?).")
    limit = SIZE_SLACK * f.size
    digest, n = hashlib.sha256(), 0
    with reader, _writing(), open(part, "xb") as out:
        while True:
            try:
                chunk = reader.read(CHUNK)
            except (OSError, http.client.HTTPException) as err:
                raise SpoofguardError(f"the download of {f.name} from {where} broke off after {n} bytes ({err}); "
                                      f"try again, or {hint}.") from None
            if not chunk:
                break
            n += len(chunk)
            if n > limit:
                raise SpoofguardError(f"{where} sent more than {limit} bytes for {f.name}, whose published size is {f.size}; "
                                      "refusing it (not the published file?).")
            digest.update(chunk)
            out.write(chunk)
    if announced is not None and n < announced:
        raise SpoofguardError(f"the download of {f.name} from {where} broke off after {n} of {announced} bytes; "
                              f"try again, or {hint}.")
    got = digest.hexdigest()
    if got != f.sha256:
        raise SpoofguardError(f"{f.name} from {where}: sha256 mismatch: expected {f.sha256}, got {got} ({n} bytes, published "
                              f"size {f.size}); this is not the published file, nothing was installed. "
                              + ("Check the files in --from." if from_source else f"Try again, or {hint}."))
    with _writing():
        os.replace(part, dest)


class _CacheWriteError(Exception):
    """Writing into the cache failed (disk full, permissions); the OSError is the cause."""


@contextlib.contextmanager
def _writing():
    try:
        yield
    except OSError as err:
        raise _CacheWriteError() from err


def _converter(e: ZooEntry) -> Callable:
    module, _, func = e.convert.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise SpoofguardError(f"model {e.name!r}: its converter {e.convert} cannot be imported ({err}); "
                              "this spoofguard installation is incomplete or too old.") from None
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise SpoofguardError(f"model {e.name!r}: its converter {e.convert} does not exist in {module}; "
                              "this spoofguard installation is incomplete or too old.")
    return fn


def _check_bundle(e: ZooEntry, out: Path) -> None:
    """The converter's output must be a bundle that loads its metadata (weights are checked on load)."""
    if not out.is_file():
        raise SpoofguardError(f"model {e.name!r}: the converter {e.convert} wrote no bundle at {out}; this is a bug, please report it.")
    from spoofguard.inference.bundle import read_metadata

    read_metadata(out)


def _make_staging(models: Path, name: str) -> Path:
    """A fresh hidden folder beside the final one (same file system, so the last move is a rename)."""
    while True:
        staging = models / f".partial-{name}-{secrets.token_hex(4)}"
        try:
            staging.mkdir()  # umask applies, so a shared cache stays as readable as the user wants it
            return staging
        except FileExistsError:
            continue


def _install(staging: Path, final: Path) -> None:
    """Move the complete staging folder to ``final``; an earlier pull is set aside first, removed after."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".old-{final.name}-{secrets.token_hex(4)}")
        os.rename(final, old)
    try:
        os.rename(staging, final)
    except OSError:
        if old is not None and not final.exists():
            os.rename(old, final)  # put the earlier pull back
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()


def _sweep(models: Path) -> None:
    """Remove what a killed pull left behind (hidden staging / set-aside folders older than a day)."""
    now = time.time()
    for p in models.glob(".*-*"):
        if p.name.startswith((".partial-", ".old-")):
            try:
                if now - p.stat().st_mtime > STALE_S:
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _version() -> str:
    from spoofguard import __version__

    return __version__


# ------------------------------------------------------------------------------------------- the zoo

_SILENT_FACE = "https://raw.githubusercontent.com/minivision-ai/Silent-Face-Anti-Spoofing/master/resources/anti_spoof_models/"

register(ZooEntry(
    name="silent-face",
    description="Minivision Silent-Face-Anti-Spoofing: MiniFASNetV2 (scale 2.7) + MiniFASNetV1SE (scale 4.0) on 80x80 "
                "face crops, softmaxes averaged; colour face images",
    licence="Apache-2.0",
    source="https://github.com/minivision-ai/Silent-Face-Anti-Spoofing",
    files=[
        ZooFile("2.7_80x80_MiniFASNetV2.pth", _SILENT_FACE + "2.7_80x80_MiniFASNetV2.pth",
                "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0", 1849453),
        ZooFile("4_0_0_80x80_MiniFASNetV1SE.pth", _SILENT_FACE + "4_0_0_80x80_MiniFASNetV1SE.pth",
                "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990", 1856130),
    ],
    convert="spoofguard.inference.ensemble:silent_face_bundle",
))
