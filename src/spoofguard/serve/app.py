"""The HTTP service: one FastAPI application around one model.

    GET  /                       upload page (server-rendered HTML, no JavaScript needed)
    POST /                       the same page with the result of an uploaded image or video
    POST /api/v1/predict         multipart ``file`` -> JSON (``?heatmap=true`` adds a PNG, base64)
    POST /api/v1/predict/batch   multipart ``files`` (several) -> JSON list, one entry per file
    GET  /api/v1/model           the model's metadata (no weights)
    GET  /healthz                alive;  GET /readyz: the model is loaded
    GET  /docs                   OpenAPI documentation;  /ui: the Gradio interface (when installed)

Every 4xx answer is JSON ``{"error": {"code", "message", "status"}}`` with a stable code (see
:mod:`spoofguard.serve.uploads`; plus ``unauthorized`` 401, ``missing_file`` 422, ``too_many_files``
413, ``prediction_failed`` 422). Inference runs in a thread pool sized to the CPU, so ``/healthz``
answers while predictions run. An API key (``api_key``) guards ``/api/*``; CORS is off unless origins
are given. Uploads stay in memory (the multipart parser is told never to spill to disk); a video is
written to the server's private 0700 folder while it is decoded and deleted after the request.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser

from spoofguard.cpu import usable_cores
from spoofguard.serve.uploads import ApiError, Limits, PrivateFolder, check_upload, decode_image, video_prediction

API_PREFIX = "/api/"


@dataclass
class ServeSettings:
    model: str
    backend: str = "auto"  # auto: onnxruntime for serving (exported in memory from a bundle)
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    cors_origins: list[str] = field(default_factory=list)
    threads: int = 0  # inference threads; 0 = the usable cores
    ui: bool = True  # mount the Gradio UI at /ui when gradio is installed

    @classmethod
    def from_env(cls) -> "ServeSettings":
        """For worker processes started by uvicorn: the settings travel in SPOOFGUARD_SERVE_* variables."""
        import json

        raw = json.loads(os.environ["SPOOFGUARD_SERVE_SETTINGS"])
        raw["limits"] = Limits(**raw.get("limits", {}))
        key_env = raw.pop("api_key_env", None)
        raw["api_key"] = os.environ.get(key_env) if key_env else None
        return cls(**raw)


class Service:
    """The model and what runs it: the detector, a thread pool, a lock-free prediction path."""

    def __init__(self, settings: ServeSettings):
        from spoofguard.inference.detector import Detector

        self.settings = settings
        self.limits = settings.limits
        threads = settings.threads or usable_cores()
        # one prediction per pool thread at a time, each on one core: measured 33 -> 39 req/s (1 worker) and
        # 38 -> 58 req/s (2 workers) against letting every session spin a thread per core
        os.environ.setdefault("SPOOFGUARD_ONNX_THREADS", str(max(1, usable_cores() // threads)))
        backend = settings.backend
        if backend == "auto" and not str(settings.model).lower().endswith(".onnx"):
            from spoofguard.inference.ensemble import runs_on_torch_only

            # onnxruntime: faster on CPU and lighter across threads than torch; an ensemble bundle runs on torch
            backend = "torch" if runs_on_torch_only(settings.model) else "onnx"
        self.detector = Detector.from_file(settings.model, backend=backend)
        if self.detector.backend == "torch":
            import torch

            torch.set_num_threads(max(1, usable_cores() // threads))
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="predict")
        self.folder = PrivateFolder()
        meta = self.detector.metadata
        digest = meta.get("weights_sha256") or meta.get("exported", {}).get("from_weights_sha256") or \
            "+".join(f["sha256"][:12] for f in meta.get("imported", {}).get("files", []))
        self.model_id = f"{self.detector.architecture}:{(digest or 'unknown')[:12]}"

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def analyse(self, name: str, data: bytes, heatmap: bool = False) -> dict:
        """One upload -> the JSON answer (ApiError for bad input)."""
        from spoofguard.errors import SpoofguardError

        t0 = time.perf_counter()
        kind = check_upload(data, name, self.limits)
        if kind == "video":
            v = video_prediction(self.detector, data, self.folder, self.limits)
            t1 = time.perf_counter()
            regions = [list(f.region) for f in v.frames if f.region]
            out = {"kind": "video", "verdict": v.verdict, "score": v.score, "threshold": v.threshold, "probabilities": v.probabilities,
                   "regions": regions[:1], "note": v.note, "aggregate": v.aggregate, "frames_without_face": v.frames_without_face,
                   "frames": [{"index": f.index, "time_s": f.time_s, "score": f.score, "verdict": f.verdict,
                               "region": list(f.region) if f.region else None} for f in v.frames]}
            return self._finish(out, name, t0, t1, t1)
        image = decode_image(data, self.limits)
        t1 = time.perf_counter()
        try:
            p = self.detector.predict(image)
        except SpoofguardError as e:
            raise ApiError(422, "prediction_failed", str(e)) from None
        t2 = time.perf_counter()
        out = {"kind": "image", "verdict": p.verdict, "score": p.score, "threshold": p.threshold, "probabilities": p.probabilities,
               "regions": [list(p.region)] if p.region else [], "faces": p.faces, "views": p.views, "note": p.note,
               "image_size": [int(image.shape[1]), int(image.shape[0])]}
        if heatmap and p.score is not None:
            from spoofguard.inference.explain import overlay

            buf = io.BytesIO()
            overlay(image, p).save(buf, format="PNG")
            out["heatmap_png"] = base64.b64encode(buf.getvalue()).decode("ascii")
        return self._finish(out, name, t0, t1, t2)

    def _finish(self, out: dict, name: str, t0: float, t1: float, t2: float) -> dict:
        t3 = time.perf_counter()
        out.update(file=name, model=self.model_id,
                   timings_ms={"decode": round(1000 * (t1 - t0), 2), "inference": round(1000 * (t2 - t1), 2), "total": round(1000 * (t3 - t0), 2)})
        return out

    def model_info(self) -> dict:
        meta = {k: v for k, v in self.detector.metadata.items() if k not in ("weights",)}
        return {"id": self.model_id, "backend": self.detector.backend, "modality": self.detector.modality,
                "classes": self.detector.classes, "threshold": self.detector.threshold, "metadata": meta,
                "limits": self.limits.__dict__}


def create_app(settings: ServeSettings):
    """The FastAPI application for ``settings.model`` (loaded now: /readyz is true once this returns)."""
    from spoofguard.serve import page

    MultiPartParser.spool_max_size = settings.limits.max_upload_bytes * settings.limits.max_batch_files + 1  # never spill to disk
    service = Service(settings)
    app = FastAPI(title="spoofguard", version=_version(), description="Presentation attack detection: is this capture bona fide?")
    app.state.service = service

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        if not request.url.path.startswith(API_PREFIX) and request.method == "POST" and request.url.path == "/":
            return HTMLResponse(page.render(service, error=e), status_code=e.status)
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        return JSONResponse(ApiError(e.status_code, codes.get(e.status_code, "http_error"), str(e.detail)).body(), status_code=e.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        return JSONResponse(ApiError(422, "invalid_request", "; ".join(str(x.get("msg")) for x in e.errors())[:500]).body(), status_code=422)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.url.path.startswith(API_PREFIX) and settings.api_key:
            given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not given or not secrets.compare_digest(given.encode(), settings.api_key.encode()):
                e = ApiError(401, "unauthorized", "a valid API key is required (header X-API-Key or Authorization: Bearer KEY).")
                return JSONResponse(e.body(), status_code=401)
        try:
            return await call_next(request)
        except ApiError as e:  # raised while reading the body in a dependency-free handler
            return JSONResponse(e.body(), status_code=e.status)

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"], allow_headers=["*"])

    @app.get("/healthz", tags=["health"])
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz():
        return {"status": "ready", "model": service.model_id}

    @app.get("/api/v1/model", tags=["model"])
    async def model():
        return service.model_info()

    @app.post("/api/v1/predict", tags=["predict"], summary="Predict on one image or video (multipart field 'file')")
    async def predict(request: Request, heatmap: bool = Query(False, description="add a PNG of the heatmap overlay, base64")):
        (name, data), = await _files(request, service.limits, one=True)
        return await service.run(service.analyse, name, data, heatmap)

    @app.post("/api/v1/predict/batch", tags=["predict"], summary="Predict on several files (multipart field 'files')")
    async def predict_batch(request: Request, heatmap: bool = Query(False)):
        files = await _files(request, service.limits, one=False)
        results = await asyncio.gather(*(service.run(_safe, service, n, d, heatmap) for n, d in files))
        return {"results": results}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return page.render(service)

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def index_upload(request: Request):
        (name, data), = await _files(request, service.limits, one=True)
        result = await service.run(service.analyse, name, data, True)
        return page.render(service, result=result)

    page.mount_static(app)
    if settings.ui:
        _mount_ui(app, service)

    @app.on_event("shutdown")
    def _cleanup():
        service.pool.shutdown(wait=False)
        service.folder.cleanup()

    return app


def _safe(service: Service, name: str, data: bytes, heatmap: bool) -> dict:
    """A batch entry: the answer, or the error of this file (the rest still run)."""
    try:
        return service.analyse(name, data, heatmap)
    except ApiError as e:
        return {"file": name, **e.body()}


async def _files(request, limits: Limits, one: bool) -> list[tuple[str, bytes]]:
    """The uploaded files of a multipart request, read with the size limit enforced as bytes arrive."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException

    allowed = limits.max_upload_bytes * (1 if one else limits.max_batch_files) + 64 * 1024  # + multipart framing
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > allowed:
        raise ApiError(413, "upload_too_large", f"the upload is {int(declared):,} bytes; the limit is {limits.max_upload_bytes:,} per file.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > allowed:
            raise ApiError(413, "upload_too_large", f"the upload exceeds the limit of {limits.max_upload_bytes:,} bytes per file.")
        chunks.append(chunk)
    request._body = b"".join(chunks)  # starlette's form parser reads the body from here
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise ApiError(422, "missing_file", "send the file as multipart/form-data (field 'file'; 'files' for a batch).")
    try:
        form = await request.form(max_files=1 if one else limits.max_batch_files, max_fields=8)
    except (MultiPartException, StarletteHTTPException) as e:
        message = str(getattr(e, "detail", e) or e)
        if "too many files" in message.lower():
            raise ApiError(413, "too_many_files", f"at most {limits.max_batch_files if not one else 1} file(s) per request.") from None
        raise ApiError(400, "bad_multipart", f"the multipart body cannot be parsed ({message}).") from None
    field_name = "file" if one else "files"
    parts = [v for v in form.getlist(field_name) if isinstance(v, UploadFile)]
    if not parts:
        raise ApiError(422, "missing_file", f"no file in the multipart field {field_name!r}.")
    out = []
    for part in parts:
        out.append((part.filename or "upload", await part.read()))
        await part.close()
    await form.close()
    return out


def _mount_ui(app, service: Service) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # the UI's uploads land in the server's private folder, not in a shared /tmp/gradio
    os.environ["GRADIO_TEMP_DIR"] = os.path.join(service.folder.path, "ui")
    try:
        import gradio  # noqa: F401

        from spoofguard.serve.ui import mount_ui
    except ImportError:
        return
    mount_ui(app, service.detector, max_video_frames=service.limits.max_video_frames, max_file_size=service.limits.max_upload_bytes)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spoofguard")
    except PackageNotFoundError:
        return "0"


def app_from_env():
    """uvicorn factory for ``--workers N`` (each worker process builds its own app from the environment)."""
    return create_app(ServeSettings.from_env())
