"""The served pages in a real browser (Debian's chromium driven by playwright): the upload page gives a
verdict, the keyboard reaches the form, and the Gradio UI at /ui/ renders without page errors.

Skipped when chromium or playwright is missing; deselect with ``-m "not browser"``. The server is a
real uvicorn on 127.0.0.1 (a free port) in a background thread; nothing leaves the machine.
"""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported, or it calls home

import contextlib  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from tests.conftest import face_frame  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
CHROMIUM_FLAGS = [  # as in benchmarks/report_in_browser.py: offline, headless, no sandbox
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
VERDICTS = {"Bona fide", "Attack", "No face found"}


@pytest.fixture(scope="module")
def sync_playwright():
    if not CHROMIUM:
        pytest.skip("no chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    return sync_playwright


@contextlib.contextmanager
def _serving(app, name: str, **config):
    """A real uvicorn serving ``app`` on 127.0.0.1:<free port> in a thread; yields its base URL and
    checks that it shuts down."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **config))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True, name=name)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            srv.should_exit = True
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not shut down"


@pytest.fixture(scope="module")
def server(sync_playwright, face_bundle):
    """A real uvicorn serving create_app() on 127.0.0.1:<free port>; its base URL."""
    from spoofguard.serve.app import ServeSettings, create_app

    with _serving(create_app(ServeSettings(str(face_bundle), threads=1)), "uvicorn") as url:
        yield url


@pytest.fixture(scope="module")
def browser(sync_playwright):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser):
    """A fresh page that records uncaught JavaScript errors in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(scope="module")
def face_jpeg(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "face.jpg"
    Image.fromarray(face_frame()).save(path, quality=90)
    return path


def test_upload_page_gives_a_verdict(server, page, face_jpeg):
    page.goto(server + "/")
    assert page.title().startswith("spoofguard")
    page.set_input_files("#file", str(face_jpeg))
    with page.expect_navigation():
        page.click("form.upload button[type=submit]")
    verdict = page.locator("#verdict")
    verdict.wait_for(state="visible")
    text = verdict.inner_text().strip()
    assert text in VERDICTS
    assert text in {"Bona fide", "Attack"}, "a frame with a face must be scored"
    assert page.locator("section.result h2").inner_text().strip() == "face.jpg"
    assert page.locator("section.result figure img").evaluate("i => i.complete && i.naturalWidth > 0")  # the overlay decoded
    assert page.errors == []


def test_keyboard_reaches_the_form(server, page):
    page.goto(server + "/")
    reached = []
    for _ in range(10):  # a light check: the file input comes before the submit button in the Tab order
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => { const e = document.activeElement; return e.id || e.tagName + ':' + (e.type || '') }"))
        if reached[-1] == "BUTTON:submit":
            break
    assert "file" in reached and "BUTTON:submit" in reached, reached
    assert reached.index("file") < reached.index("BUTTON:submit")


def test_gradio_ui_renders(server, page):
    page.goto(server + "/ui/")
    page.get_by_text("spoofguard: is it live or an attack?").wait_for(state="visible")
    page.get_by_role("button", name="Analyse image").wait_for(state="visible")
    page.locator("input[type=file]").first.wait_for(state="attached")  # the Image tab's upload
    assert page.errors == []


KEY = "browser-test-key"


@pytest.fixture(scope="module")
def keyed_server(sync_playwright, face_bundle):
    """The same, with a key: every page needs a login first."""
    from spoofguard.serve.app import ServeSettings, create_app

    with _serving(create_app(ServeSettings(str(face_bundle), threads=1, api_key=KEY)), "uvicorn-keyed",
                  timeout_graceful_shutdown=2) as url:
        yield url


def _log_in(page, key=KEY):
    assert page.url.split("?")[0].endswith("/login")
    page.fill("#key", key)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")


def test_log_in_on_the_page_and_get_a_verdict(keyed_server, page, face_jpeg):
    page.goto(keyed_server + "/")
    _log_in(page, "wrong key")
    assert page.locator("section.error").is_visible() and page.url.split("?")[0].endswith("/login")
    _log_in(page)
    assert page.url == keyed_server + "/"
    page.set_input_files("#file", str(face_jpeg))
    with page.expect_navigation():
        page.click("form.upload button[type=submit]")
    assert page.locator("#verdict").inner_text().strip() in {"Bona fide", "Attack"}
    assert not any(c["name"] == "spoofguard_session" and not c["httpOnly"] for c in page.context.cookies())
    assert page.evaluate("() => document.cookie") == ""  # HttpOnly: scripts never see the session
    assert page.errors == []


def test_log_in_on_the_ui_and_get_a_verdict(keyed_server, page, face_jpeg):
    page.goto(keyed_server + "/ui/")
    _log_in(page)
    assert page.url == keyed_server + "/ui/"
    page.get_by_text("spoofguard: is it live or an attack?").wait_for(state="visible")
    page.locator("input[type=file]").first.set_input_files(str(face_jpeg))  # the Image tab: analysed on upload
    page.get_by_text("Verdict:").first.wait_for(state="visible", timeout=60_000)
    assert page.get_by_text("face(s) found").first.is_visible()
    assert page.errors == []
