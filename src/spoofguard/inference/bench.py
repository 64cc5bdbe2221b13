"""How fast a model runs here: latency at batch 1, throughput at batch 32, the face pipeline's frames/s.

``bench(path)`` measures, for each backend the model can run on (a ``.safetensors`` bundle: torch and
onnx; an ``.onnx`` file: onnx):

- **latency** p50 / p95 of one capture's views at batch 1 (a face: one crop per member and scale;
  a fingerprint patch model: one patch), the model alone;
- **throughput** in views per second at batch 32, the model alone;
- the **end-to-end cost of one capture**, as ``Detector.predict`` spends it: for face models face
  detection, crops and classification on a 640x480 frame (frames per second); for fingerprint models
  decoding, foreground segmentation and every patch the capture is cut into (a print is tens of
  patches, so a model's views/s says little about prints/s).

Inputs are random views (the model's speed does not depend on the pixels) and, for the pipeline, a
real portrait in a 640x480 frame (matplotlib's sample photo), a synthetic 500x500 fingerprint
capture, or a capture the caller gives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass
class BenchRow:
    model: str
    backend: str
    latency_p50_ms: float
    latency_p95_ms: float
    throughput: float  # views per second at batch 32
    views_per_capture: int
    pipeline_fps: float | None = None  # captures per second end to end (faces: detect + crop + classify on 640x480; prints: all patches)
    pipeline_p50_ms: float | None = None
    face_detector: str = ""
    capture_views: int | None = None  # views the end-to-end capture was cut into (a print's patches)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def default_frame() -> np.ndarray:
    """A 640x480 frame with a real face in it (matplotlib's Grace Hopper), as a webcam would give."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        face = im.convert("RGB").resize((240, 281))
    canvas = Image.new("RGB", (640, 480), (70, 70, 70))
    canvas.paste(face, (200, 100))
    return np.asarray(canvas)


def default_print(size: int = 500, seed: int = 0) -> np.ndarray:
    """A synthetic bona fide fingerprint capture, ``uint8 (size, size, 1)`` (the generator's own sensor model)."""
    from spoofguard.data.synth.fingerprint import make_finger, render

    rng = np.random.default_rng(seed)
    img = render(make_finger(rng), rng, size)
    return (img if img.ndim == 3 else img[..., None]).astype(np.uint8)


def bench(path, backends: list[str] | None = None, frame: np.ndarray | None = None, runs: int = 50,
          batch: int = 32, seconds: float = 2.0) -> list[BenchRow]:
    from spoofguard.inference.detector import Detector

    name = str(path)
    from spoofguard.inference.ensemble import runs_on_torch_only

    if not backends:  # every backend the model runs on
        onnx_file = str(path).lower().endswith(".onnx")
        backends = ["onnx"] if onnx_file else ["torch"] if runs_on_torch_only(path) else ["torch", "onnx"]
    rows = []
    for backend in backends:
        det = Detector.from_file(path, backend=backend)
        one = _views(det, 1)
        lat = _latencies(lambda: det.runner(one), runs)
        many = _views(det, batch)
        n_batches, took = _repeat(lambda: det.runner(many), seconds)
        row = BenchRow(name, backend, _ms(lat, 50), _ms(lat, 95), n_batches * batch / took, len(one[0]))
        f = frame if frame is not None else default_frame() if det.uses_faces else default_print()
        first = det.predict(f)
        if first.score is None:
            row.face_detector = "no face found in the frame" if det.uses_faces else f"no result: {first.note}"
        else:
            pipe = _latencies(lambda: det.predict(f), max(10, runs // 2))
            row.pipeline_p50_ms = _ms(pipe, 50)
            row.pipeline_fps = 1.0 / float(np.mean(pipe))
            row.capture_views = int(getattr(first, "views", 1) or 1)
            if det.uses_faces:
                row.face_detector = (det.face_finder or _finder(det)).name
        rows.append(row)
    return rows


def _finder(det):
    from spoofguard.modalities.face import finder_for

    return finder_for(det.preprocessing.face_detector, min_face=det.preprocessing.face_min)


def _views(det, n: int) -> list[np.ndarray]:
    """Random uint8 views, one array per member: ``n`` captures' worth (a face: its scales; a temporal
    model: clips of its frames)."""
    rng = np.random.default_rng(0)
    out = []
    for m in det.members:
        p = m.preprocessing
        per = len(p.face_scales) if p.crop == "face" else 1
        clip = (p.clip_frames,) if p.clip_frames else ()  # temporal models take clips of frames
        out.append(rng.integers(0, 256, (n * per,) + clip + (p.input_size, p.input_size, p.channels), dtype=np.uint8))
    return out


def _latencies(fn, runs: int) -> np.ndarray:
    for _ in range(3):
        fn()  # warm-up: allocations, lazy initialisation
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return np.asarray(times)


def _repeat(fn, seconds: float) -> tuple[int, float]:
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        took = time.perf_counter() - start
        if took >= seconds and n >= 3:
            return n, took


def _ms(times: np.ndarray, q: float) -> float:
    return float(np.percentile(times, q) * 1000.0)
