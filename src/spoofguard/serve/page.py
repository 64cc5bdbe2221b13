"""The upload page: server-rendered HTML (Jinja2, autoescaped), one stylesheet, no JavaScript."""

from __future__ import annotations

from pathlib import Path

from spoofguard.verdict import ATTACK, BONA_FIDE, NO_FACE, NO_FINGER

HERE = Path(__file__).parent

VERDICTS = {BONA_FIDE: "Bona fide", ATTACK: "Attack", NO_FACE: "No face found", NO_FINGER: "No finger found"}


def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


_ENV = None


def _env():
    global _ENV
    _ENV = _ENV or _environment()
    return _ENV


def render(service, result: dict | None = None, error=None, auth: bool = False) -> str:
    det = service.detector
    return _env().get_template("index.html").render(
        model_id=service.model_id, modality=det.modality, threshold=det.threshold, result=result, error=error, auth=auth,
        verdict_text=VERDICTS.get(result["verdict"], result["verdict"]) if result else "",
        plot=frame_plot(result["frames"], result["threshold"]) if result and result.get("frames") else "",
        max_mb=round(service.limits.max_upload_bytes / 1024 / 1024), max_frames=service.limits.max_video_frames,
    )


def render_login(next_path: str = "/", error=None) -> str:
    """The form that takes the server's key and sets the session cookie (``POST /login``)."""
    return _env().get_template("login.html").render(next_path=next_path, error=error)


def frame_plot(frames: list[dict], threshold: float, width: int = 640, height: int = 180) -> str:
    """An inline SVG of the per-frame scores (gaps where a frame had no face) and the threshold."""
    from html import escape

    pad = 28
    n = max(1, len(frames) - 1)
    x = lambda i: pad + (width - 2 * pad) * i / n  # noqa: E731
    y = lambda s: height - pad - (height - 2 * pad) * s  # noqa: E731
    runs, run = [], []
    for i, f in enumerate(frames):
        if f["score"] is None:
            runs, run = runs + [run] if run else runs, []
        else:
            run.append(f"{x(i):.1f},{y(f['score']):.1f}")
    runs += [run] if run else []
    lines = "".join(f'<polyline points="{" ".join(r)}" fill="none" stroke="#1f4fa8" stroke-width="2"/>' for r in runs)
    dots = "".join(f'<circle cx="{x(i):.1f}" cy="{y(f["score"]):.1f}" r="3" fill="#1f4fa8"><title>frame {f["index"]}: {f["score"]:.3f}</title></circle>'
                   for i, f in enumerate(frames) if f["score"] is not None)
    missing = "".join(f'<text x="{x(i):.1f}" y="{height - pad + 14}" font-size="11" text-anchor="middle" fill="#8a5a00">×</text>'
                      for i, f in enumerate(frames) if f["score"] is None)
    label = escape(f"per-frame scores of {len(frames)} frames against the threshold {threshold:.2f}")
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{label}">'
            f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}" fill="#fafbfc" stroke="#d9dee7"/>'
            f'<line x1="{pad}" x2="{width - pad}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" stroke="#a4161a" stroke-dasharray="5,4"/>'
            f'<text x="4" y="{y(1) + 4:.1f}" font-size="11">1</text><text x="4" y="{y(0) + 4:.1f}" font-size="11">0</text>'
            f"{lines}{dots}{missing}</svg>")


def mount_static(app) -> None:
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
