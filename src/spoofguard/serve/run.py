"""Starting the server: uvicorn with one or several worker processes."""

from __future__ import annotations

import json
import os

from spoofguard.cpu import usable_cores


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, api_key_env: str | None = None,
          backend: str = "auto", limits: dict | None = None, cors_origins: list[str] | None = None, ui: bool = True) -> None:
    import uvicorn

    # every worker process builds its app from these settings (the API key itself stays in its own variable)
    os.environ["SPOOFGUARD_SERVE_SETTINGS"] = json.dumps({"model": os.path.abspath(model), "backend": backend, "limits": limits or {},
                                                          "api_key_env": api_key_env, "cors_origins": cors_origins or [], "ui": ui})
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // max(1, workers))))
    os.environ.setdefault("SPOOFGUARD_ONNX_THREADS", "1")  # every worker runs one prediction per core at once
    print(f"spoofguard serving {model} on http://{host}:{port}/  (API: /api/v1/predict, docs: /docs, UI: /ui)")
    uvicorn.run("spoofguard.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_level="warning")
