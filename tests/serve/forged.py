"""Hostile inputs for the security tests, made on the spot: tiny files whose headers lie, and
sockets that stall. Nothing here decodes what it makes."""

from __future__ import annotations

import io
import socket
import struct
import time
import zlib

import numpy as np
from PIL import Image


def png_header(w: int, h: int) -> bytes:
    """A PNG that claims ``w`` x ``h`` RGB pixels in ~100 bytes (a decompression bomb's first bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def gif_header(w: int, h: int) -> bytes:
    """A GIF whose screen and one frame claim ``w`` x ``h`` (a few dozen bytes)."""
    return (b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00"
            + b"," + struct.pack("<HHHH", 0, 0, w, h) + b"\x00" + b"\x02\x02\x44\x01\x00;")


def jpeg_header(w: int, h: int) -> bytes:
    """A real 16x16 JPEG whose SOF0 segment is rewritten to claim ``w`` x ``h`` (about 630 bytes)."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, format="JPEG", quality=50)
    data = bytearray(buf.getvalue())
    i = data.find(b"\xff\xc0")
    data[i + 5:i + 7] = struct.pack(">H", h)
    data[i + 7:i + 9] = struct.pack(">H", w)
    return bytes(data)


BOMBS = {"png-30000x30000": png_header(30000, 30000), "gif-65535x65535": gif_header(65535, 65535),
         "jpeg-65000x65000": jpeg_header(65000, 65000)}


def grey16_png(array: np.ndarray) -> bytes:
    """A 16-bit greyscale PNG (``I;16``) of a uint16 array, as fingerprint sensors write them."""
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def stalled_upload(host: str, port: int, path: str = "/api/v1/predict", declared: int = 1_000_000, sent: int = 100_000,
                   headers: str = "") -> socket.socket:
    """A socket that sends a request's headers (declaring ``declared`` body bytes) and ``sent`` bytes
    of the body, then stalls."""
    s = socket.create_connection((host, port), timeout=10)
    s.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=xx\r\n"
               f"Content-Length: {declared}\r\n{headers}\r\n").encode() + b"x" * sent)
    return s


def read_until_closed(s: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection (or ``limit_s`` pass), and when."""
    t0 = time.monotonic()
    data = b""
    s.settimeout(0.2)
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
    return data, time.monotonic() - t0


def status_of(response: bytes) -> int | None:
    try:
        return int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None
