"""Screenshots of the served pages, taken in headless Chromium with a real upload.

    python benchmarks/serve_screenshots.py MODEL --out docs/ [--image PATH]

Serves ``MODEL`` (``create_app``, uvicorn on 127.0.0.1, a free port, in a background thread), then
uploads the image (default: :func:`spoofguard.inference.bench.default_frame`, a 640x480 frame with a
real face) on the upload page ``/`` and saves ``serve-page.png`` (full page, result shown), and in the
Gradio UI ``/ui/`` (the Image tab) and saves ``serve-ui.png`` once the verdict is shown. The PNGs are
optimised (and reduced to a 256-colour palette when still larger than ``--max-kb``).

Needs Debian's chromium and the Python ``playwright`` package (never ``playwright install``).
Exits 1 when a page shows no verdict or reports a JavaScript error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported, or it calls home

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_in_browser import CHROMIUM_FLAGS  # noqa: E402

VIEWPORT = {"width": 1100, "height": 900}


@contextlib.contextmanager
def serving(model: str):
    """``create_app(model)`` under uvicorn on 127.0.0.1:<free port> in a thread; yields the base URL."""
    import uvicorn

    from spoofguard.serve.app import ServeSettings, create_app

    app = create_app(ServeSettings(str(model)))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def save_png(png: bytes, path: Path, max_kb: int) -> int:
    """Write a screenshot optimised; palette-reduced when the optimised one is over ``max_kb``."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=True)
        if buf.tell() > max_kb * 1024:
            buf = io.BytesIO()
            im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, format="PNG", optimize=True)
    path.write_bytes(buf.getvalue())
    return len(buf.getvalue())


def shoot(model: str, out: Path, image: Path, chromium: str, max_kb: int) -> dict:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    with serving(model) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            page.goto(url + "/")
            page.set_input_files("#file", str(image))
            with page.expect_navigation():
                page.click("form.upload button[type=submit]")
            page.locator("#verdict").wait_for(state="visible")
            page.locator("section.result figure img").evaluate("i => i.decode()")
            report["page_verdict"] = page.locator("#verdict").inner_text().strip()
            report["serve-page.png"] = save_png(page.screenshot(full_page=True), out / "serve-page.png", max_kb)

            page.goto(url + "/ui/")
            page.get_by_role("button", name="Analyse image").wait_for(state="visible")
            page.locator("input[type=file]").first.set_input_files(str(image))  # the Image tab's upload: runs the model
            heading = page.get_by_role("heading", name=re.compile(r"^(Verdict: |Could not analyse)"))
            heading.wait_for(state="visible")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
            report["ui_verdict"] = heading.inner_text().strip()
            report["serve-ui.png"] = save_png(page.screenshot(full_page=True), out / "serve-ui.png", max_kb)
            report["page_errors"] = errors
            context.close()
        finally:
            browser.close()
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs"))
    ap.add_argument("--image", type=Path, help="default: a 640x480 frame with a real face (matplotlib's Grace Hopper)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--max-kb", type=int, default=400, help="palette-reduce a PNG that is larger than this")
    args = ap.parse_args(argv)
    if not args.model.exists():
        ap.error(f"{args.model}: no such model file.")
    with tempfile.TemporaryDirectory(prefix="spoofguard-shots-") as tmp:
        image = args.image
        if image is None:
            from PIL import Image

            from spoofguard.inference.bench import default_frame

            image = Path(tmp) / "face.jpg"
            Image.fromarray(default_frame()).save(image, quality=90)
        report = shoot(str(args.model), args.out, image, args.chromium, args.max_kb)
    print(f"upload page: {report['page_verdict']!r}; UI: {report['ui_verdict']!r}")
    for name in ("serve-page.png", "serve-ui.png"):
        print(f"{args.out / name}: {report[name] / 1024:.0f} KB")
    if report["page_errors"]:
        print("page errors:", *report["page_errors"], sep="\n  ")
    return 1 if report["page_errors"] or report["ui_verdict"].startswith("Could not") else 0


if __name__ == "__main__":
    sys.exit(main())
