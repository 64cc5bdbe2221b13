"""A bounded load test of ``spoofguard serve``: loopback only, stops by itself.

    python benchmarks/load_test.py MODEL [--clients 16] [--seconds 30] [--image PATH] [--workers 1]
                                         [--warmup 5] [--no-ui] [--backend auto] [--json out.json]

It starts the server itself (``python -m spoofguard.cli serve MODEL --host 127.0.0.1 --port <free>``,
in its own process group), waits for ``/readyz``, sends ``--warmup`` seconds of requests that are not
counted (every worker loads its model and warms up), then runs ``--clients`` threads, each with its own
keep-alive ``httpx.Client``, posting the image to ``/api/v1/predict`` for ``--seconds``. Meanwhile a
separate thread asks ``/healthz`` once a second: its latency shows whether the event loop stays free
while predictions run. The server is always stopped at the end (SIGTERM to its process group, then
SIGKILL after 15 s), also on Ctrl-C or an error.

Reports requests, requests/s, latency p50/p95/p99 (ms), errors (non-200 answers and exceptions; the
first few are printed), the verdicts returned and the largest /healthz latency. Exit status 1 when
any request failed, 2 when the server did not start. The default image is a 640x480 JPEG of a frame
with a real face (:func:`spoofguard.inference.bench.default_frame`). The clients run on the same
machine as the server and share its cores: the figures are a lower bound of what the server does.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import json
import mimetypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
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


class Server:
    """``spoofguard serve`` as a subprocess in its own process group; a context manager that always stops it."""

    def __init__(self, model: str, host: str, port: int, workers: int, ui: bool, backend: str):
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        self.cmd = [sys.executable, "-m", "spoofguard.cli", "serve", str(model), "--host", host, "--port", str(port),
                    "--workers", str(workers), "--backend", backend] + ([] if ui else ["--no-ui"])
        self.log = tempfile.NamedTemporaryFile(prefix="spoofguard-load-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        return self

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

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # uvicorn's supervisor and its workers
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return self.proc.wait(timeout=5)

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self.log.close()
            if exc[0] is None:
                os.unlink(self.log.name)
            else:
                print(f"server log kept: {self.log.name}", file=sys.stderr)


def run_load(url: str, image: bytes, filename: str, clients: int, seconds: float, warmup: float,
             stop: threading.Event) -> dict:
    import httpx

    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    lock = threading.Lock()
    latencies: list[float] = []  # of the requests started in the measured window
    completed: list[float] = []  # when each answer came (throughput: the answers inside the window)
    errors: list[str] = []
    verdicts: Counter = Counter()
    health: list[float] = []
    t_start = time.monotonic() + warmup  # counting begins here
    t_end = t_start + seconds

    def client_loop():
        with httpx.Client(timeout=60.0) as client:
            while not stop.is_set():
                t0 = time.monotonic()
                if t0 >= t_end:
                    return
                counted = t0 >= t_start
                try:
                    r = client.post(url + "/api/v1/predict", files={"file": (filename, image, content_type)})
                    dt = time.monotonic() - t0
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
        "healthz": {"polls": len(health), "max_ms": round(1000 * max(health), 1) if health else None,
                    "p50_ms": round(percentile([1000 * h for h in health], 50), 1) if health else None},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="model.safetensors (or .onnx) to serve")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of uncounted requests before measuring")
    ap.add_argument("--image", type=Path, help="the file to post (default: a 640x480 JPEG with a face)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (spoofguard serve --workers)")
    ap.add_argument("--host", default="127.0.0.1", help="loopback only (127.0.0.0/8, ::1, localhost)")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--no-ui", action="store_true", help="serve without the Gradio UI")
    ap.add_argument("--startup-timeout", type=float, default=180.0)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)

    if not is_loopback(args.host):
        ap.error(f"--host {args.host}: this load test only runs against loopback (127.0.0.1, ::1, localhost).")
    if not (1 <= args.clients <= 256) or not (0 < args.seconds <= 600) or not (0 <= args.warmup <= 120) or args.workers < 1:
        ap.error("bounds: 1 <= --clients <= 256, 0 < --seconds <= 600, 0 <= --warmup <= 120, --workers >= 1.")
    if not args.model.exists():
        ap.error(f"{args.model}: no such model file.")
    image = args.image.read_bytes() if args.image else default_jpeg()
    filename = args.image.name if args.image else "face.jpg"
    port = args.port or free_port(args.host)

    def on_term(signum, frame):  # a polite kill stops the server too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    stop = threading.Event()
    try:
        with Server(args.model, args.host, port, args.workers, not args.no_ui, args.backend) as server:
            print(f"starting: {' '.join(server.cmd)}", flush=True)
            t0 = time.monotonic()
            try:
                server.wait_ready(args.startup_timeout)
            except RuntimeError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            print(f"ready in {time.monotonic() - t0:.1f} s; {args.clients} clients for {args.warmup:g} s warm-up + "
                  f"{args.seconds:g} s on {server.url}", flush=True)
            try:
                result = run_load(server.url, image, filename, args.clients, args.seconds, args.warmup, stop)
            finally:
                stop.set()
            status = server.stop()
    except KeyboardInterrupt:
        stop.set()
        print("interrupted: the server was stopped", file=sys.stderr)
        return 130

    result.update(model=str(args.model), workers=args.workers, image=filename, image_bytes=len(image),
                  ui=not args.no_ui, backend=args.backend, server_exit_status=status, cpu_count=os.cpu_count())
    lat, hz = result["latency_ms"], result["healthz"]
    print(f"requests     {result['requests']} in {result['elapsed_s']} s  ->  {result['requests_per_s']} req/s "
          f"({args.clients} clients, {args.workers} worker(s))")
    print(f"latency ms   p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  max {lat['max']}")
    print(f"errors       {result['errors']}")
    for e in result["first_errors"]:
        print(f"  {e}")
    print(f"verdicts     {result['verdicts']}")
    print(f"/healthz     {hz['polls']} polls, p50 {hz['p50_ms']} ms, max {hz['max_ms']} ms")
    print(f"client CPU   {result['client_cpu_s']} s over {args.warmup + args.seconds:g} s "
          f"(the clients share the machine's {os.cpu_count()} cores with the server)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
