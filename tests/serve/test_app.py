"""The HTTP service with FastAPI's TestClient: every route, every bad upload, and the server survives."""

import io
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from spoofguard.serve.app import ServeSettings, create_app  # noqa: E402
from spoofguard.serve.uploads import Limits  # noqa: E402
from tests.conftest import face_frame, write_video  # noqa: E402


def _jpeg(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _png_header(w, h) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _mp4(frames) -> bytes:
    return write_video(io.BytesIO(), frames, container="mp4").getvalue()


@pytest.fixture(scope="module")
def client(face_bundle):
    app = create_app(ServeSettings(str(face_bundle), limits=Limits(max_upload_bytes=2_000_000, max_pixels=5_000_000, max_batch_files=4), ui=False))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def face_jpeg():
    return _jpeg(face_frame())


def _error(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code and body["status"] == status and body["message"]


def test_health_ready_model_and_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model"].startswith("padnet:")
    m = client.get("/api/v1/model").json()
    assert m["modality"] == "face" and m["classes"] == ["bona_fide", "attack"] and m["backend"] == "onnx"
    assert "weights" not in m["metadata"] and m["metadata"]["preprocessing"]["crop"] == "face"
    assert client.get("/docs").status_code == 200 and "/api/v1/predict" in client.get("/openapi.json").json()["paths"]


def test_predict_an_image(client, face_jpeg):
    r = client.post("/api/v1/predict", files={"file": ("frame.jpg", face_jpeg, "image/jpeg")})
    body = r.json()
    assert r.status_code == 200 and body["kind"] == "image" and body["faces"] == 1
    assert 0 <= body["score"] <= 1 and body["verdict"] in ("bona_fide", "attack") and set(body["probabilities"]) == {"bona_fide", "attack"}
    assert len(body["regions"]) == 1 and body["model"].startswith("padnet:") and body["timings_ms"]["total"] > 0
    assert "heatmap_png" not in body
    r = client.post("/api/v1/predict?heatmap=true", files={"file": ("frame.jpg", face_jpeg, "image/jpeg")})
    png = __import__("base64").b64decode(r.json()["heatmap_png"])
    assert Image.open(io.BytesIO(png)).size == (640, 480)


def test_a_frame_without_a_face_is_a_result_not_an_error(client):
    r = client.post("/api/v1/predict", files={"file": ("room.jpg", _jpeg(np.full((240, 320, 3), 90, np.uint8)), "image/jpeg")})
    assert r.status_code == 200 and r.json()["verdict"] == "no_face" and r.json()["score"] is None


def test_predict_a_video(client):
    face = face_frame(size=(240, 320), at=(80, 20), face_width=140)
    data = _mp4([face] * 4 + [np.full((240, 320, 3), 90, np.uint8)] * 2)
    r = client.post("/api/v1/predict", files={"file": ("clip.bin", data, "application/octet-stream")})  # type from content
    body = r.json()
    assert r.status_code == 200 and body["kind"] == "video" and len(body["frames"]) == 6 and body["frames_without_face"] == [4, 5]


@pytest.mark.parametrize("name, data, status, code", [
    ("empty.jpg", b"", 400, "empty_file"),
    ("text.jpg", b"just some text, not a picture", 415, "unsupported_type"),
    ("bomb.png", _png_header(20000, 20000), 413, "too_many_pixels"),
    ("noframes.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40, 422, "unreadable_video"),
])
def test_bad_uploads_get_a_json_error(client, name, data, status, code):
    _error(client.post("/api/v1/predict", files={"file": (name, data, "image/jpeg")}), status, code)


def test_a_truncated_jpeg(client, face_jpeg):
    _error(client.post("/api/v1/predict", files={"file": ("cut.jpg", face_jpeg[: len(face_jpeg) // 3], "image/jpeg")}), 422, "unreadable_image")


def test_an_oversized_upload_is_refused_while_reading(client):
    _error(client.post("/api/v1/predict", files={"file": ("big.jpg", b"\xff\xd8\xff" + b"0" * 2_500_000, "image/jpeg")}), 413, "upload_too_large")


def test_missing_file_and_wrong_method(client):
    _error(client.post("/api/v1/predict", data={"x": "1"}), 422, "missing_file")
    _error(client.post("/api/v1/predict"), 422, "missing_file")
    _error(client.get("/api/v1/predict"), 405, "method_not_allowed")
    _error(client.get("/api/v1/nothing"), 404, "not_found")


def test_batch_runs_every_file_and_reports_each_error(client, face_jpeg):
    files = [("files", ("a.jpg", face_jpeg, "image/jpeg")), ("files", ("b.jpg", b"", "image/jpeg")), ("files", ("c.txt", b"hello", "text/plain"))]
    r = client.post("/api/v1/predict/batch", files=files)
    results = r.json()["results"]
    assert r.status_code == 200 and [x["file"] for x in results] == ["a.jpg", "b.jpg", "c.txt"]
    assert results[0]["verdict"] in ("bona_fide", "attack")
    assert results[1]["error"]["code"] == "empty_file" and results[2]["error"]["code"] == "unsupported_type"
    _error(client.post("/api/v1/predict/batch", files=[("files", (f"{i}.jpg", face_jpeg, "image/jpeg")) for i in range(5)]), 413, "too_many_files")


def test_upload_page_shows_the_verdict_and_errors(client, face_jpeg):
    page = client.get("/")
    assert page.status_code == 200 and '<input type="file" id="file" name="file"' in page.text and 'href="/static/style.css"' in page.text
    assert client.get("/static/style.css").status_code == 200
    r = client.post("/", files={"file": ("frame.jpg", face_jpeg, "image/jpeg")})
    assert r.status_code == 200 and 'id="verdict"' in r.text and "data:image/png;base64," in r.text
    bad = client.post("/", files={"file": ("x.jpg", b"not an image", "image/jpeg")})
    assert bad.status_code == 415 and 'role="alert"' in bad.text and "unsupported_type" in bad.text
    face = face_frame(size=(240, 320), at=(80, 20), face_width=140)
    video = client.post("/", files={"file": ("v.mp4", _mp4([face] * 3), "video/mp4")})
    assert video.status_code == 200 and "<svg" in video.text


def test_api_key_guards_every_route_but_health(face_bundle, face_jpeg):
    app = create_app(ServeSettings(str(face_bundle), api_key="s3cret", ui=False))
    with TestClient(app) as c:
        _error(c.get("/api/v1/model"), 401, "unauthorized")
        _error(c.post("/", files={"file": ("f.jpg", face_jpeg, "image/jpeg")}), 401, "unauthorized")  # the page too (issue 17)
        assert c.post("/", files={"file": ("f.jpg", face_jpeg, "image/jpeg")}, headers={"X-API-Key": "s3cret"}).status_code == 200
        _error(c.post("/api/v1/predict", files={"file": ("f.jpg", face_jpeg, "image/jpeg")}, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        assert c.get("/api/v1/model", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/api/v1/model", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/healthz").status_code == 200  # health stays open
        assert "access-control-allow-origin" not in c.get("/healthz", headers={"Origin": "http://evil.example"}).headers


def test_cors_only_when_configured(face_bundle):
    app = create_app(ServeSettings(str(face_bundle), cors_origins=["http://kiosk.local"], ui=False))
    with TestClient(app) as c:
        r = c.get("/healthz", headers={"Origin": "http://kiosk.local"})
        assert r.headers.get("access-control-allow-origin") == "http://kiosk.local"


def test_a_fingerprint_model_refuses_a_face_photo(trained_run, face_jpeg):
    with TestClient(create_app(ServeSettings(str(trained_run.bundle), ui=False))) as c:
        _error(c.post("/api/v1/predict", files={"file": ("f.jpg", face_jpeg, "image/jpeg")}), 422, "prediction_failed")


def test_uploads_never_touch_the_disk_outside_the_private_folder(client, face_jpeg, tmp_path, monkeypatch):
    import os
    import tempfile

    service = client.app.state.service
    assert oct(os.stat(service.folder.path).st_mode & 0o777) == "0o700"
    before = set(os.listdir(tempfile.gettempdir()))
    face = face_frame(size=(240, 320), at=(80, 20), face_width=140)
    client.post("/api/v1/predict", files={"file": ("v.mp4", _mp4([face] * 2), "video/mp4")})
    client.post("/api/v1/predict", files={"file": ("f.jpg", face_jpeg, "image/jpeg")})
    assert os.listdir(service.folder.path) == []  # the video was deleted after the request
    assert set(os.listdir(tempfile.gettempdir())) - before == set()


def test_health_answers_while_predictions_run(client, face_jpeg):
    done = []

    def busy():
        for _ in range(6):
            client.post("/api/v1/predict", files={"file": ("f.jpg", face_jpeg, "image/jpeg")})
        done.append(1)

    threads = [threading.Thread(target=busy) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    assert client.get("/healthz").status_code == 200
    health_s = time.perf_counter() - t0
    for t in threads:
        t.join()
    assert len(done) == 2 and health_s < 5.0


def test_the_server_survives_every_bad_request(client):
    for data in (b"", b"garbage", _png_header(20000, 20000), b"\xff\xd8\xff\xe0" + b"\x00" * 100):
        client.post("/api/v1/predict", files={"file": ("x.jpg", data, "image/jpeg")})
    client.post("/api/v1/predict", content=b"not multipart", headers={"content-type": "multipart/form-data; boundary=zzz"})
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_the_gradio_ui_is_mounted_at_ui(face_bundle):
    pytest.importorskip("gradio")
    with TestClient(create_app(ServeSettings(str(face_bundle)))) as c:
        r = c.get("/ui/")
        assert r.status_code == 200 and "<html" in r.text.lower()
        assert c.get("/healthz").status_code == 200


def test_serve_cli_refuses_a_missing_key_variable_or_model(face_bundle, monkeypatch, tmp_path):
    from spoofguard.cli import main

    monkeypatch.delenv("SG_TEST_KEY", raising=False)
    assert main(["serve", str(face_bundle), "--api-key-env", "SG_TEST_KEY"]) == 2
    assert main(["serve", str(tmp_path / "nothing.safetensors")]) == 2


def test_the_api_docs_page_loads_nothing_from_other_hosts(client):
    """/docs offline: Swagger UI's script and style come from this server (swagger-ui-bundle), not a CDN."""
    import re

    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *["']([^"']+)["']""", page.text)
    urls = [u for pair in urls for u in pair if u]
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
