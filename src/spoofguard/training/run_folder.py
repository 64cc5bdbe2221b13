"""The run folder: what a training run writes, and the rules that protect finished runs.

A run folder is *finished* once it holds ``model.safetensors``; before that it is *unfinished*
(``--resume`` continues it from ``checkpoints/last.ckpt``). An existing run is never deleted:
``--overwrite`` moves it aside to ``NAME.replaced-TIMESTAMP``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from spoofguard.errors import SpoofguardError

BUNDLE = "model.safetensors"
CONFIG = "config.json"
LAST_CKPT = "checkpoints/last.ckpt"


def is_global_zero() -> bool:
    """True in the process that writes files (rank 0), judged from the launcher's environment."""
    from lightning.fabric.utilities.rank_zero import _get_rank

    return (_get_rank() or 0) == 0


def prepare(out: Path, overwrite: bool, resume: bool) -> str:
    """Make ``out`` ready; return "new" or "resume". Refuses to clobber anything."""
    if resume and overwrite:
        raise SpoofguardError("--resume and --overwrite contradict each other; choose one.")
    exists = out.exists() and (not out.is_dir() or any(out.iterdir()))
    if out.exists() and not out.is_dir():
        raise SpoofguardError(f"--out {out} is a file; give a folder for the run.")
    finished = (out / BUNDLE).is_file()
    if resume:
        if finished:
            raise SpoofguardError(f"{out} holds a finished run (model.safetensors exists); there is nothing to resume.")
        if not (out / LAST_CKPT).is_file() or not (out / CONFIG).is_file():
            raise SpoofguardError(f"{out} has no checkpoint to resume from ({LAST_CKPT}); start a new run instead.")
        return "resume"
    if exists and not overwrite:
        if finished:
            raise SpoofguardError(
                f"{out} already holds a finished run. Choose another --out, or pass --overwrite "
                "(the old run is kept, renamed to NAME.replaced-TIMESTAMP)."
            )
        raise SpoofguardError(
            f"{out} already holds an unfinished run or other files. Pass --resume to continue it, "
            "or --overwrite to start again (the old folder is kept, renamed)."
        )
    if exists and overwrite and is_global_zero():
        aside = out.with_name(f"{out.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        out.rename(aside)
        print(f"note: the previous contents of {out} were moved to {aside}")
    out.mkdir(parents=True, exist_ok=True)
    return "new"


def save_config(out: Path, config: dict) -> None:
    (out / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))


def load_config(out: Path) -> dict:
    try:
        return json.loads((out / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SpoofguardError(f"cannot read {out / CONFIG} to resume ({e}).") from None


def prepare_output(out: Path, overwrite: bool) -> None:
    """An output folder for a command that fills a whole folder (cv, compare): refused when it holds
    anything, unless ``overwrite`` (then the old one is moved aside, never deleted)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpoofguardError(f"--out {out} is a file; give a folder.")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SpoofguardError(f"{out} already holds files. Choose another --out, or pass --overwrite "
                                  "(the old folder is kept, renamed to NAME.replaced-TIMESTAMP).")
        aside = out.with_name(f"{out.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        out.rename(aside)
        print(f"note: the previous contents of {out} were moved to {aside}")
    out.mkdir(parents=True, exist_ok=True)
