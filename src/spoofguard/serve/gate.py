"""The one gate in front of every route: who may come in, and how much they may send.

:class:`Gate` is a plain ASGI middleware around the whole application (the JSON API, the upload
page, and the Gradio UI mounted at ``/ui`` with all of its own routes), so nothing reaches a route,
ours or Gradio's, without passing it:

1. **Authentication** (when the server has a key). Deny by default: only ``/healthz``, ``/readyz``,
   ``/login``, ``/logout`` and ``/static/`` are open; with ``public_ui`` also the page (``/``), the
   API documentation and ``/ui/*``. A request presents the key as ``X-API-Key: KEY``,
   ``Authorization: Bearer KEY``, HTTP Basic (any user name, the key as the password), or the
   session cookie that ``POST /login`` sets (HttpOnly, SameSite=Lax, signed with an HMAC of the key,
   12 h). Keys are compared in constant time (``hmac.compare_digest`` of SHA-256 digests, so not
   even the length leaks). A browser asking for a page is sent to the login form (303); anything
   else gets ``401 unauthorized``.
2. **Bodies**. A request body is read here, in full, before the route sees it, within bounds:

   ==================  ======  ============================================================
   code                status  when
   ==================  ======  ============================================================
   upload_too_large    413     the body is (or is declared) larger than the route takes:
                               one file + framing for ``/``, ``/api/v1/predict`` and the UI's
                               upload; ``max_batch_files`` files for the batch; 1 MiB elsewhere
   too_many_uploads    503     ``max_uploads`` bodies are being received already (bodies over
                               256 KiB or of unknown length count: small ones arrive at once)
   server_busy         503     the bodies held would pass ``max_inflight_bytes``
   body_timeout        408     the body did not arrive within ``body_timeout_s`` (slow client)
   storage_full        507     an upload to the UI would grow the private folder past its bound
   bad_request         400     an invalid Content-Length
   ==================  ======  ============================================================

   Every refusal closes the connection (``Connection: close``) and answers JSON
   ``{"error": {"code", "message", "status"}}``; the 503s carry ``Retry-After``.

Slow *headers* are cut off by :mod:`spoofguard.serve.protocol` (uvicorn's HTTP protocol with a
header deadline); the prediction queue (``overloaded``, 503) is bounded by the service itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from urllib.parse import quote

from spoofguard.serve.uploads import ApiError, Limits

SESSION_COOKIE = "spoofguard_session"
SESSION_TTL_S = 12 * 3600
SMALL_BODY_BYTES = 1024 * 1024  # JSON, forms and Gradio's event payloads (files go through /upload)
FRAMING_BYTES = 64 * 1024  # multipart boundaries and part headers
COUNTED_UPLOAD_BYTES = 256 * 1024  # a body this large (or chunked) takes one of the max_uploads slots
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/logout"})
OPEN_PREFIXES = ("/static/",)
PUBLIC_UI_PATHS = frozenset({"/", "/ui", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
PUBLIC_UI_PREFIXES = ("/ui/",)
UPLOAD_ROUTES = ("/", "/api/v1/predict", "/ui/gradio_api/upload")  # one file per request
DISK_ROUTES = ("/ui/gradio_api/upload",)  # Gradio writes these bodies into the private folder


class Auth:
    """The server's key and what proves it: headers, HTTP Basic, or a signed session cookie."""

    def __init__(self, key: str, public_ui: bool = False, ttl_s: int = SESSION_TTL_S):
        if not key:
            raise ValueError("an empty key guards nothing")
        self._digest = hashlib.sha256(key.encode()).digest()
        self._mac_key = hmac.new(key.encode(), b"spoofguard-session-v1", hashlib.sha256).digest()
        self.public_ui = public_ui
        self.ttl_s = ttl_s
        self._failures: dict[str, deque] = {}

    # -- what is open
    def is_open(self, path: str) -> bool:
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return True
        return self.public_ui and (path in PUBLIC_UI_PATHS or path.startswith(PUBLIC_UI_PREFIXES))

    # -- proofs
    def check_key(self, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest(), self._digest)

    def session_token(self, now: float | None = None) -> str:
        msg = f"{int(now if now is not None else time.time())}.{secrets.token_hex(8)}"
        return f"{msg}.{self._sign(msg)}"

    def check_session(self, token: str | None, now: float | None = None) -> bool:
        if not token or token.count(".") != 2:
            return False
        msg, _, sig = token.rpartition(".")
        if not hmac.compare_digest(self._sign(msg).encode(), sig.encode("ascii", "replace")):
            return False
        try:
            issued = int(msg.split(".", 1)[0])
        except ValueError:
            return False
        age = (now if now is not None else time.time()) - issued
        return -60 <= age <= self.ttl_s

    def _sign(self, msg: str) -> str:
        return hmac.new(self._mac_key, msg.encode(), hashlib.sha256).hexdigest()

    def authorised(self, headers: dict[str, str]) -> bool:
        """Does any credential in the request's ``headers`` (lower-case names) prove the key?"""
        if self.check_key(headers.get("x-api-key")):
            return True
        scheme, _, value = headers.get("authorization", "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.check_key(value):
            return True
        if scheme.lower() == "basic" and value:
            try:
                _, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                password = ""
            if self.check_key(password):
                return True
        return self.check_session(_cookie(headers.get("cookie", ""), SESSION_COOKIE))

    # -- login attempts: at most 10 failures a minute from one address
    def login_allowed(self, client: str) -> bool:
        q = self._failures.get(client)
        now = time.monotonic()
        while q and now - q[0] > 60:
            q.popleft()
        return not q or len(q) < 10

    def login_failed(self, client: str) -> None:
        if len(self._failures) > 10_000:  # never grows without bound
            self._failures.clear()
        self._failures.setdefault(client, deque()).append(time.monotonic())

    def cookie(self, secure: bool) -> str:
        return (f"{SESSION_COOKIE}={self.session_token()}; Max-Age={self.ttl_s}; Path=/; HttpOnly; SameSite=Lax"
                + ("; Secure" if secure else ""))


def clear_cookie() -> str:
    return f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server only (never ``//host`` or a URL)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or any(c in target for c in "\r\n\\"):
        return "/"
    return target


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _headers(scope) -> dict[str, str]:
    """The request's headers by lower-case name; repeated ones joined (cookies with "; ")."""
    out: dict[str, str] = {}
    for k, v in scope.get("headers", []):
        name, value = k.decode("latin-1").lower(), v.decode("latin-1")
        out[name] = value if name not in out else out[name] + ("; " if name == "cookie" else ", ") + value
    return out


async def send_json(send, error: ApiError, close: bool = True) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """ASGI middleware: authentication, then the request body read within the server's bounds."""

    def __init__(self, app, limits: Limits, auth: Auth | None = None, folder=None, html_error=None):
        self.app, self.limits, self.auth, self.folder = app, limits, auth, folder
        self.html_error = html_error  # (path, method, ApiError) -> bytes of an HTML page, or None
        self.uploads = 0  # bodies being received now
        self.inflight = 0  # bytes of bodies held now
        self.refused: dict[str, int] = {}
        self.stopping = False  # the server is shutting down: every request's client is "gone"

    def cap(self, path: str) -> int:
        if path == "/api/v1/predict/batch":
            return self.limits.max_upload_bytes * self.limits.max_batch_files + FRAMING_BYTES
        if path in UPLOAD_ROUTES:
            return self.limits.max_upload_bytes + FRAMING_BYTES
        return SMALL_BODY_BYTES

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if kind == "http":
            try:
                return await self._http(scope, self._stoppable(receive), send)
            except asyncio.CancelledError:
                if self.stopping:  # uvicorn's grace period ran out at shutdown: the request just ends
                    return
                raise
        return await self._http(scope, receive, send)

    def _stoppable(self, receive):
        async def wrapped():
            if self.stopping:
                return {"type": "http.disconnect"}
            return await receive()

        return wrapped

    async def _http(self, scope, receive, send):
        kind = scope["type"]
        path = scope.get("path", "")
        headers = _headers(scope)
        if self.auth is not None and not self.auth.is_open(path) and not self.auth.authorised(headers):
            return await self._deny(scope, headers, send)
        if kind == "websocket":
            return await self.app(scope, receive, send)
        declared = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if declared is None and not chunked:
            return await self.app(scope, receive, send)
        if declared is not None and not declared.strip().isdigit():
            return await self._refuse(scope, send, ApiError(400, "bad_request", "the Content-Length header is not a number."))
        n = int(declared) if declared is not None else 0
        if declared is not None and n == 0:
            return await self.app(scope, receive, send)
        cap = self.cap(path)
        if n > cap:
            return await self._refuse(scope, send, self._too_large(path, n, cap))
        if n > self.limits.max_inflight_bytes:
            return await self._refuse(scope, send, ApiError(413, "upload_too_large", f"the request is {n:,} bytes; this server "
                                                            f"holds at most {self.limits.max_inflight_bytes:,} bytes of uploads at once."))
        counted = chunked or n >= COUNTED_UPLOAD_BYTES
        if counted and self.uploads >= self.limits.max_uploads:
            return await self._refuse(scope, send, ApiError(503, "too_many_uploads", f"{self.uploads} uploads are being received "
                                                            "already; try again in a moment.", headers={"Retry-After": "1"}))
        if self.inflight + n > self.limits.max_inflight_bytes:
            return await self._refuse(scope, send, self._busy())
        self.uploads += counted
        self.inflight += n
        held = n
        try:
            box = [n]  # bytes counted in self.inflight for this request (grows for chunked bodies)
            try:
                body, error = await self._read(receive, path, cap, box)
            finally:
                self.uploads -= counted
                held = box[0]
            if body is None and error is None:  # the client went away
                return
            if error is not None:
                return await self._refuse(scope, send, error)
            on_disk = path in DISK_ROUTES and self.folder is not None
            if on_disk and not self.folder.reserve(len(body)):
                return await self._refuse(scope, send, ApiError(507, "storage_full", "the server's temporary space is full; "
                                                                "try again in a minute.", headers={"Retry-After": "60"}))
            try:
                await self.app(scope, _replay(body, receive), send)
            finally:
                if on_disk:
                    self.folder.release(len(body))
        finally:
            self.inflight -= held

    async def _read(self, receive, path: str, cap: int, box: list[int]):
        """``(body, None)``, ``(None, ApiError)``, or ``(None, None)`` when the client disconnected;
        ``box[0]``: the bytes this request holds in ``self.inflight`` (grown here as needed)."""
        deadline = time.monotonic() + self.limits.body_timeout_s
        chunks, size = [], 0
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                message = await asyncio.wait_for(receive(), timeout=left)
            except asyncio.TimeoutError:
                return None, ApiError(408, "body_timeout", f"the request body did not arrive within {self.limits.body_timeout_s:g} s "
                                      f"({size:,} bytes came); the connection is closed.")
            if message["type"] == "http.disconnect":
                return None, None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return None, self._too_large(path, size, cap)
            if size > box[0]:  # chunked, or more than declared (the server stops it): grow the reservation
                if self.inflight + (size - box[0]) > self.limits.max_inflight_bytes:
                    return None, self._busy()
                self.inflight += size - box[0]
                box[0] = size
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), None

    def _too_large(self, path: str, n: int, cap: int) -> ApiError:
        if cap == SMALL_BODY_BYTES and path not in UPLOAD_ROUTES:
            return ApiError(413, "upload_too_large", f"the request body is {n:,} bytes or more; {path} takes at most {cap:,} "
                            "(send files to /api/v1/predict or the UI's upload).")
        per_file = self.limits.max_upload_bytes
        return ApiError(413, "upload_too_large", f"the upload is {n:,} bytes or more; the limit is {per_file:,} bytes per file.")

    def _busy(self) -> ApiError:
        return ApiError(503, "server_busy", f"the server holds {self.inflight:,} bytes of uploads already (at most "
                        f"{self.limits.max_inflight_bytes:,}); try again in a moment.", headers={"Retry-After": "1"})

    async def _refuse(self, scope, send, error: ApiError) -> None:
        self.refused[error.code] = self.refused.get(error.code, 0) + 1
        if self.html_error is not None:
            page = self.html_error(scope.get("path", ""), scope.get("method", ""), error)
            if page is not None:
                headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(page)).encode()),
                           (b"connection", b"close")] + [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
                await send({"type": "http.response.start", "status": error.status, "headers": headers})
                await send({"type": "http.response.body", "body": page})
                return
        await send_json(send, error)

    async def _deny(self, scope, headers: dict[str, str], send) -> None:
        self.refused["unauthorized"] = self.refused.get("unauthorized", 0) + 1
        path = scope.get("path", "")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        method = scope.get("method", "GET")
        if method in ("GET", "HEAD") and "text/html" in headers.get("accept", "") and not path.startswith("/api/"):
            target = path + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
            location = "/login?next=" + quote(safe_next(target), safe="")
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0"),
                                    (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": b""})
            return
        error = ApiError(401, "unauthorized", "a valid API key is required: header X-API-Key: KEY or Authorization: Bearer KEY "
                         "(or HTTP Basic with the key as the password); in a browser, log in at /login.",
                         headers={"WWW-Authenticate": 'Bearer realm="spoofguard"'})
        has_body = "content-length" in headers or "transfer-encoding" in headers  # unread: do not reuse the connection
        await send_json(send, error, close=has_body)


def _replay(body: bytes, receive):
    """A ``receive`` that hands the app the body read already, then passes on what comes next
    (``http.disconnect``)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
