"""`spoofguard models list | pull` and zoo names wherever a model is taken (predict, info, Detector)."""

import hashlib
import json

import pytest
import torch

from spoofguard import zoo
from spoofguard.cli import main
from spoofguard.inference.ensemble import SILENT_FACE
from spoofguard.models import create_model

torch.set_num_threads(1)


@pytest.fixture()
def fake_silent_face(tmp_path, monkeypatch):
    """The silent-face entry re-pinned to randomly initialised files of the published names and format."""
    monkeypatch.setenv("SPOOFGUARD_HOME", str(tmp_path / "home"))
    folder = tmp_path / "published"
    folder.mkdir()
    files = []
    for arch, name, _ in SILENT_FACE:
        m = create_model(arch, classes=["attack_0", "bona_fide", "attack_2"])
        torch.save({f"module.{k}": v for k, v in m.state_dict().items()}, folder / name)
        data = (folder / name).read_bytes()
        files.append(zoo.ZooFile(name, f"http://127.0.0.1:9/{name}", hashlib.sha256(data).hexdigest(), len(data)))
    real = zoo.entry("silent-face")
    zoo.register(zoo.ZooEntry(real.name, real.description, real.licence, real.source, tuple(files), real.convert), replace=True)
    yield folder
    zoo.register(real, replace=True)


def test_list_pull_then_use_the_name_as_a_model(fake_silent_face, capsys):
    from tests.conftest import face_frame
    from PIL import Image

    assert main(["models", "list"]) == 0
    assert "silent-face" in capsys.readouterr().out
    frame = fake_silent_face.parent / "frame.png"
    Image.fromarray(face_frame()).save(frame)
    assert main(["predict", "silent-face", str(frame)]) == 2  # not pulled yet: one line saying how
    assert "models pull silent-face" in capsys.readouterr().err.replace("\n", " ")
    assert main(["models", "pull", "silent-face", "--from", str(fake_silent_face)]) == 0
    capsys.readouterr()
    assert main(["predict", "silent-face", str(frame), "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["verdict"] in ("bona_fide", "attack") and 0 <= row["score"] <= 1
    assert main(["info", "silent-face"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"]["name"] == "ensemble" and info["published"]["licence"] == "Apache-2.0"
