"""Model zoo: registry, pull (loopback HTTP / folder / file URL), all-or-nothing cache, resolve, listing.

Everything is self-made: a loopback server on 127.0.0.1 serves small generated files, a temporary entry
converts them with a tiny untrained padnet, and SPOOFGUARD_HOME points at tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from spoofguard import zoo
from spoofguard.errors import SpoofguardError
from spoofguard.zoo import ZooEntry, ZooFile

torch.set_num_threads(1)

NAME = "tiny-test"
CLASSES = ["bona_fide", "attack"]
BODIES = {"a.bin": bytes(range(256)) * 40, "b.bin": b"spoofguard zoo test file\n" * 300}
CONVERTED: list[dict] = []  # one record per call of tiny_convert


def tiny_convert(files: dict, out: Path, entry: ZooEntry) -> Path:
    """A converter for the test entry: checks it got the verified files, writes an untrained padnet bundle."""
    from spoofguard.inference.bundle import save_bundle
    from spoofguard.models import create_model

    assert set(files) == set(BODIES) and all(files[n].read_bytes() == BODIES[n] for n in files)
    CONVERTED.append({"files": dict(files), "out": out, "entry": entry.name})
    torch.manual_seed(0)
    model = create_model("padnet", CLASSES, in_chans=3)
    return save_bundle(out, model, {"classes": CLASSES, "threshold": 0.5,
                                    "preprocessing": {"modality": "face", "input_size": 32, "channels": 3}})


def broken_convert(files: dict, out: Path, entry: ZooEntry) -> Path:
    out.write_bytes(b"half a bundle")
    raise SpoofguardError("converter failed on purpose")


class Handler(BaseHTTPRequestHandler):
    """GET /<name>: the file; /drop/<name>: Content-Length then half the body and a closed connection;
    /huge/<name>: far more than published, without Content-Length; /liar/<name>: announces 10x the size;
    /bad/<name>: one bit flipped; anything else: 404."""

    def do_GET(self):
        self.server.hits.append(self.path)
        parts = self.path.strip("/").split("/")
        body = BODIES.get(parts[-1])
        if body is None or len(parts) > 2 or (len(parts) == 2 and parts[0] not in ("ok", "drop", "huge", "liar", "bad")):
            self.send_error(404)
            return
        mode = parts[0] if len(parts) == 2 else "ok"
        if mode == "bad":
            body = body[:-1] + bytes([body[-1] ^ 1])
        if mode == "huge":
            self.send_response(200)
            self.end_headers()  # HTTP/1.0, no Content-Length: the body ends when the connection closes
            self.wfile.write(body * 3)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) * (10 if mode == "liar" else 1)))
        self.end_headers()
        self.wfile.write(body if mode != "drop" else body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.hits = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A private cache and registry; no proxy between us and the loopback server."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("SPOOFGUARD_HOME", str(home))
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    CONVERTED.clear()
    return home


def register_test_entry(base: str, prefix: str = "", convert: str = f"{__name__}:tiny_convert", **pins) -> ZooEntry:
    files = [ZooFile(n, f"{base}/{prefix}{n}", pins.get(n, hashlib.sha256(b).hexdigest()), len(b)) for n, b in BODIES.items()]
    return zoo.register(ZooEntry(NAME, "a test model", "MIT", "https://example.invalid/tiny", files, convert), replace=True)


def cache_files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file()) if home.exists() else []


def assert_nothing_left(home: Path):
    assert cache_files(home) == []
    assert not (home / "models" / NAME).exists()


@pytest.fixture()
def local_files(tmp_path) -> Path:
    folder = tmp_path / "offline"
    folder.mkdir()
    for n, b in BODIES.items():
        (folder / n).write_bytes(b)
    return folder


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------- tests


def test_silent_face_is_registered_with_its_pins():
    e = zoo.entry("silent-face")
    assert e.licence == "Apache-2.0" and e.source == "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing"
    assert e.convert == "spoofguard.inference.ensemble:silent_face_bundle"
    base = "https://raw.githubusercontent.com/minivision-ai/Silent-Face-Anti-Spoofing/master/resources/anti_spoof_models/"
    assert [(f.name, f.url, f.sha256, f.size) for f in e.files] == [
        ("2.7_80x80_MiniFASNetV2.pth", base + "2.7_80x80_MiniFASNetV2.pth",
         "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0", 1849453),
        ("4_0_0_80x80_MiniFASNetV1SE.pth", base + "4_0_0_80x80_MiniFASNetV1SE.pth",
         "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990", 1856130),
    ]
    assert "silent-face" in [x.name for x in zoo.entries()]


def test_registry_contract():
    with pytest.raises(SpoofguardError, match="known models: .*silent-face"):
        zoo.entry("no-such-model")
    e = zoo.entry("silent-face")
    with pytest.raises(ValueError, match="already registered"):
        zoo.register(e)
    with pytest.raises(ValueError, match="module:function"):
        ZooEntry("x", "", "", "", e.files, "no_colon")
    with pytest.raises(ValueError, match="plain file name"):
        ZooFile("../evil", "http://x/y", "0" * 64, 1)
    with pytest.raises(ValueError, match="sha256"):
        ZooFile("ok.bin", "http://x/y", "abc", 1)


def test_home_defaults_to_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("SPOOFGUARD_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert zoo.home() == tmp_path / ".cache" / "spoofguard"


def test_pull_over_http_writes_bundle_and_provenance(server, cache):
    from spoofguard.inference.bundle import load_bundle

    httpd, base = server
    register_test_entry(base)
    said = []
    path = zoo.pull(NAME, say=said.append)
    folder = cache / "models" / NAME
    assert path == folder / "model.safetensors" and path.is_file()
    assert {p.name: p.read_bytes() for p in (folder / "files").iterdir()} == BODIES
    assert sorted(p.name for p in (cache / "models").iterdir()) == [NAME]  # no staging left over
    info = json.loads((folder / "source.json").read_text())
    assert info["name"] == NAME and info["licence"] == "MIT" and info["source"] == "https://example.invalid/tiny"
    assert info["from"] == "upstream" and info["pulled_at"]
    assert [(f["name"], f["url"], f["sha256"]) for f in info["files"]] == [
        (n, f"{base}/{n}", hashlib.sha256(b).hexdigest()) for n, b in BODIES.items()]
    assert load_bundle(path).classes == CLASSES
    assert any("downloading a.bin" in s for s in said) and any(s.startswith("pulled") for s in said)
    assert zoo.resolve(NAME) == str(path)
    row = {r["name"]: r for r in zoo.listing()}[NAME]
    assert row["pulled"] is True and row["path"] == str(path) and row["licence"] == "MIT"
    assert {r["name"]: r for r in zoo.listing()}["silent-face"]["pulled"] is False


def test_second_pull_is_a_no_op(server, cache):
    httpd, base = server
    register_test_entry(base)
    path = zoo.pull(NAME, say=lambda s: None)
    hits, stamp = len(httpd.hits), path.stat().st_mtime_ns
    said = []
    assert zoo.pull(NAME, say=said.append) == path
    assert len(httpd.hits) == hits and len(CONVERTED) == 1 and path.stat().st_mtime_ns == stamp
    assert any("already pulled" in s for s in said)


def test_sha_mismatch_is_refused_and_nothing_is_left(server, cache):
    httpd, base = server
    register_test_entry(base, prefix="bad/")
    with pytest.raises(SpoofguardError) as err:
        zoo.pull(NAME, say=lambda s: None)
    msg = str(err.value)
    assert "sha256 mismatch" in msg and hashlib.sha256(BODIES["a.bin"]).hexdigest() in msg  # expected ...
    bad = BODIES["a.bin"][:-1] + bytes([BODIES["a.bin"][-1] ^ 1])
    assert hashlib.sha256(bad).hexdigest() in msg  # ... and got
    assert_nothing_left(cache)
    assert CONVERTED == []


@pytest.mark.parametrize("prefix, expect", [("drop/", "broke off after"), ("missing/", "HTTP 404"),
                                            ("huge/", "more than"), ("liar/", "announces")])
def test_broken_downloads_leave_nothing_half_written(server, cache, prefix, expect):
    httpd, base = server
    register_test_entry(base, prefix=prefix)
    with pytest.raises(SpoofguardError, match=expect):
        zoo.pull(NAME, say=lambda s: None)
    assert_nothing_left(cache)


def test_failed_pull_keeps_the_previous_good_one(server, cache, tmp_path):
    httpd, base = server
    register_test_entry(base)
    path = zoo.pull(NAME, say=lambda s: None)
    before = {p: p.read_bytes() for p in cache_files(cache)}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpoofguardError, match="missing"):
        zoo.pull(NAME, source=str(empty), force=True, say=lambda s: None)
    register_test_entry(base, prefix="drop/")
    with pytest.raises(SpoofguardError, match="broke off"):
        zoo.pull(NAME, force=True, say=lambda s: None)
    assert {p: p.read_bytes() for p in cache_files(cache)} == before
    assert sorted(p.name for p in (cache / "models").iterdir()) == [NAME]
    assert zoo.resolve(NAME) == str(path)


def test_failed_converter_leaves_nothing(server, cache):
    httpd, base = server
    register_test_entry(base, convert=f"{__name__}:broken_convert")
    with pytest.raises(SpoofguardError, match="on purpose"):
        zoo.pull(NAME, say=lambda s: None)
    assert_nothing_left(cache)
    register_test_entry(base, convert="spoofguard.no_such_module:convert")
    with pytest.raises(SpoofguardError, match="cannot be imported"):
        zoo.pull(NAME, say=lambda s: None)
    assert_nothing_left(cache)


def test_pull_from_a_local_folder_and_a_file_url(cache, local_files):
    register_test_entry(f"http://127.0.0.1:{closed_port()}")  # upstream unreachable: only --from works
    path = zoo.pull(NAME, source=str(local_files), say=lambda s: None)
    folder = cache / "models" / NAME
    assert path.is_file() and {p.name: p.read_bytes() for p in (folder / "files").iterdir()} == BODIES
    info = json.loads((folder / "source.json").read_text())
    assert info["from"] == str(local_files.resolve())
    assert {f["fetched_from"] for f in info["files"]} == {str(local_files / n) for n in BODIES}
    path2 = zoo.pull(NAME, source=local_files.as_uri(), force=True, say=lambda s: None)
    assert path2 == path and len(CONVERTED) == 2


def test_pull_from_a_url_folder(server, cache):
    httpd, base = server
    register_test_entry(f"http://127.0.0.1:{closed_port()}")
    assert zoo.pull(NAME, source=base + "/ok/", say=lambda s: None).is_file()
    assert sorted(h for h in httpd.hits) == ["/ok/a.bin", "/ok/b.bin"]


def test_missing_file_in_the_from_folder(cache, local_files):
    register_test_entry("http://127.0.0.1:1")
    (local_files / "b.bin").unlink()
    with pytest.raises(SpoofguardError, match=r"missing b\.bin"):
        zoo.pull(NAME, source=str(local_files), say=lambda s: None)
    assert_nothing_left(cache)
    with pytest.raises(SpoofguardError, match="no such folder"):
        zoo.pull(NAME, source=str(local_files / "nope"), say=lambda s: None)
    (local_files / "b.bin").write_bytes(b"not the published file")
    with pytest.raises(SpoofguardError, match="sha256 mismatch"):
        zoo.pull(NAME, source=str(local_files), say=lambda s: None)
    assert_nothing_left(cache)


def test_unreachable_url_says_no_network(cache):
    register_test_entry(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(SpoofguardError, match=r"could not download a\.bin .*no network\?.*--from DIR_OR_URL"):
        zoo.pull(NAME, say=lambda s: None, timeout=5)
    assert_nothing_left(cache)


def test_resolve(server, cache, tmp_path, monkeypatch):
    httpd, base = server
    register_test_entry(base)
    some_file = tmp_path / "mine.safetensors"
    some_file.write_bytes(b"x")
    assert zoo.resolve(str(some_file)) == str(some_file)
    assert zoo.resolve(str(tmp_path)) == str(tmp_path)
    assert zoo.resolve("nowhere/model.safetensors") == "nowhere/model.safetensors"  # caller's own error applies
    with pytest.raises(SpoofguardError, match=f"spoofguard models pull {NAME}.*--from DIR"):
        zoo.resolve(NAME)
    path = zoo.pull(NAME, say=lambda s: None)
    assert zoo.resolve(NAME) == str(path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / NAME).write_bytes(b"a file called like the model")
    assert zoo.resolve(NAME) == NAME  # an existing path wins over a zoo name
