"""A bounded load test of ``spoofguard serve``, and the attacks of issue 17: loopback only, stops by itself.

    python benchmarks/load_test.py MODEL [--case load|slow|bomb|uploads|unauth] [--soak SECONDS]
                                         [--clients 16] [--seconds 30] [--image PATH] [--workers 1]
                                         [--warmup 5] [--no-ui] [--backend auto] [--with-key]
                                         [--server-arg=--body-timeout=5 ...] [--json out.json]

It starts the server itself (``python -m spoofguard.cli serve MODEL --host 127.0.0.1 --port <free>``,
in its own process group), waits for ``/readyz``, then runs one case. All along, a thread samples the
resident memory (RSS) of the server's process group from ``/proc`` every 0.2 s, and at the end the
server is stopped with SIGTERM while a UI event stream is open (when the UI is mounted): the time it
takes to exit is reported (SIGKILL after 15 s), also on Ctrl-C or an error.

Cases:

- ``load`` (default): ``--warmup`` seconds of requests that are not counted (every worker loads its
  model and warms up), then ``--clients`` threads, each with its own keep-alive ``httpx.Client``,
  posting the image to ``/api/v1/predict`` for ``--seconds``. Meanwhile a separate thread asks
  ``/healthz`` once a second: its latency shows whether the event loop stays free while predictions
  run. Answers ``503`` ``overloaded`` / ``too_many_uploads`` / ``server_busy`` (the server shedding
  load past ``--max-queue`` and its upload bounds) are counted as *shed*, apart from errors; the
  client then waits the ``Retry-After`` they carry, as a polite client does.
- ``--soak SECONDS``: the ``load`` case for SECONDS (e.g. 600), reporting RSS at start, every
  minute, peak and end, and the growth (end - start, and the slope of a line fitted to the second
  half, MB per minute): a leak shows as growth that does not level off.
- ``slow``: ``--clients`` sockets (default 32) each send a request declaring 20 MB, 1 MB of it, then
  stall. Reports how each ended (the server's status code: 408 ``body_timeout``, 503
  ``too_many_uploads`` / ``server_busy``) and when (seconds after the stall), ``/healthz`` latency
  meanwhile, and the RSS peak. Run with ``--server-arg=--body-timeout=N`` to see another deadline.
- ``bomb``: the forged headers (a PNG claiming 30000x30000 in 109 bytes, a GIF claiming 65535x65535,
  a JPEG whose SOF claims 65000x65000, a 49 MP PNG header) posted to ``/api/v1/predict`` and run
  through the Gradio UI (upload + ``analyse_image``): status, reason, seconds, RSS peak, ``/healthz``.
- ``uploads``: ``--clients`` (default 64) concurrent 20 MB uploads to ``/api/v1/predict``: their
  answers (503 ``too_many_uploads`` / ``server_busy`` past the caps) and the RSS peak.
- ``unauth``: with ``--with-key``, ``--clients`` (default 50) uploads of 19 MB to the UI's upload route
  without the key: how many were refused, and the bytes of the server's private folders after.

``--with-key`` starts the server with a random key (``--api-key-env``); the clients of every case
send it, except ``unauth``'s. Reports requests, requests/s, latency p50/p95/p99 (ms), errors
(non-200 answers other than shed ones, and exceptions; the first few are printed), the verdicts
returned and the largest /healthz latency. Exit status 1 when any request failed, 2 when the server
did not start. The default image is a 640x480 JPEG of a frame with a real face
(:func:`spoofguard.inference.bench.default_frame`). The clients run on the same machine as the
server and share its cores: the figures are a lower bound of what the server does.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import mimetypes
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host.strip("[]"), 0))
        return s.getsockname()[1]


def default_jpeg() -> bytes:
    from PIL import Image

    from spoofguard.inference.bench import default_frame

    buf = io.BytesIO()
    Image.fromarray(default_frame()).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def png_header(w: int, h: int) -> bytes:
    """A PNG that claims ``w`` x ``h`` RGB pixels in about 100 bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def gif_header(w: int, h: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00," + struct.pack("<HHHH", 0, 0, w, h) + b"\x00\x02\x02\x44\x01\x00;"


def jpeg_header(w: int, h: int) -> bytes:
    """A real 16x16 JPEG whose SOF0 claims ``w`` x ``h``."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, format="JPEG", quality=50)
    data = bytearray(buf.getvalue())
    i = data.find(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def bombs() -> dict[str, bytes]:
    return {"png 30000x30000": png_header(30000, 30000), "gif 65535x65535": gif_header(65535, 65535),
            "jpeg 65000x65000": jpeg_header(65000, 65000), "png 7000x7000 (49 MP)": png_header(7000, 7000)}


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in process group ``pgid`` (the server and its workers), MB."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of stat: the process group
                continue
            with open(f"/proc/{entry.name}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1024


class RssSampler(threading.Thread):
    """Samples :func:`group_rss_mb` every ``every`` seconds: ``samples`` = [(t, MB)], ``peak``."""

    def __init__(self, pgid: int, every: float = 0.2):
        super().__init__(daemon=True, name="rss")
        self.pgid, self.every = pgid, every
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.stop.is_set():
            self.samples.append((time.monotonic() - t0, group_rss_mb(self.pgid)))
            self.stop.wait(self.every)

    def now(self) -> float:
        return self.samples[-1][1] if self.samples else group_rss_mb(self.pgid)

    def peak_since(self, t: float = 0.0) -> float:
        return max((mb for ts, mb in self.samples if ts >= t), default=self.now())

    def elapsed(self) -> float:
        return self.samples[-1][0] if self.samples else 0.0


class Server:
    """``spoofguard serve`` as a subprocess in its own process group; a context manager that always stops it."""

    def __init__(self, model: str, host: str, port: int, workers: int, ui: bool, backend: str, key: str | None = None,
                 extra: list[str] | None = None):
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        self.host, self.port, self.ui, self.key = host, port, ui, key
        self.cmd = [sys.executable, "-m", "spoofguard.cli", "serve", str(model), "--host", host, "--port", str(port),
                    "--workers", str(workers), "--backend", backend] + ([] if ui else ["--no-ui"])
        if key:
            self.cmd += ["--api-key-env", "SPOOFGUARD_LOAD_TEST_KEY"]
        self.cmd += list(extra or [])
        self.log = tempfile.NamedTemporaryFile(prefix="spoofguard-load-", suffix=".log", delete=False)
        self.tmp = tempfile.mkdtemp(prefix="spoofguard-load-tmp-")  # the server's TMPDIR: its private folders land here
        self.proc: subprocess.Popen | None = None
        self.shutdown_s: float | None = None
        self.shutdown_stream_open = False

    def __enter__(self) -> "Server":
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", TMPDIR=self.tmp)
        if self.key:
            env["SPOOFGUARD_LOAD_TEST_KEY"] = self.key
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        return self

    @property
    def headers(self) -> dict:
        return {"X-API-Key": self.key} if self.key else {}

    def wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with status {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(self.url + "/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-chars:]

    def private_bytes(self) -> int:
        total = 0
        for root, _, files in os.walk(self.tmp):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
        return total

    def _open_ui_stream(self):
        """A socket holding the Gradio UI's heartbeat event stream open (what a browser tab keeps)."""
        if not self.ui:
            return None
        try:
            s = socket.create_connection((self.host.strip("[]"), self.port), timeout=5)
            key = f"X-API-Key: {self.key}\r\n" if self.key else ""
            s.sendall(f"GET /ui/gradio_api/heartbeat/loadtest HTTP/1.1\r\nHost: {self.host}\r\n{key}\r\n".encode())
            got, t0 = b"", time.monotonic()
            while b"ALIVE" not in got and time.monotonic() - t0 < 5:
                got += s.recv(4096)
            self.shutdown_stream_open = b"ALIVE" in got
            return s
        except OSError:
            return None

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        stream = self._open_ui_stream()
        t0 = time.monotonic()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # uvicorn's supervisor and its workers
        except ProcessLookupError:
            pass
        try:
            status = self.proc.wait(timeout=15)
            self.shutdown_s = round(time.monotonic() - t0, 2)
            return status
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return self.proc.wait(timeout=5)
        finally:
            if stream is not None:
                stream.close()

    def __exit__(self, *exc) -> None:
        import shutil

        try:
            self.stop()
        finally:
            self.log.close()
            self.leftover_bytes = self.private_bytes()
            shutil.rmtree(self.tmp, ignore_errors=True)
            if exc[0] is None:
                os.unlink(self.log.name)
            else:
                print(f"server log kept: {self.log.name}", file=sys.stderr)


SHED_CODES = {"overloaded", "too_many_uploads", "server_busy"}


def shed_reason(response) -> str | None:
    """The code of a 503 the server sheds load with (it says when to come back), else None."""
    if response.status_code != 503:
        return None
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if code in SHED_CODES else None


def error_code(response) -> str | None:
    """The stable code of a JSON error answer, or None."""
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def retry_after(response, cap: float = 5.0) -> float:
    try:
        return min(cap, max(0.0, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def run_load(url: str, image: bytes, filename: str, clients: int, seconds: float, warmup: float,
             stop: threading.Event, headers: dict | None = None) -> dict:
    import httpx

    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    lock = threading.Lock()
    latencies: list[float] = []  # of the requests started in the measured window
    completed: list[float] = []  # when each answer came (throughput: the answers inside the window)
    errors: list[str] = []
    shed: list[float] = []  # 503s with Retry-After: the server refusing at once past its bounds
    shed_codes: Counter = Counter()
    verdicts: Counter = Counter()
    health: list[float] = []
    t_start = time.monotonic() + warmup  # counting begins here
    t_end = t_start + seconds

    def client_loop():
        with httpx.Client(timeout=60.0, headers=headers or {}) as client:
            while not stop.is_set():
                t0 = time.monotonic()
                if t0 >= t_end:
                    return
                counted = t0 >= t_start
                try:
                    r = client.post(url + "/api/v1/predict", files={"file": (filename, image, content_type)})
                    dt = time.monotonic() - t0
                    shed_code = shed_reason(r)
                    if shed_code:
                        with lock:
                            if counted:
                                shed.append(dt)
                                shed_codes[shed_code] += 1
                        stop.wait(retry_after(r))  # as a polite client does
                        continue
                    if r.status_code != 200:
                        err = f"HTTP {r.status_code}: {r.text[:200]}"
                    else:
                        err = None
                        verdict = r.json().get("verdict")
                except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                    dt, err = time.monotonic() - t0, f"{type(e).__name__}: {e}"
                with lock:
                    if err is not None:
                        errors.append(("" if counted else "(warm-up) ") + err)
                    else:
                        completed.append(t0 + dt)
                        if counted:
                            latencies.append(dt)
                            verdicts[verdict] += 1

    def health_loop():
        with httpx.Client(timeout=10.0) as client:
            next_t = time.monotonic()
            while not stop.is_set() and next_t < t_end:
                t0 = time.monotonic()
                try:
                    r = client.get(url + "/healthz")
                    dt = time.monotonic() - t0
                    if r.status_code != 200:
                        with lock:
                            errors.append(f"/healthz HTTP {r.status_code}")
                    elif t0 >= t_start:
                        health.append(dt)
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(f"/healthz {type(e).__name__}: {e}")
                next_t += 1.0
                stop.wait(max(0.0, next_t - time.monotonic()))

    threads = [threading.Thread(target=client_loop, daemon=True, name=f"client-{i}") for i in range(clients)]
    threads.append(threading.Thread(target=health_loop, daemon=True, name="healthz"))
    cpu0 = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():  # short joins, so Ctrl-C reaches the main thread
            t.join(timeout=0.5)
    elapsed = min(time.monotonic(), t_end) - t_start
    client_cpu = time.process_time() - cpu0
    ms = [1000 * x for x in latencies]
    done = sum(t_start <= t <= t_end for t in completed)
    return {
        "clients": clients, "seconds": seconds, "warmup_s": warmup, "elapsed_s": round(elapsed, 2),
        "requests": done, "requests_per_s": round(done / elapsed, 2) if elapsed > 0 else None, "latency_samples": len(ms),
        "latency_ms": {k: (round(v, 1) if v is not None else None) for k, v in
                       (("p50", percentile(ms, 50)), ("p95", percentile(ms, 95)), ("p99", percentile(ms, 99)),
                        ("max", max(ms) if ms else None))},
        "client_cpu_s": round(client_cpu, 1), "errors": len(errors), "first_errors": errors[:5], "verdicts": dict(verdicts),
        "shed_503": len(shed), "shed_codes": dict(shed_codes), "shed_p95_ms": round(1000 * percentile(shed, 95), 1) if shed else None,
        "healthz": {"polls": len(health), "max_ms": round(1000 * max(health), 1) if health else None,
                    "p50_ms": round(percentile([1000 * h for h in health], 50), 1) if health else None},
    }


def _http_status(response: bytes) -> int | None:
    try:
        return int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def _code(response: bytes) -> str | None:
    try:
        return json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]["code"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def run_slow(server: Server, clients: int, rss: RssSampler, declared_mb: float = 20.0, sent_mb: float = 1.0,
             limit_s: float = 120.0) -> dict:
    """``clients`` sockets that declare ``declared_mb`` and stall after ``sent_mb``: how and when each ended."""
    import httpx

    host, port = server.host.strip("[]"), server.port
    key = f"X-API-Key: {server.key}\r\n" if server.key else ""
    t_rss = rss.elapsed()
    socks, t0 = [], time.monotonic()
    for _ in range(clients):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall((f"POST /api/v1/predict HTTP/1.1\r\nHost: {host}\r\n{key}Content-Type: multipart/form-data; boundary=x\r\n"
                   f"Content-Length: {int(declared_mb * 1024 * 1024)}\r\n\r\n").encode())
        try:
            s.sendall(b"\0" * int(sent_mb * 1024 * 1024))
        except OSError:
            pass  # refused and closed at once
        socks.append(s)
    stalled_at = time.monotonic() - t0
    ends: list[tuple[float, int | None, str | None]] = [None] * clients  # type: ignore[list-item]
    health: list[float] = []

    def watch(i, s):
        data = b""
        s.settimeout(0.5)
        while time.monotonic() - t0 < limit_s:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        ends[i] = (time.monotonic() - t0, _http_status(data), _code(data))
        s.close()

    threads = [threading.Thread(target=watch, args=(i, s), daemon=True) for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    with httpx.Client(timeout=10.0) as client:
        while any(t.is_alive() for t in threads):
            h0 = time.monotonic()
            try:
                client.get(server.url + "/healthz")
                health.append(time.monotonic() - h0)
            except httpx.HTTPError:
                health.append(float("inf"))
            time.sleep(0.5)
    for t in threads:
        t.join()
    outcomes = Counter(f"{st} {code}" for _, st, code in ends)
    still_open = sum(st is None and t >= limit_s for t, st, _ in ends)
    return {"case": "slow", "clients": clients, "declared_mb": declared_mb, "sent_mb": sent_mb, "all_sent_in_s": round(stalled_at, 2),
            "outcomes": dict(outcomes), "closed_by_server_within_s": round(max(t for t, _, _ in ends), 2),
            "closed_after_s": {"min": round(min(t for t, _, _ in ends), 2), "p50": round(percentile([t for t, _, _ in ends], 50), 2)},
            "still_open_after_limit": still_open,
            "healthz_max_ms": round(1000 * max(health), 1) if health else None,
            "rss_mb": {"before": round(rss.samples[0][1], 1) if rss.samples else None, "peak": round(rss.peak_since(t_rss), 1),
                       "after": round(rss.now(), 1)}}


def _ui_analyse(client, url: str, data: bytes, name: str) -> tuple[int, str]:
    """Upload through the Gradio UI and run ``analyse_image``: (status of the upload or the event, text shown)."""
    up = client.post(url + "/ui/gradio_api/upload", files=[("files", (name, data, "application/octet-stream"))])
    if up.status_code != 200:
        return up.status_code, up.text[:200]
    payload = {"data": [{"path": up.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}, 0.5]}
    ev = client.post(url + "/ui/gradio_api/call/analyse_image", json=payload)
    if ev.status_code != 200:
        return ev.status_code, ev.text[:200]
    stream = client.get(url + f"/ui/gradio_api/call/analyse_image/{ev.json()['event_id']}").text
    lines = stream.splitlines()
    for i, line in enumerate(lines):
        if line == "event: complete":
            out = json.loads(lines[i + 1].removeprefix("data: "))
            return 200, str(out[2]).replace("\\_", "_")
        if line == "event: error":
            return 500, lines[i + 1][:200]
    return 0, stream[:200]


def run_bomb(server: Server, rss: RssSampler) -> dict:
    """Each forged header through the API and through the UI: status, reason, seconds, RSS peak."""
    import httpx

    rows = []
    with httpx.Client(timeout=120.0, headers=server.headers) as client:
        for name, data in bombs().items():
            for route in ("api", "ui") if server.ui else ("api",):
                t_rss, t0 = rss.elapsed(), time.monotonic()
                if route == "api":
                    r = client.post(server.url + "/api/v1/predict", files={"file": ("bomb", data, "application/octet-stream")})
                    status, reason = r.status_code, error_code(r) or r.text[:80]
                else:
                    status, text = _ui_analyse(client, server.url, data, "bomb.img")
                    found = [c for c in ("too_many_pixels", "unreadable_image", "unsupported_type") if c in text]
                    reason = found[0] if found else text[:120]
                dt = time.monotonic() - t0
                time.sleep(0.3)  # a sample after the answer
                h0 = time.monotonic()
                alive = client.get(server.url + "/healthz").status_code == 200
                rows.append({"file": name, "bytes": len(data), "route": route, "status": status, "reason": reason,
                             "seconds": round(dt, 3), "rss_peak_mb": round(rss.peak_since(t_rss), 1), "healthz": alive,
                             "healthz_ms": round(1000 * (time.monotonic() - h0), 1)})
    return {"case": "bomb", "rows": rows, "rss_peak_mb": round(rss.peak_since(0), 1)}


def run_uploads(server: Server, clients: int, rss: RssSampler, mb: float = 20.0) -> dict:
    """``clients`` concurrent uploads of ``mb`` each to /api/v1/predict: their answers and the RSS peak."""
    import httpx

    data = b"\xff\xd8\xff\xe0" + os.urandom(int(mb * 1024 * 1024) - 4 - 70 * 1024)  # a 'JPEG' just under the limit
    answers: Counter = Counter()
    lock = threading.Lock()
    t_rss = rss.elapsed()
    before = rss.now()

    def one():
        try:
            with httpx.Client(timeout=120.0, headers=server.headers) as client:
                r = client.post(server.url + "/api/v1/predict", files={"file": ("big.jpg", data, "image/jpeg")})
                code = error_code(r) if r.status_code != 200 else "ok"
                key = f"{r.status_code} {code}"
        except Exception as e:  # noqa: BLE001
            key = type(e).__name__
        with lock:
            answers[key] += 1

    threads = [threading.Thread(target=one, daemon=True) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"case": "uploads", "clients": clients, "mb_each": mb, "answers": dict(answers), "seconds": round(time.monotonic() - t0, 2),
            "rss_mb": {"before": round(before, 1), "peak": round(rss.peak_since(t_rss), 1), "after": round(rss.now(), 1)}}


def run_unauth(server: Server, clients: int, mb: float = 19.0) -> dict:
    """``clients`` uploads to the UI's upload route without the key: refused? bytes stored?"""
    import httpx

    data = os.urandom(int(mb * 1024 * 1024))
    answers: Counter = Counter()
    before = server.private_bytes()
    t0 = time.monotonic()
    with httpx.Client(timeout=60.0) as client:  # no key
        for i in range(clients):
            try:
                answers[client.post(server.url + "/ui/gradio_api/upload", files=[("files", (f"{i}.png", data, "image/png"))]).status_code] += 1
            except httpx.HTTPError as e:
                answers[type(e).__name__] += 1
    out = {"case": "unauth", "uploads": clients, "mb_each": mb, "answers": {str(k): v for k, v in answers.items()},
           "seconds": round(time.monotonic() - t0, 2), "private_folder_bytes": {"before": before, "after": server.private_bytes()}}
    # the same uploads with the key: stored, up to the private folder's bound (--max-temp-mb)
    keyed: Counter = Counter()
    largest = 0
    t0 = time.monotonic()
    with httpx.Client(timeout=60.0, headers=server.headers) as client:
        for i in range(clients):
            try:
                r = client.post(server.url + "/ui/gradio_api/upload", files=[("files", (f"{i}.png", data, "image/png"))])
                code = "ok" if r.status_code == 200 else error_code(r)
                keyed[f"{r.status_code} {code}"] += 1
            except httpx.HTTPError as e:
                keyed[type(e).__name__] += 1
            largest = max(largest, server.private_bytes())
    out["keyed_uploads"] = {"answers": dict(keyed), "seconds": round(time.monotonic() - t0, 2), "private_folder_bytes_max": largest}
    return out


def soak_summary(rss: RssSampler, t_start: float, t_end: float) -> dict:
    """RSS over the soak window: start, every minute, peak, end, growth, and the slope of its second half."""
    window = [(t, mb) for t, mb in rss.samples if t_start <= t <= t_end]
    if len(window) < 2:
        return {}
    start, end = window[0][1], window[-1][1]
    half = [(t, mb) for t, mb in window if t >= (window[0][0] + window[-1][0]) / 2]
    n = len(half)
    mt, mm = sum(t for t, _ in half) / n, sum(mb for _, mb in half) / n
    var = sum((t - mt) ** 2 for t, _ in half)
    slope = 60 * sum((t - mt) * (mb - mm) for t, mb in half) / var if var else 0.0
    minutes, next_t = [], window[0][0]
    for t, mb in window:
        if t >= next_t:
            minutes.append(round(mb, 1))
            next_t += 60.0
    return {"rss_start_mb": round(start, 1), "rss_end_mb": round(end, 1), "rss_peak_mb": round(max(mb for _, mb in window), 1),
            "rss_growth_mb": round(end - start, 1), "rss_second_half_slope_mb_per_min": round(slope, 2), "rss_each_minute_mb": minutes}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="model.safetensors (or .onnx) to serve")
    ap.add_argument("--case", choices=["load", "slow", "bomb", "uploads", "unauth"], default="load")
    ap.add_argument("--soak", type=float, metavar="SECONDS", help="the load case for SECONDS (up to 3600), reporting RSS growth")
    ap.add_argument("--clients", type=int, help="load: 16; slow: 32; uploads: 64; unauth: 50 (uploads, one after another)")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of uncounted requests before measuring")
    ap.add_argument("--image", type=Path, help="the file to post (default: a 640x480 JPEG with a face)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (spoofguard serve --workers)")
    ap.add_argument("--host", default="127.0.0.1", help="loopback only (127.0.0.0/8, ::1, localhost)")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--no-ui", action="store_true", help="serve without the Gradio UI")
    ap.add_argument("--with-key", action="store_true", help="serve with a random key (--api-key-env); the clients send it")
    ap.add_argument("--server-arg", action="append", default=[], help="one more argument for spoofguard serve "
                    "(repeatable), e.g. --server-arg=--body-timeout=5")
    ap.add_argument("--startup-timeout", type=float, default=180.0)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)

    clients = args.clients or {"load": 16, "slow": 32, "uploads": 64, "unauth": 50, "bomb": 1}[args.case]
    seconds = args.soak if args.soak else args.seconds
    if not is_loopback(args.host):
        ap.error(f"--host {args.host}: this load test only runs against loopback (127.0.0.1, ::1, localhost).")
    if not (1 <= clients <= 256) or not (0 < seconds <= (3600 if args.soak else 600)) or not (0 <= args.warmup <= 120) or args.workers < 1:
        ap.error("bounds: 1 <= --clients <= 256, 0 < --seconds <= 600 (--soak <= 3600), 0 <= --warmup <= 120, --workers >= 1.")
    if args.soak and args.case != "load":
        ap.error("--soak runs the load case.")
    if args.case == "unauth" and not args.with_key:
        ap.error("--case unauth needs --with-key (without a key every upload is allowed).")
    if not args.model.exists():
        ap.error(f"{args.model}: no such model file.")
    image = args.image.read_bytes() if args.image else default_jpeg()
    filename = args.image.name if args.image else "face.jpg"
    port = args.port or free_port(args.host)
    key = secrets.token_urlsafe(16) if args.with_key else None

    def on_term(signum, frame):  # a polite kill stops the server too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    stop = threading.Event()
    try:
        with Server(args.model, args.host, port, args.workers, not args.no_ui, args.backend, key, args.server_arg) as server:
            print(f"starting: {' '.join(server.cmd)}", flush=True)
            t0 = time.monotonic()
            try:
                server.wait_ready(args.startup_timeout)
            except RuntimeError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            rss = RssSampler(server.proc.pid)
            rss.start()
            time.sleep(0.5)
            idle_rss = rss.now()
            print(f"ready in {time.monotonic() - t0:.1f} s (RSS {idle_rss:.0f} MB); case {args.case}"
                  + (f", soak {seconds:g} s" if args.soak else "") + f" on {server.url}", flush=True)
            try:
                if args.case == "load":
                    t_start = rss.elapsed() + args.warmup
                    result = run_load(server.url, image, filename, clients, seconds, args.warmup, stop, server.headers)
                    if args.soak:
                        result["soak"] = soak_summary(rss, t_start, rss.elapsed())
                elif args.case == "slow":
                    result = run_slow(server, clients, rss)
                elif args.case == "bomb":
                    result = run_bomb(server, rss)
                elif args.case == "uploads":
                    result = run_uploads(server, clients, rss)
                else:
                    result = run_unauth(server, clients)
            finally:
                stop.set()
            result["rss_idle_mb"] = round(idle_rss, 1)
            rss.stop.set()
            status = server.stop()
        result["shutdown"] = {"sigterm_to_exit_s": server.shutdown_s, "ui_stream_was_open": server.shutdown_stream_open,
                              "private_folder_bytes_left": server.leftover_bytes}
    except KeyboardInterrupt:
        stop.set()
        print("interrupted: the server was stopped", file=sys.stderr)
        return 130

    result.update(model=str(args.model), workers=args.workers, ui=not args.no_ui, backend=args.backend, with_key=bool(key),
                  server_args=args.server_arg, server_exit_status=status, cpu_count=os.cpu_count())
    report(args.case, result, clients, args.workers, args.warmup, seconds, image, filename)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result.get("errors") else 0


def report(case: str, result: dict, clients: int, workers: int, warmup: float, seconds: float, image: bytes, filename: str) -> None:
    if case == "load":
        result.update(image=filename, image_bytes=len(image))
        lat, hz = result["latency_ms"], result["healthz"]
        print(f"requests     {result['requests']} in {result['elapsed_s']} s  ->  {result['requests_per_s']} req/s "
              f"({clients} clients, {workers} worker(s))")
        print(f"latency ms   p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  max {lat['max']}")
        print(f"errors       {result['errors']}")
        for e in result["first_errors"]:
            print(f"  {e}")
        print(f"shed (503)   {result['shed_503']} {result['shed_codes']} (answered in p95 {result['shed_p95_ms']} ms; "
              "the client then waits Retry-After)")
        print(f"verdicts     {result['verdicts']}")
        print(f"/healthz     {hz['polls']} polls, p50 {hz['p50_ms']} ms, max {hz['max_ms']} ms")
        print(f"client CPU   {result['client_cpu_s']} s over {warmup + seconds:g} s "
              f"(the clients share the machine's {os.cpu_count()} cores with the server)")
        if result.get("soak"):
            sk = result["soak"]
            print(f"soak RSS     start {sk['rss_start_mb']} MB, end {sk['rss_end_mb']} MB, peak {sk['rss_peak_mb']} MB, "
                  f"growth {sk['rss_growth_mb']} MB, second-half slope {sk['rss_second_half_slope_mb_per_min']} MB/min")
            print(f"             each minute: {sk['rss_each_minute_mb']}")
    elif case == "bomb":
        for r in result["rows"]:
            print(f"{r['file']:<24} {r['bytes']:>5} B  {r['route']:<3}  HTTP {r['status']}  {r['reason']:<18} "
                  f"{r['seconds']:.3f} s  RSS peak {r['rss_peak_mb']} MB  /healthz {'ok' if r['healthz'] else 'DOWN'} ({r['healthz_ms']} ms)")
    else:
        for k, v in result.items():
            if k not in ("model", "cpu_count", "server_args", "backend"):
                print(f"{k:<28} {v}")
    sd = result.get("shutdown", {})
    print(f"shutdown     SIGTERM -> exit {sd.get('sigterm_to_exit_s')} s (UI stream open: {sd.get('ui_stream_was_open')}); "
          f"private folder bytes left: {sd.get('private_folder_bytes_left')}")


if __name__ == "__main__":
    sys.exit(main())
