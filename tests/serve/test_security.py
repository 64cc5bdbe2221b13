"""The server under attack (issue 17): one authentication gate in front of every route, Gradio's
included; one input gate (pixels from the header, sizes, types) for the UI as for the API; bounded
bytes in flight, uploads, body and header read times, temporary space and prediction queue; Gradio's
CORS closed; shutdown in bounded time; leftovers of a killed server swept at the next start.

Small and offline: bombs are forged headers (tests/serve/forged.py), slow clients are sockets that
stall, the real-server tests run uvicorn on 127.0.0.1 (a thread, or a subprocess for signals)."""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported, or it calls home

import base64  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

pytest.importorskip("fastapi")
gr = pytest.importorskip("gradio")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from spoofguard.serve import ui  # noqa: E402
from spoofguard.serve.app import ServeSettings, _find, create_app  # noqa: E402
from spoofguard.serve.gate import Auth, Gate, safe_next  # noqa: E402
from spoofguard.serve.uploads import Limits, PrivateFolder, decode_image, folder_bytes, sweep_leftovers  # noqa: E402
from tests.conftest import face_frame, ridge_image, write_video  # noqa: E402
from tests.serve.forged import BOMBS, grey16_png, png_header, read_until_closed, stalled_upload, status_of  # noqa: E402

KEY = "correct horse battery staple"
WITH_KEY = {"X-API-Key": KEY}
MB = 1_000_000


def _jpeg(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


FACE = _jpeg(face_frame())


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def keyed(face_bundle):
    """The face model served with a key, the UI mounted, small limits."""
    limits = Limits(max_upload_bytes=2 * MB, max_pixels=5_000_000, max_batch_files=2, max_temp_bytes=5 * MB)
    app = create_app(ServeSettings(str(face_bundle), api_key=KEY, limits=limits, threads=1))
    with TestClient(app) as c:
        yield c


@pytest.fixture()
def client(keyed):
    keyed.cookies.clear()
    yield keyed
    keyed.cookies.clear()


def _routes(app):
    """``(method, concrete path)`` of every route of ``app``, the mounted Gradio app's included."""
    def walk(routes, prefix):
        for r in routes:
            if hasattr(r, "original_router"):  # FastAPI's included routers
                yield from walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif isinstance(r, Mount):
                yield from walk(r.routes, prefix + r.path)
            elif hasattr(r, "path"):
                for m in sorted((getattr(r, "methods", None) or {"GET"}) - {"HEAD"}):
                    yield m, re.sub(r"\{[^}]+\}", "x", prefix + r.path)

    return sorted(set(walk(app.routes, "")))


def _ui_call(c, data: bytes, name: str, api: str = "analyse_image", headers=None) -> list:
    """Upload ``data`` through the UI's upload route and run the UI event ``api`` on it, as the page
    does; the event's outputs ``[label, picture, text, plot, state]``."""
    up = c.post("/ui/gradio_api/upload", files=[("files", (name, data, "application/octet-stream"))], headers=headers)
    assert up.status_code == 200, up.text
    payload = {"data": [{"path": up.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}, 0.5]}
    ev = c.post(f"/ui/gradio_api/call/{api}", json=payload, headers=headers)
    assert ev.status_code == 200, ev.text
    stream = c.get(f"/ui/gradio_api/call/{api}/{ev.json()['event_id']}", headers=headers).text
    lines = stream.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("event: ") and line[7:] in ("complete", "error"):
            assert line == "event: complete", stream[:500]
            return json.loads(lines[i + 1].removeprefix("data: "))
    raise AssertionError(stream[:500])


# --------------------------------------------------------------------------- authentication


def test_every_route_needs_the_key(client):
    open_paths = {"/healthz", "/readyz", "/login", "/logout"}
    routes = _routes(client.app)
    paths = {p for _, p in routes}
    # the routes of finding 1 are among those checked
    assert {"/", "/api/v1/predict", "/api/v1/predict/batch", "/ui/", "/ui/gradio_api/upload", "/ui/gradio_api/info",
            "/ui/gradio_api/call/x", "/ui/gradio_api/queue/join", "/ui/gradio_api/run/x", "/ui/config"} <= paths
    assert len(routes) > 40
    for method, path in routes:
        r = client.request(method, path)
        if path in open_paths:  # answered by the route itself (POST /login without a key: its own 401 page)
            assert not r.headers.get("content-type", "").startswith("application/json") or r.status_code != 401, (method, path)
            continue
        assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "unauthorized"
        wrong = client.request(method, path, headers={"X-API-Key": KEY + "x"})
        assert wrong.status_code == 401, (method, path)
    # with the key no route is refused (what each then answers is its own business; event streams
    # that never end, and Gradio's re-run of its start-up, are left out)
    skip = ("/heartbeat/", "/queue/data", "/upload_progress", "/stream/", "/call/x/x", "/call/v2/x/x", "/dev/reload",
            "/startup-events")
    for method, path in routes:
        if path not in open_paths and not any(part in path for part in skip):
            assert client.request(method, path, headers=WITH_KEY).status_code != 401, (method, path)
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"} and client.get("/readyz").status_code == 200


def test_uploads_without_the_key_are_refused_before_anything_is_stored(client):
    folder = client.app.state.service.folder
    before = folder_bytes(folder.path)
    for i in range(50):
        r = client.post("/ui/gradio_api/upload", files=[("files", (f"{i}.bin", b"\0" * 200_000, "image/png"))])
        assert r.status_code == 401
    r = client.post("/", files={"file": ("f.jpg", FACE, "image/jpeg")})
    assert r.status_code == 401 and "verdict" not in r.text
    assert client.post("/ui/gradio_api/call/analyse_image", json={"data": [None, 0.5]}).status_code == 401
    assert folder_bytes(folder.path) == before


def test_the_key_works_as_header_bearer_basic(client):
    r = client.post("/api/v1/predict", files={"file": ("f.jpg", FACE, "image/jpeg")}, headers=WITH_KEY)
    assert r.status_code == 200 and r.json()["verdict"] in ("bona_fide", "attack")
    basic = base64.b64encode(f"anyone:{KEY}".encode()).decode()
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"Authorization": f"Basic {basic}"}):
        assert client.get("/api/v1/model", headers=headers).status_code == 200
    assert client.get("/api/v1/model", headers={"Authorization": "Basic !!!"}).status_code == 401
    out = _ui_call(client, FACE, "face.jpg", headers=WITH_KEY)
    assert out[0]["label"] in ("bona fide", "attack") and "Verdict" in out[2]


def test_a_browser_logs_in_on_the_page_and_the_ui(client):
    # a page asked for by a browser leads to the login form, and back
    r = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"
    r = client.get("/ui/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fui%2F"
    form = client.get("/login?next=/ui/")
    assert form.status_code == 200 and 'type="password"' in form.text and 'value="/ui/"' in form.text
    wrong = client.post("/login", data={"key": "guess", "next": "/ui/"}, follow_redirects=False)
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text and "spoofguard_session" not in wrong.headers.get("set-cookie", "")
    ok = client.post("/login", data={"key": KEY, "next": "/ui/"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and KEY not in cookie
    # the cookie opens the page (with a verdict) and the UI (with a verdict)
    page = client.post("/", files={"file": ("frame.jpg", FACE, "image/jpeg")})
    assert page.status_code == 200 and 'id="verdict"' in page.text and 'action="/logout"' in page.text
    assert client.get("/ui/").status_code == 200
    out = _ui_call(client, FACE, "face.jpg")
    assert out[0]["label"] in ("bona fide", "attack")
    # logging out forgets it
    client.post("/logout", follow_redirects=False)
    assert client.get("/api/v1/model").status_code == 401
    # a forged or tampered cookie opens nothing
    token = cookie.split(";")[0].split("=", 1)[1]
    ts, nonce, sig = token.split(".")
    for bad in (f"{ts}.{nonce}.{'0' * 64}", f"{int(ts) + 1}.{nonce}.{sig}", "x", ""):
        client.cookies.set("spoofguard_session", bad)
        assert client.get("/api/v1/model").status_code == 401, bad


def test_login_never_redirects_off_the_server():
    for target in ("//evil.example/", "http://evil.example/", "/\\evil.example", "evil", "/ok\r\nSet-Cookie: x=1", None):
        assert safe_next(target) == "/"
    assert safe_next("/ui/?x=1") == "/ui/?x=1"


def test_auth_compares_keys_and_sessions_in_constant_time_and_throttles():
    auth = Auth("k")
    assert auth.check_key("k") and not auth.check_key("K") and not auth.check_key("") and not auth.check_key(None)
    token = auth.session_token(now=1000.0)
    assert auth.check_session(token, now=1000.0 + 3600) and not auth.check_session(token, now=1000.0 + 13 * 3600)
    assert not Auth("other").check_session(token, now=1000.0)  # a new key revokes every cookie
    for _ in range(10):
        auth.login_failed("1.2.3.4")
    assert not auth.login_allowed("1.2.3.4") and auth.login_allowed("5.6.7.8")
    import inspect

    import spoofguard.serve.gate as gate

    assert "compare_digest" in inspect.getsource(gate.Auth.check_key) and "==" not in inspect.getsource(gate.Auth.check_key)


def test_public_ui_opens_the_page_and_ui_but_not_the_api(face_bundle):
    auth = Auth(KEY, public_ui=True)
    assert auth.is_open("/") and auth.is_open("/ui/gradio_api/upload") and auth.is_open("/ui/")
    assert not auth.is_open("/api/v1/predict") and not auth.is_open("/api/v1/model")
    with TestClient(create_app(ServeSettings(str(face_bundle), api_key=KEY, public_ui=True, ui=False))) as c:
        assert c.get("/").status_code == 200
        assert c.post("/", files={"file": ("f.jpg", FACE, "image/jpeg")}).status_code == 200
        assert c.get("/api/v1/model").status_code == 401


def test_the_start_banner_says_who_can_reach_what():
    from spoofguard.serve.run import warnings_for

    assert warnings_for("127.0.0.1", 8000, None, False, True) == []
    assert "ANYONE" in warnings_for("0.0.0.0", 8000, None, False, True)[0]
    loud = warnings_for("127.0.0.1", 8000, "SG_KEY", True, True)
    assert len(loud) == 1 and "--public-ui" in loud[0] and "OPEN TO ANYONE" in loud[0] and "/api/*" in loud[0]


def test_gradio_does_not_reflect_localhost_origins(client):
    for origin in ("http://localhost:9999", "http://127.0.0.1:1", "null", "http://evil.example"):
        r = client.get("/ui/config", headers={**WITH_KEY, "Origin": origin})
        assert r.status_code == 200 and not any(k.startswith("access-control-allow") for k in r.headers), (origin, r.headers)
        pre = client.options("/ui/gradio_api/upload", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers and "access-control-allow-credentials" not in pre.headers


# --------------------------------------------------------------------------- one input gate


@pytest.mark.parametrize("name", [*BOMBS, "png-7000x7000"])
def test_a_forged_header_is_refused_alike_by_the_api_the_page_and_the_ui(client, name):
    data = BOMBS.get(name) or png_header(7000, 7000)  # 49 MP: Pillow alone would decode it
    assert len(data) < 700
    before = _peak_rss_mb()
    t0 = time.perf_counter()
    api = client.post("/api/v1/predict", files={"file": (name, data, "image/png")}, headers=WITH_KEY)
    assert api.status_code == 413 and api.json()["error"]["code"] == "too_many_pixels", api.text
    page = client.post("/", files={"file": (name, data, "image/png")}, headers=WITH_KEY)
    assert page.status_code == 413 and "too_many_pixels" in page.text
    label, picture, text, plot, state = _ui_call(client, data, name + ".img", headers=WITH_KEY)
    assert "too\\_many\\_pixels" in text and "Could not analyse" in text and state is None and picture is None
    assert time.perf_counter() - t0 < 10
    assert _peak_rss_mb() - before < 300  # decoding any of them would take gigabytes
    assert client.get("/healthz").status_code == 200


def test_the_ui_refuses_what_the_api_refuses(client):
    for data, code in ((b"", "empty_file"), (b"hello, not a picture", "unsupported_type"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "unreadable_image")):
        text = _ui_call(client, data, "x.png", headers=WITH_KEY)[2] if data else ui.analyse_image(None, b"")[2]
        assert code.replace("_", "\\_") in text, (code, text)
    assert "unsupported\\_type" in _ui_call(client, FACE, "face.mp4", api="analyse_video", headers=WITH_KEY)[2]


def test_ui_video_limits(detector_face, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", [face_frame(size=(48, 64))] * 10, fps=10)  # 1 s, 64x48
    text = ui.analyse_video(detector_face, str(clip), limits=Limits(max_pixels=1000))[2]
    assert "too\\_many\\_pixels" in text
    text = ui.analyse_video(detector_face, str(clip), limits=Limits(max_video_seconds=0.5))[2]
    assert "video\\_too\\_long" in text
    text = ui.analyse_video(detector_face, str(clip), limits=Limits(max_upload_bytes=100))[2]
    assert "upload\\_too\\_large" in text


@pytest.fixture(scope="module")
def detector_face(face_bundle):
    from spoofguard.inference.detector import Detector

    return Detector.from_file(face_bundle)


def test_ui_inputs_never_fetch_urls(client, monkeypatch):
    attempts = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or (_ for _ in ()).throw(OSError("offline")))
    payload = {"data": [{"path": "http://example.invalid/x.png", "meta": {"_type": "gradio.FileData"}}, 0.5]}
    ev = client.post("/ui/gradio_api/call/analyse_image", json=payload, headers=WITH_KEY)
    stream = client.get(f"/ui/gradio_api/call/analyse_image/{ev.json()['event_id']}", headers=WITH_KEY).text
    assert "event: error" in stream and attempts == []


def test_a_16_bit_grey_png_gets_the_same_verdict_in_the_ui_and_the_api(trained_run, tmp_path):
    from gradio.data_classes import FileData

    grey = ridge_image(np.random.default_rng(3), attack=False).astype(np.uint16) * 257  # the full 16-bit range
    data = grey16_png(grey)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    (tmp_path / "f16.png").write_bytes(data)
    with TestClient(create_app(ServeSettings(str(trained_run.bundle), ui=False))) as c:
        api = c.post("/api/v1/predict", files={"file": ("f16.png", data, "image/png")}).json()
        detector = c.app.state.service.detector
    blocks = ui.build_ui(detector)
    fn = next(f for f in blocks.fns.values() if f.api_name == "analyse_image")
    image_in = next(b for b in fn.inputs if isinstance(b, gr.Image))
    given = image_in.preprocess(FileData(path=str(tmp_path / "f16.png"), orig_name="f16.png"))
    assert given == str(tmp_path / "f16.png")  # a path, not a decoded picture
    *_, state = fn.fn(given, None)
    assert state is not None and state.score == pytest.approx(api["score"], abs=1e-5)
    assert ui.verdict_at(state.score, detector.threshold) == api["verdict"]
    # what gradio's own conversion would have handed over differs (16-bit values clipped to white)
    gradio_rgb = np.asarray(Image.open(tmp_path / "f16.png").convert("RGB"))
    assert not np.array_equal(gradio_rgb, decode_image(data, Limits()))


def test_ui_uploads_are_bounded_in_bytes(client):
    folder = client.app.state.service.folder
    statuses = []
    for i in range(6):
        r = client.post("/ui/gradio_api/upload", files=[("files", (f"{i}.png", os.urandom(1_500_000), "image/png"))], headers=WITH_KEY)
        statuses.append(r.status_code)
        if r.status_code != 200:
            assert r.status_code == 507 and r.json()["error"]["code"] == "storage_full"
    assert statuses[:3] == [200] * 3 and 507 in statuses
    assert folder_bytes(folder.path) <= 5 * MB
    import shutil

    shutil.rmtree(os.path.join(folder.path, "ui"), ignore_errors=True)  # later tests upload again


def test_the_prediction_queue_is_bounded(client):
    service = client.app.state.service
    service.pending += service.limits.max_queue
    try:
        r = client.post("/api/v1/predict", files={"file": ("f.jpg", FACE, "image/jpeg")}, headers=WITH_KEY)
    finally:
        service.pending -= service.limits.max_queue
    assert r.status_code == 503 and r.json()["error"]["code"] == "overloaded" and r.headers["retry-after"] == "1"
    assert client.post("/api/v1/predict", files={"file": ("f.jpg", FACE, "image/jpeg")}, headers=WITH_KEY).status_code == 200
    assert service.pending == 0
    gradio_app = next(r.app for r in client.app.routes if getattr(r, "path", "") == "/ui")
    assert gradio_app.get_blocks()._queue.max_size == service.limits.max_queue


# --------------------------------------------------------------------------- the private folder


def test_leftovers_of_a_killed_server_are_swept_and_live_ones_kept(tmp_path):
    dead = tmp_path / "spoofguard-serve-dead"
    (dead / "ui").mkdir(parents=True)
    (dead / "ui" / "capture.png").write_bytes(b"x" * 1000)
    os.utime(dead, (time.time() - 60, time.time() - 60))
    other = tmp_path / "someone-else"
    other.mkdir()
    (tmp_path / "spoofguard-serve-link").symlink_to(other)
    live = PrivateFolder(parent=str(tmp_path))
    os.utime(live.path, (time.time() - 60, time.time() - 60))
    assert live.swept == [str(dead)] and not dead.exists()
    assert other.exists() and (tmp_path / "spoofguard-serve-link").is_symlink()
    assert sweep_leftovers(str(tmp_path)) == [] and os.path.isdir(live.path)  # held by its (live) owner
    assert oct(os.stat(live.path).st_mode & 0o777) == "0o700"
    live.cleanup()
    assert not os.path.exists(live.path)


def test_the_private_folder_refuses_past_its_bound(tmp_path):
    folder = PrivateFolder(max_bytes=1000, parent=str(tmp_path))
    assert folder.reserve(600) and not folder.reserve(600)
    folder.release(600)
    assert folder.reserve(600)
    folder.release(600)
    with folder.file(b"x" * 900) as path:
        assert os.path.getsize(path) == 900
        with pytest.raises(Exception) as e:
            with folder.file(b"y" * 200):
                pass
        assert getattr(e.value, "code", None) == "storage_full"
    folder.cleanup()


# --------------------------------------------------------------------------- a real server, slow clients


@pytest.fixture(scope="module")
def live(face_bundle):
    """uvicorn on 127.0.0.1 in a thread, with 1 s deadlines for headers and bodies, 4 uploads at once,
    3 MB in flight, one prediction thread."""
    import uvicorn

    from spoofguard.serve.protocol import HeaderTimeoutH11Protocol

    class Protocol(HeaderTimeoutH11Protocol):
        header_timeout_s = 1.0

    limits = Limits(max_upload_bytes=1 * MB, max_uploads=4, max_inflight_bytes=3 * MB, body_timeout_s=1.0, header_timeout_s=1.0)
    app = create_app(ServeSettings(str(face_bundle), limits=limits, ui=False, threads=1))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", http=Protocol, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield "127.0.0.1", port, app, _find(app.middleware_stack, Gate)
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _get(host, port, path="/healthz") -> int:
    import httpx

    return httpx.get(f"http://{host}:{port}{path}", timeout=5).status_code


def test_stalled_uploads_are_closed_within_the_body_timeout(live):
    host, port, app, gate = live
    t0 = time.monotonic()
    socks = [stalled_upload(host, port, declared=500_000, sent=50_000) for _ in range(32)]
    time.sleep(0.2)
    assert _get(host, port) == 200  # the server answers while they stall
    results = [read_until_closed(s, 8.0) for s in socks]
    elapsed = time.monotonic() - t0
    statuses = Counter(status_of(r) for r, _ in results)
    assert statuses == {408: 4, 503: 28}, statuses  # 4 uploads at once; the rest refused at once
    assert elapsed < 1.0 + 3.0, elapsed  # closed by the server, not by the 8 s limit here
    bodies = [json.loads(r.split(b"\r\n\r\n", 1)[1]) for r, _ in results]
    assert {b["error"]["code"] for b in bodies} == {"body_timeout", "too_many_uploads"}
    for s in socks:
        s.close()
    assert gate.uploads == 0 and gate.inflight == 0  # nothing leaks
    assert _get(host, port) == 200


def test_bytes_in_flight_are_capped(live):
    host, port, app, gate = live
    held = [stalled_upload(host, port, declared=1_050_000, sent=10_000) for _ in range(2)]  # 2.1 of 3 MB
    time.sleep(0.2)
    third = stalled_upload(host, port, declared=1_050_000, sent=10_000)
    response, t = read_until_closed(third, 5.0)
    assert status_of(response) == 503 and b"server_busy" in response and t < 0.8 and b"retry-after" in response.lower()
    too_big = stalled_upload(host, port, declared=5 * MB, sent=0)
    response, t = read_until_closed(too_big, 5.0)
    assert status_of(response) == 413 and b"upload_too_large" in response and t < 0.8
    for s in held + [third, too_big]:
        read_until_closed(s, 3.0)
        s.close()
    assert gate.inflight == 0


def test_a_chunked_body_past_the_limit_is_refused(live):
    host, port, app, gate = live
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(f"POST /api/v1/predict HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"z" * 100_000
    try:
        for _ in range(12):  # 1.2 MB > 1 MB + framing
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    except OSError:
        pass  # the server may close as soon as it has answered
    response, _ = read_until_closed(s, 5.0)
    s.close()
    assert status_of(response) == 413 and b"upload_too_large" in response
    assert gate.inflight == 0


def test_stalled_headers_are_closed_within_the_header_timeout(live):
    host, port, app, gate = live
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    response, t = read_until_closed(s, 6.0)
    s.close()
    assert response == b"" and t < 1.0 + 1.5
    assert _get(host, port) == 200  # ordinary requests are not cut


def test_an_aborted_request_does_not_run_the_model(live, monkeypatch):
    host, port, app, gate = live
    service = app.state.service
    calls = []
    analyse = service.analyse
    monkeypatch.setattr(service, "analyse", lambda *a: calls.append(a[0]) or analyse(*a))
    boundary = "sgboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + FACE + f"\r\n--{boundary}--\r\n".encode()
    request = (f"POST /api/v1/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    release = threading.Event()
    blocker = service.pool.submit(release.wait, 20)  # the only prediction thread is busy
    try:
        gone = socket.create_connection((host, port), timeout=10)
        gone.sendall(request)
        time.sleep(0.4)
        gone.close()  # the client gives up while its prediction waits
        time.sleep(0.8)
        kept = socket.create_connection((host, port), timeout=10)
        kept.sendall(request)
        time.sleep(0.3)
    finally:
        release.set()
    blocker.result(timeout=5)
    response, _ = read_until_closed(kept, 10.0)
    kept.close()
    assert status_of(response) == 200 and calls == ["f.jpg"]  # only the client still waiting was served
    deadline = time.monotonic() + 5
    while service.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.pending == 0


# --------------------------------------------------------------------------- shutdown (real processes, signals)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(bundle, tmp: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmp), GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "spoofguard.cli", "serve", str(bundle), "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
        try:
            if _get("127.0.0.1", port, "/readyz") == 200:
                return proc
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not start")


def _folders(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("spoofguard-serve-*"))


def test_sigterm_with_an_open_ui_stream_exits_fast_and_leftovers_are_swept(face_bundle, tmp_path):
    port = _free_port()
    first = _start(face_bundle, tmp_path, port)
    try:
        [leftover] = _folders(tmp_path)
    finally:
        first.kill()  # SIGKILL: no clean-up runs
        first.wait(timeout=10)
    assert leftover.exists()
    second = _start(face_bundle, tmp_path, port)
    try:
        assert not leftover.exists()  # swept at start
        [current] = _folders(tmp_path)
        stream = socket.create_connection(("127.0.0.1", port), timeout=10)
        stream.sendall(b"GET /ui/gradio_api/heartbeat/sgtest HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while b"ALIVE" not in got and len(got) < 10_000:
            got += stream.recv(4096)
        assert b"ALIVE" in got  # the UI's event stream is open
        t0 = time.monotonic()
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)
        elapsed = time.monotonic() - t0
        stream.close()
    finally:
        if second.poll() is None:
            second.kill()
    log = second.stdout.read().decode(errors="replace")
    # uvicorn re-raises the signal once it has shut down, so the exit status is "ended by SIGTERM"
    assert elapsed < 10 and second.returncode in (0, -signal.SIGTERM), log
    assert not current.exists() and _folders(tmp_path) == []
    assert "Traceback" not in log, log
