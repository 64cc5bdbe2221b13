"""Starting the server: uvicorn with one or several worker processes, bounded in every direction.

uvicorn's own bounds are set here: ``limit_concurrency`` (connections and tasks at once; more get a
plain 503), ``timeout_keep_alive`` (idle keep-alive connections), ``timeout_graceful_shutdown`` (on
SIGTERM or SIGINT, requests still open after it, such as the Gradio UI's event streams, are
cancelled, so the server exits in bounded time) and a header deadline
(:mod:`spoofguard.serve.protocol`). The application's bounds are :class:`~spoofguard.serve.uploads.Limits`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys

from spoofguard.cpu import usable_cores

PROTOCOL = "spoofguard.serve.protocol:HeaderTimeoutH11Protocol"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warnings_for(host: str, port: int, api_key_env: str | None, public_ui: bool, ui: bool) -> list[str]:
    """What ``serve`` prints loudly at start: who can use what without the key (nothing to say for a
    server without a key on loopback, the development default: see the start line)."""
    where = f"http://{host}:{port}/"
    out = []
    if not api_key_env and not is_loopback(host):
        out.append(f"no API key (--api-key-env): ANYONE WHO CAN REACH {where} can use the page, the UI and the API")
    elif api_key_env and public_ui:
        out.append(f"--public-ui: the upload page (/){' and the Gradio UI (/ui)' if ui else ''} at {where} are OPEN TO "
                   "ANYONE who can reach it, without the key; the key guards /api/* only")
    return out


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, api_key_env: str | None = None,
          backend: str = "auto", limits: dict | None = None, cors_origins: list[str] | None = None, ui: bool = True,
          public_ui: bool = False, max_connections: int = 512, shutdown_timeout: float = 5.0, keep_alive_timeout: float = 5.0) -> None:
    import uvicorn

    # every worker process builds its app from these settings (the API key itself stays in its own variable)
    os.environ["SPOOFGUARD_SERVE_SETTINGS"] = json.dumps({"model": os.path.abspath(model), "backend": backend, "limits": limits or {},
                                                          "api_key_env": api_key_env, "cors_origins": cors_origins or [], "ui": ui,
                                                          "public_ui": public_ui})
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // max(1, workers))))
    os.environ.setdefault("SPOOFGUARD_ONNX_THREADS", "1")  # every worker runs one prediction per core at once
    for line in warnings_for(host, port, api_key_env, public_ui, ui):
        bar = "!" * min(100, len(line) + 12)
        print(f"{bar}\n!!  WARNING: {line}\n{bar}", file=sys.stderr, flush=True)
    guarded = "every route but /healthz and /readyz" if api_key_env and not public_ui else (
        "/api/* only" if api_key_env else "nothing: no --api-key-env")
    print(f"spoofguard serving {model} on http://{host}:{port}/  (API: /api/v1/predict, docs: /docs, UI: /ui; "
          f"the key guards {guarded})", flush=True)
    uvicorn.run("spoofguard.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_level="warning",
                http=PROTOCOL, limit_concurrency=max_connections, timeout_keep_alive=keep_alive_timeout,
                timeout_graceful_shutdown=shutdown_timeout)
