"""Open an evaluation report in headless Chromium, check every plot rendered, save a screenshot.

    python benchmarks/report_in_browser.py REPORT_DIR/report.html --screenshot docs/report.png

Needs Debian's chromium (``apt-get install -y chromium``) and the Python ``playwright`` package
(never ``playwright install``: the system browser is used). Exits 1 if any plot image failed to
decode or is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
PLOTS = ("det", "roc", "hist", "confusion", "apcer")


def check(html: Path, screenshot: Path | None, executable: str = "/usr/bin/chromium") -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        state = page.evaluate(
            """() => Array.from(document.querySelectorAll('img[data-plot]')).map(i => ({
                   plot: i.dataset.plot, ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth}))"""
        )
        thumbs = page.evaluate("() => Array.from(document.images).filter(i => !i.dataset.plot).map(i => i.complete && i.naturalWidth > 0)")
        if screenshot:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    rendered = {s["plot"]: s["ok"] for s in state}
    return {"plots": rendered, "missing": [p for p in PLOTS if p not in rendered], "thumbnails_ok": sum(thumbs), "thumbnails": len(thumbs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html", type=Path)
    ap.add_argument("--screenshot", type=Path)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    result = check(args.html, args.screenshot, args.chromium)
    for name, ok in result["plots"].items():
        print(f"{name:10s} {'rendered' if ok else 'FAILED'}")
    print(f"thumbnails rendered: {result['thumbnails_ok']}/{result['thumbnails']}")
    bad = result["missing"] or not all(result["plots"].values())
    if result["missing"]:
        print("missing plots:", ", ".join(result["missing"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
