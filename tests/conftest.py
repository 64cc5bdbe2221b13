"""Shared fixtures: tiny self-made datasets, nothing downloaded, nothing from ../shared."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ["SPOOFGUARD_CACHE_DIR"] = tempfile.mkdtemp(prefix="spoofguard-test-cache-")  # never the user's cache
os.environ["SPOOFGUARD_HOME"] = tempfile.mkdtemp(prefix="spoofguard-test-home-")  # nor the user's pulled models
torch.set_num_threads(1)  # torch with 2 threads collapses when another process is busy


def ridge_image(rng: np.random.Generator, attack: bool, size=(72, 64)) -> np.ndarray:
    """A grey fingerprint-like texture: crisp ridges for bona fide, softened low-contrast ones for attacks."""
    h, w = size
    y, x = np.mgrid[:h, :w]
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.5, 0.7)
    img = np.sin(freq * (x * np.cos(angle) + y * np.sin(angle)))
    if attack:
        img = np.tanh(0.6 * img) * 0.5
    img = 128 + 100 * img + rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_dataset(root: Path, n_live=24, species=("gelatine", "latex"), n_per_species=12, subjects=6, seed=0) -> Path:
    """``root/live/S_I.png`` and ``root/Fake/<Species>/S_I.png`` with subject S in the file name."""
    rng = np.random.default_rng(seed)
    folders = [("live", False, n_live)] + [(f"Fake/{sp.capitalize()}", True, n_per_species) for sp in species]
    for folder, attack, n in folders:
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(ridge_image(rng, attack)).save(d / f"{i % subjects}_{i}.png")
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture()
def dataset_copy(tiny_dataset, tmp_path) -> Path:
    """A private copy a test may damage."""
    return Path(shutil.copytree(tiny_dataset, tmp_path / "tiny"))


@pytest.fixture(scope="session")
def trained_run(tiny_dataset, tmp_path_factory):
    """One tiny padnet training run shared by the tests that only read it."""
    from spoofguard.training.train import train

    out = tmp_path_factory.mktemp("runs") / "padnet"
    result = train(data=str(tiny_dataset), out=str(out), modality="fingerprint", model="padnet", epochs=2,
                   input_size=32, subject_pattern=r"^(\d+)_", progress=False)
    return result


def face_photo() -> np.ndarray:
    """A real portrait that ships with matplotlib (Grace Hopper), RGB uint8: drawn faces are not faces."""
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        return np.asarray(im.convert("RGB"))


def face_frame(size=(480, 640), at=(180, 100), face_width=220, background=40) -> np.ndarray:
    """A webcam-sized frame with the portrait pasted at ``at`` = (x, y)."""
    photo = Image.fromarray(face_photo())
    photo = photo.resize((face_width, round(face_width * photo.height / photo.width)))
    canvas = Image.new("RGB", (size[1], size[0]), (background,) * 3)
    canvas.paste(photo, at)
    return np.asarray(canvas)


@pytest.fixture(scope="session")
def face_bundle(tmp_path_factory) -> Path:
    """An untrained padnet face bundle (32 px crops at scales 1.0 and 2.7): the pipeline, not the skill."""
    from spoofguard.inference.bundle import save_bundle
    from spoofguard.modalities import Preprocessing
    from spoofguard.models import create_model

    torch.manual_seed(0)
    model = create_model("padnet", classes=["bona_fide", "attack"], in_chans=3)
    pre = Preprocessing("face", 32, crop="face", face_scales=[1.0, 2.7], face_detector="mtcnn")
    return save_bundle(tmp_path_factory.mktemp("face") / "model.safetensors", model,
                       {"classes": ["bona_fide", "attack"], "preprocessing": pre.to_dict(), "threshold": 0.5})


def write_video(target, frames, fps: int = 10, container: str | None = None):
    """Write RGB ``frames`` (even sides) as mpeg4 video (every PyAV build has the codec) to a path or a
    binary buffer (then ``container``, e.g. "mp4", is needed); returns ``target``."""
    import av

    with av.open(target if not isinstance(target, (str, Path)) else str(target), "w", format=container) as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return target
