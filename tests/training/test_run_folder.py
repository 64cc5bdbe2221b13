"""Issue 17, finding 6: run folders that know where they are. A copied or moved run resumes into itself and
writes nothing anywhere else; relative --out works from another folder; a damaged or malicious last.ckpt, a
second run in the same folder and --out . --overwrite are refused with one line."""

import hashlib
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spoofguard.cli import main
from spoofguard.training import run_folder

TINY = ["--model", "seed-cnn", "--input-size", "32", "--epochs", "1"]  # the tiniest run the training tests use (~2 s)


def _digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tiny_dataset, tmp_path_factory):
    """A finished tiny run, trained once; tests copy it."""
    out = tmp_path_factory.mktemp("runs") / "A"
    assert main(["train", "--data", str(tiny_dataset), "--out", str(out), *TINY]) == 0
    run_folder.release(out)
    return out


def _unfinished_copy(finished: Path, dest: Path) -> Path:
    shutil.copytree(finished, dest)
    (dest / "model.safetensors").unlink()  # as if interrupted before the bundle was written
    return dest


def _one_line_error(capsys, code, expected):
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert expected in err, err
    return err


def test_a_copied_run_resumes_into_the_copy_and_leaves_the_original_untouched(finished, tmp_path, capsys):
    """cp -r A B; rm B/model.safetensors; train --resume --out B rewrote A's model, config, split and logs."""
    before = _digests(finished)
    copy = _unfinished_copy(finished, tmp_path / "B")
    assert main(["train", "--resume", "--out", str(copy), "--epochs", "2"]) == 0
    assert _digests(finished) == before  # every byte of A, best.ckpt included
    assert (copy / "model.safetensors").is_file() and (copy / "split.csv").is_file()
    ckpt = torch.load(copy / "checkpoints" / "last.ckpt", weights_only=True)
    paths = [v["dirpath"] for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint")]
    assert paths == [os.path.realpath(copy / "checkpoints")]


def test_a_moved_run_and_a_relative_out_resume_from_another_folder(finished, tmp_path, tiny_dataset, capsys, monkeypatch):
    """A run started with a relative --out, moved, resumed from elsewhere: FileNotFoundError tracebacks before."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(tiny_dataset), "--out", "rel", *TINY]) == 0
    run_folder.release(Path("rel"))
    (tmp_path / "rel" / "model.safetensors").unlink()
    (tmp_path / "elsewhere").mkdir()
    shutil.move(tmp_path / "rel", tmp_path / "elsewhere" / "moved")
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["train", "--resume", "--out", "moved", "--epochs", "2"]) == 0
    assert (tmp_path / "elsewhere" / "moved" / "model.safetensors").is_file() and not (tmp_path / "rel").exists()
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["moved"]  # nothing written beside it


def test_resume_names_data_it_cannot_find(finished, tmp_path, tiny_dataset, capsys, monkeypatch):
    import json

    copy = _unfinished_copy(finished, tmp_path / "C")
    config = json.loads((copy / "config.json").read_text())
    config["config"]["data"] = "not/here"  # as a relative --data typed in another folder reads from here
    (copy / "config.json").write_text(json.dumps(config))
    _one_line_error(capsys, main(["train", "--resume", "--out", str(copy)]), "is not found from")
    assert main(["train", "--resume", "--out", str(copy), "--epochs", "2", "--data", str(tiny_dataset)]) == 0


def _malicious_pickle(path: Path, marker: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path.write_bytes(pickle.dumps({"state_dict": Payload()}))


@pytest.mark.parametrize("damage", ["malicious-pickle", "truncated", "not-a-checkpoint", "nan-weights", "no-optimizer"])
def test_a_damaged_or_malicious_checkpoint_is_refused_in_one_line(finished, tmp_path, capsys, damage):
    copy = _unfinished_copy(finished, tmp_path / "D")
    ckpt = copy / "checkpoints" / "last.ckpt"
    marker = tmp_path / "PWNED"
    if damage == "malicious-pickle":
        _malicious_pickle(ckpt, marker)
    elif damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:2000])
    elif damage == "not-a-checkpoint":
        torch.save({"hello": torch.zeros(2)}, ckpt)
    else:
        state = torch.load(ckpt, weights_only=True)
        if damage == "nan-weights":
            next(v for v in state["state_dict"].values() if v.is_floating_point()).fill_(float("nan"))
        else:
            del state["optimizer_states"]
        torch.save(state, ckpt)
    before = _digests(copy)
    _one_line_error(capsys, main(["train", "--resume", "--out", str(copy)]), "last.ckpt")
    assert not marker.exists()  # nothing in the file was run
    assert _digests(copy) == before  # and nothing in the run changed


def test_out_dot_with_overwrite_is_refused_in_one_line(tiny_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    _one_line_error(capsys, main(["train", "--data", str(tiny_dataset), "--out", ".", "--overwrite", *TINY]), "folder you are working in")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_folder_another_process_trains_in_is_refused(finished, tmp_path, tiny_dataset, capsys):
    """Two concurrent --overwrite runs gave an OSError traceback: the second now says what is going on."""
    busy = tmp_path / "busy"
    shutil.copytree(finished, busy)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from spoofguard.training.run_folder import lock\n"
                               f"lock(Path({str(busy)!r})); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _digests(busy)
        _one_line_error(capsys, main(["train", "--data", str(tiny_dataset), "--out", str(busy), "--overwrite", *TINY]),
                        "another spoofguard process is training in")
        (busy / "model.safetensors").rename(tmp_path / "aside.safetensors")
        _one_line_error(capsys, main(["train", "--resume", "--out", str(busy)]), "another spoofguard process")
        (tmp_path / "aside.safetensors").rename(busy / "model.safetensors")
        assert _digests(busy) == before and not list(tmp_path.glob("busy.replaced-*"))
    finally:
        holder.kill()
        holder.wait()
    # once the other process has gone (even killed), the folder is free again
    assert main(["train", "--data", str(tiny_dataset), "--out", str(busy), "--overwrite", *TINY]) == 0
    assert len(list(tmp_path.glob("busy.replaced-*"))) == 1
