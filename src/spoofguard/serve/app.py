"""The HTTP service: one FastAPI application around one model.

    GET  /                       upload page (server-rendered HTML, no JavaScript needed)
    POST /                       the same page with the result of an uploaded image or video
    POST /api/v1/predict         multipart ``file`` -> JSON (``?heatmap=true`` adds a PNG, base64)
    POST /api/v1/predict/batch   multipart ``files`` (several) -> JSON list, one entry per file
    GET  /api/v1/model           the model's metadata (no weights)
    GET  /healthz                alive;  GET /readyz: the model is loaded
    GET  /docs                   OpenAPI documentation;  /ui: the Gradio interface (when installed)

    GET  /login, POST /login     the key in a form -> a session cookie (only when the server has a key)
    POST /logout                 forget the cookie

Every 4xx/5xx answer is JSON ``{"error": {"code", "message", "status"}}`` with a stable code (see
:mod:`spoofguard.serve.uploads` and :mod:`spoofguard.serve.gate`; plus ``missing_file`` 422,
``too_many_files`` 413, ``prediction_failed`` 422, ``overloaded`` 503 when ``max_queue`` predictions
are waiting or running). Every request passes one gate (:class:`spoofguard.serve.gate.Gate`): with an
API key (``api_key``) every route but ``/healthz``, ``/readyz`` and the login form needs it, the
Gradio UI's included (``public_ui`` opens the page and the UI on purpose); every request body is read
there within the server's bounds. Inference runs in a thread pool sized to the CPU, so ``/healthz``
answers while predictions run; a prediction whose client has gone is cancelled while it waits. CORS
is off unless origins are given (for the Gradio UI too). Uploads stay in memory (the multipart parser
is told never to spill to disk); a video is written to the server's private 0700 folder while it is
decoded and deleted after the request.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser

from spoofguard.cpu import usable_cores
from spoofguard.serve.gate import Auth, Gate, clear_cookie, safe_next
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
    public_ui: bool = False  # with a key: the page (/) and the UI (/ui) open to anyone all the same

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
        self.pending = 0  # predictions submitted and not finished (waiting or running)
        self.folder = PrivateFolder(max_bytes=self.limits.max_temp_bytes)
        atexit.register(self.folder.cleanup)  # also when the lifespan's shutdown never runs
        meta = self.detector.metadata
        digest = meta.get("weights_sha256") or meta.get("exported", {}).get("from_weights_sha256") or \
            "+".join(f["sha256"][:12] for f in meta.get("imported", {}).get("files", []))
        self.model_id = f"{self.detector.architecture}:{(digest or 'unknown')[:12]}"

    def admit(self, n: int = 1) -> None:
        """Room in the queue for ``n`` more predictions, or ``overloaded`` (503): a bounded queue answers
        at once instead of making every client wait longer. An idle server takes any batch."""
        if self.pending and self.pending + n > self.limits.max_queue:
            raise ApiError(503, "overloaded", f"{self.pending} predictions are waiting or running (at most "
                           f"{self.limits.max_queue}); try again in a moment.", headers={"Retry-After": "1"})

    async def run(self, fn, *args, request: Request | None = None):
        """``fn(*args)`` in the pool; cancelled while it waits there if ``request``'s client goes away."""
        return (await self.run_many([(fn, args)], request))[0]

    async def run_many(self, calls: list[tuple], request: Request | None = None) -> list:
        self.admit(len(calls))
        loop = asyncio.get_running_loop()

        def done(_):
            try:
                loop.call_soon_threadsafe(self._finished)
            except RuntimeError:  # the loop is closed: the server is gone
                pass

        futures = []
        for fn, args in calls:
            f = self.pool.submit(fn, *args)
            self.pending += 1
            f.add_done_callback(done)
            futures.append(f)
        waiting = [asyncio.wrap_future(f) for f in futures]
        try:
            if request is None:
                return list(await asyncio.gather(*waiting))
            gathered = asyncio.gather(*waiting)
            while True:
                finished, _ = await asyncio.wait({gathered}, timeout=0.25)
                if finished:
                    return list(gathered.result())
                if await request.is_disconnected():
                    raise ClientGone
        except BaseException:
            for f in futures:
                f.cancel()  # those not started yet never run; a running one finishes, unread
            raise

    def _finished(self) -> None:
        self.pending -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.folder.cleanup()

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


class ClientGone(Exception):
    """The client closed the connection while its prediction waited: nobody is left to answer."""


def _add_error_handlers(app, service, auth, page):
    """Every error a route raises answered as stable JSON (the upload page's own form: as the page);
    returns the rule the gate uses for its refusals of that form."""
    def json_error(e: ApiError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers or None)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        if request.method == "POST" and request.url.path == "/":
            return HTMLResponse(page.render(service, error=e, auth=auth is not None), status_code=e.status, headers=e.headers or None)
        return json_error(e)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, e: ClientGone):
        return Response(status_code=499)  # nginx's "client closed request": never reaches anyone

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        return json_error(ApiError(e.status_code, codes.get(e.status_code, "http_error"), str(e.detail)))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        return json_error(ApiError(422, "invalid_request", "; ".join(str(x.get("msg")) for x in e.errors())[:500]))

    def html_error(path: str, method: str, e: ApiError) -> bytes | None:
        """The gate's refusals of the upload page's form, as the page (a browser shows it)."""
        if path == "/" and method == "POST":
            return page.render(service, error=e, auth=auth is not None).encode()
        return None

    return html_error


def _add_login_routes(app, auth, page):
    """/login (a form that sets the session cookie; a few wrong keys a minute per address) and /logout."""
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(next: str = "/"):
        if auth is None:
            return RedirectResponse(safe_next(next), status_code=303)
        return HTMLResponse(page.render_login(next_path=safe_next(next)), headers={"Cache-Control": "no-store"})

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        target = safe_next(request.query_params.get("next"))
        if auth is None:
            return RedirectResponse(target, status_code=303)
        client = request.client.host if request.client else "?"
        if not auth.login_allowed(client):
            e = ApiError(429, "too_many_attempts", "too many wrong keys from this address; wait a minute.", headers={"Retry-After": "60"})
            return HTMLResponse(page.render_login(next_path=target, error=e), status_code=429, headers=e.headers)
        try:
            form = await request.form(max_files=0, max_fields=4)
            key, target = str(form.get("key") or ""), safe_next(str(form.get("next") or target))
        except Exception:  # noqa: BLE001 - a malformed form is a wrong key
            key = ""
        if not auth.check_key(key):
            auth.login_failed(client)
            e = ApiError(401, "unauthorized", "that is not the server's key.")
            return HTMLResponse(page.render_login(next_path=target, error=e), status_code=401, headers={"Cache-Control": "no-store"})
        r = RedirectResponse(target, status_code=303)
        r.headers.append("set-cookie", auth.cookie(secure=request.url.scheme == "https"))
        r.headers["cache-control"] = "no-store"
        return r

    @app.post("/logout", include_in_schema=False)
    async def logout():
        r = RedirectResponse("/login" if auth is not None else "/", status_code=303)
        r.headers.append("set-cookie", clear_cookie())
        return r


def create_app(settings: ServeSettings):
    """The FastAPI application for ``settings.model`` (loaded now: /readyz is true once this returns)."""
    from fastapi.middleware.cors import CORSMiddleware

    from spoofguard.serve import page

    MultiPartParser.spool_max_size = settings.limits.max_upload_bytes * settings.limits.max_batch_files + 1  # never spill to disk
    service = Service(settings)
    auth = Auth(settings.api_key, public_ui=settings.public_ui) if settings.api_key else None
    app = FastAPI(title="spoofguard", version=_version(), description="Presentation attack detection: is this capture bona fide?",
                  docs_url=None, redoc_url=None)  # /docs from packaged files (api_docs): the default loads Swagger UI from a CDN
    from spoofguard.serve.api_docs import mount_docs

    mount_docs(app)
    app.state.service = service
    app.state.auth = auth

    html_error = _add_error_handlers(app, service, auth, page)

    # innermost first: the gate (key, then bodies) sits in front of every route, Gradio's included;
    # CORS outside it, so a permitted origin's preflight is answered. CORS is always configured, even
    # with no origin: Gradio then leaves it to us instead of reflecting any localhost origin with
    # credentials (its own middleware does when the parent app configures none).
    app.add_middleware(Gate, limits=settings.limits, auth=auth, folder=service.folder, html_error=html_error)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"], allow_headers=["*"])

    @app.get("/healthz", tags=["health"])
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz():
        return {"status": "ready", "model": service.model_id}

    _add_login_routes(app, auth, page)

    @app.get("/api/v1/model", tags=["model"])
    async def model():
        return service.model_info()

    @app.post("/api/v1/predict", tags=["predict"], summary="Predict on one image or video (multipart field 'file')")
    async def predict(request: Request, heatmap: bool = Query(False, description="add a PNG of the heatmap overlay, base64")):
        service.admit(1)  # refuse before parsing when the queue is full
        (name, data), = await _files(request, service.limits, one=True)
        return await service.run(service.analyse, name, data, heatmap, request=request)

    @app.post("/api/v1/predict/batch", tags=["predict"], summary="Predict on several files (multipart field 'files')")
    async def predict_batch(request: Request, heatmap: bool = Query(False)):
        service.admit(1)
        files = await _files(request, service.limits, one=False)
        results = await service.run_many([(_safe, (service, n, d, heatmap)) for n, d in files], request)
        return {"results": results}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return page.render(service, auth=auth is not None)

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def index_upload(request: Request):
        service.admit(1)
        (name, data), = await _files(request, service.limits, one=True)
        result = await service.run(service.analyse, name, data, True, request=request)
        return page.render(service, result=result, auth=auth is not None)

    page.mount_static(app)
    if settings.ui:
        _mount_ui(app, service)

    @app.on_event("startup")
    async def _on_signals():
        _stop_streams_on_signal(app)

    @app.on_event("shutdown")
    def _cleanup():
        service.close()

    return app


def _stop_streams_on_signal(app) -> None:
    """On SIGTERM / SIGINT, end the long-lived streams at once instead of after uvicorn's grace period:
    uvicorn waits for open connections *before* it tells the application to shut down, and the Gradio
    UI keeps an event stream open per page (its heartbeat ends on Gradio's ``stop_event``, which
    Gradio itself only sets after that wait). The gate then tells every request that asks that its
    client is gone. uvicorn's handlers still run (chained); only in the main thread (where uvicorn
    installs them)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    gate = _find(app.middleware_stack, Gate)

    def stopping():
        if gate is not None:
            gate.stopping = True
        for route in app.routes:
            stop = getattr(getattr(route, "app", None), "stop_event", None)
            if stop is not None and hasattr(stop, "set"):
                stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum, frame, previous=previous):
            loop.call_soon_threadsafe(stopping)
            previous(signum, frame)

        signal.signal(sig, handler)


def _find(asgi, cls):
    """The middleware of type ``cls`` in an ASGI stack (each layer's ``.app`` is the next)."""
    seen = 0
    while asgi is not None and seen < 32:
        if isinstance(asgi, cls):
            return asgi
        asgi, seen = getattr(asgi, "app", None), seen + 1
    return None


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
    mount_ui(app, service.detector, max_video_frames=service.limits.max_video_frames, max_file_size=service.limits.max_upload_bytes,
             limits=service.limits)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spoofguard")
    except PackageNotFoundError:
        return "0"


def app_from_env():
    """uvicorn factory for ``--workers N`` (each worker process builds its own app from the environment)."""
    return create_app(ServeSettings.from_env())
