"""Distributed data parallel for real: two CPU processes (gloo), launched the way a user launches them."""

import contextlib
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from spoofguard.data.importers import import_dataset
from spoofguard.data.manifest import Manifest, read_manifest, write_manifest
from spoofguard.data.protocols import split_manifest
from spoofguard.evaluation.thresholds import centred_threshold
from spoofguard.inference.bundle import read_metadata
from spoofguard.inference.detector import Detector

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gloo process groups on POSIX")


@pytest.fixture(scope="module")
def ddp_run(tiny_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    m, _ = split_manifest(import_dataset(tiny_dataset, subject_pattern=r"^(\d+)_").manifest, "subject", seed=0)
    dev = [s for s in m if s.split == "dev"]
    keep = Manifest([s for s in m if s is not dev[0]])  # an odd dev set: the sampler must pad one rank
    write_manifest(keep, root / "manifest.csv")
    env = {**os.environ, "SPOOFGUARD_RANK_DIGESTS": str(root / "digests"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "spoofguard.cli", "train", "--data", str(root / "manifest.csv"), "--out", str(root / "run"),
           "--model", "seed-cnn", "--input-size", "32", "--epochs", "2", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
    result = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root, result


def test_both_ranks_end_with_identical_weights(ddp_run):
    root, result = ddp_run
    digests = sorted((root / "digests").glob("rank-*.sha256"))
    assert [p.name for p in digests] == ["rank-0.sha256", "rank-1.sha256"]
    assert digests[0].read_text() == digests[1].read_text()
    assert "GLOBAL_RANK: 1" in result.stdout + result.stderr  # there really were two processes


def test_the_bundle_and_report_are_written_once(ddp_run):
    root, result = ddp_run
    run = root / "run"
    assert sorted(p.name for p in run.glob("*.safetensors*")) == ["model.safetensors"]
    assert result.stdout.count("bundle:") == 1  # one rank reports


def test_dev_metrics_equal_a_single_process_evaluation(ddp_run):
    root, _ = ddp_run
    bundle = root / "run" / "model.safetensors"
    meta = read_metadata(bundle)
    dev = read_manifest(root / "run" / "split.csv").split("dev")
    scores = np.array([p.score for p in Detector.from_file(bundle).predict_batch([s.path for s in dev])])
    labels = np.array([s.label for s in dev])
    threshold = float(centred_threshold("eer", scores, labels, np.array([s.species for s in dev])))  # the rule train applies
    assert threshold == pytest.approx(meta["threshold"], abs=1e-6)
    assert meta["dev_metrics"]["n"] == len(dev)
    assert meta["dev_metrics"]["accuracy"] == pytest.approx(float(((scores >= threshold) == (labels == "bona_fide")).mean()))
    # during training too, every dev view counted exactly once across the two ranks
    history = list(csv.DictReader(open(root / "run" / "history.csv")))
    dev_views = sum(len(Detector.from_file(bundle).preprocessing.views(s.path).arrays) for s in dev)
    assert {int(float(row["dev_n"])) for row in history} == {dev_views}


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds the rank-1 process through /proc")
@pytest.mark.parametrize("victim", [0, 1])
def test_a_run_killed_on_any_rank_resumes(ddp_run, tmp_path, victim):
    """SIGKILL on one rank after the first checkpoint: the other goes down too (Lightning's launcher kills the
    others when rank 1 dies; rank 1 loses its gloo peer when rank 0 dies), no bundle is written, and
    `train --resume` relaunches both ranks from checkpoints/last.ckpt and finishes the run."""
    import signal
    import time

    root, _ = ddp_run
    env = {**os.environ, "SPOOFGUARD_RANK_DIGESTS": str(tmp_path / "digests"), "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "spoofguard.cli", "train", "--data", str(root / "manifest.csv"), "--out", str(run),
           "--model", "seed-cnn", "--input-size", "32", "--epochs", "200", "--accelerator", "cpu", "--devices", "2",
           "--strategy", "ddp", "--patience", "1000"]
    first = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ranks: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while not (run / "checkpoints" / "last.ckpt").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first run ended before its first checkpoint"
            time.sleep(0.05)
        ranks = [c for c in _children(first.pid) if b"spoofguard" in open(f"/proc/{c}/cmdline", "rb").read()]
        assert len(ranks) == 1, ranks
        os.kill(first.pid if victim == 0 else ranks[0], signal.SIGKILL)
        out, _ = first.communicate(timeout=120)
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{ranks[0]}") and open(f"/proc/{ranks[0]}/stat").read().split()[2] != "Z":
            assert time.monotonic() < deadline, "rank 1 outlived rank 0 by a minute"
            time.sleep(0.1)
    finally:
        for pid in [first.pid, *ranks]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    assert first.returncode != 0, out[-2000:]
    assert not (run / "model.safetensors").exists()

    resumed = subprocess.run([sys.executable, "-m", "spoofguard.cli", "train", "--resume", "--out", str(run), "--epochs", "4"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert (run / "model.safetensors").exists()
    history = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in history] == list(range(1, len(history) + 1)) and 2 <= len(history) <= 4  # each epoch once
    digests = sorted((tmp_path / "digests").glob("rank-*.sha256"))
    assert len(digests) == 2 and digests[0].read_text() == digests[1].read_text()
