"""A picture, a video or a pickle given where the model goes: said in those words, not as a parser's error."""

import numpy as np
import pytest
from PIL import Image

from spoofguard.cli import main


@pytest.mark.parametrize("suffix", [".safetensors", ".onnx", ".jpg"])
def test_an_image_given_as_the_model_is_named_as_an_image(tmp_path, capsys, suffix):
    path = tmp_path / f"model{suffix}"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, format="JPEG")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "looks like a JPEG image, not a model" in err and "header too large" not in err and "Traceback" not in err


def test_a_pickle_is_named_and_never_loaded(tmp_path, capsys):
    import pickle

    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    assert main(["info", str(path)]) == 2
    assert "pickled PyTorch checkpoint, which spoofguard never loads" in capsys.readouterr().err


def test_unknown_bytes_keep_the_parsers_reason(tmp_path, capsys):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"garbage bytes")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a readable ONNX model" in err and "looks like" not in err
