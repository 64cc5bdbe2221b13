"""The run folder: what a training run writes, and the rules that protect finished runs.

A run folder is *finished* once it holds ``model.safetensors``; before that it is *unfinished*
(``--resume`` continues it from ``checkpoints/last.ckpt``). An existing run is never deleted:
``--overwrite`` moves it aside to ``NAME.replaced-TIMESTAMP``.

A run folder knows where it is: everything a run writes goes under the folder it was given (``--out``),
whatever ``config.json`` recorded when it started, so a copied or moved run resumes into itself
(:func:`adopt_checkpoint` repoints the checkpoint's own paths into it). While a process trains in a
folder it holds an exclusive lock on it (``flock`` on the directory, released when the process ends,
also by SIGKILL), so a second run, resume or ``--overwrite`` aimed at the same folder is refused with
one line instead of the two writing into each other.
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
CHECKPOINTS = "checkpoints"
_HELD: dict[str, int] = {}  # resolved folder -> the descriptor holding its lock (this process)


def is_global_zero() -> bool:
    """True in the process that writes files (rank 0), judged from the launcher's environment."""
    from lightning.fabric.utilities.rank_zero import _get_rank

    return (_get_rank() or 0) == 0


def _fcntl():
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the other checks still hold
        return None
    return fcntl


def release(folder: Path) -> None:
    """Let go of this process's lock on ``folder`` (a finished run; the process's end does it too)."""
    fd = _HELD.pop(str(Path(folder).resolve()), None)
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _try_lock(folder: Path) -> int | None:
    """A descriptor holding the exclusive lock on ``folder``; None when another process holds it."""
    fcntl = _fcntl()
    fd = os.open(folder, os.O_RDONLY)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _busy(folder: Path) -> SpoofguardError:
    return SpoofguardError(f"another spoofguard process is training in {folder} right now; wait for it to finish, "
                           "or choose another --out.")


def lock(folder: Path) -> None:
    """Hold the exclusive lock on ``folder`` for the rest of this process (or until :func:`release`)."""
    release(folder)  # this process's earlier run there has ended
    try:
        fd = _try_lock(folder)
    except OSError as e:
        raise SpoofguardError(f"cannot open the run folder {folder} ({e.strerror}).") from None
    if fd is None:
        raise _busy(folder)
    _HELD[str(Path(folder).resolve())] = fd


def _holds_cwd(folder: Path) -> bool:
    here, target = Path.cwd().resolve(), folder.resolve()
    return here == target or target in here.parents


def _move_aside(out: Path) -> None:
    """Rename ``out`` to ``NAME.replaced-TIMESTAMP`` (never over another folder); refuses while a run uses it."""
    if _holds_cwd(out):
        raise SpoofguardError(f"--out {out} is the folder you are working in (or holds it); it cannot be moved aside. "
                              "Choose a new folder for the run, e.g. --out runs/NAME.")
    release(out)
    try:
        fd = _try_lock(out)
    except OSError:
        fd = -1  # gone already: another run is replacing it
    if fd is None:
        raise _busy(out)
    if fd >= 0:
        os.close(fd)
    resolved = out.resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = resolved.with_name(f"{resolved.name}.replaced-{stamp}")
    k = 1
    while aside.exists():
        k += 1
        aside = resolved.with_name(f"{resolved.name}.replaced-{stamp}-{k}")
    try:
        os.rename(resolved, aside)
    except OSError as e:
        raise SpoofguardError(f"cannot move the previous run in {out} aside ({e.strerror}): is another run replacing it at the "
                              "same time? Run one at a time, or choose another --out.") from None
    print(f"note: the previous contents of {out} were moved to {aside}")


def prepare(out: Path, overwrite: bool, resume: bool) -> str:
    """Make ``out`` ready and lock it; return "new" or "resume". Refuses to clobber anything."""
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
        if is_global_zero():  # the process that writes holds the lock (other ranks of a distributed run share its folder)
            lock(out)
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
        _move_aside(out)
        try:
            out.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise SpoofguardError(f"another run started in {out} while the previous one was moved aside; run one at a time, "
                                  "or choose another --out.") from None
    else:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SpoofguardError(f"cannot create the run folder {out} ({e.strerror}).") from None
    lock(out)
    return "new"


def save_config(out: Path, config: dict) -> None:
    (out / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))


def load_config(out: Path) -> dict:
    try:
        doc = json.loads((out / CONFIG).read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise SpoofguardError(f"cannot read {out / CONFIG} to resume ({str(e)[:200]}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise SpoofguardError(f"{out / CONFIG} holds no training configuration (a 'config' object); it was damaged or edited.")
    return doc


# what a checkpoint must hold to be resumed from (Lightning's own keys, and our epoch history)
CHECKPOINT_KEYS = ("epoch", "global_step", "state_dict", "loops", "callbacks", "optimizer_states")


def adopt_checkpoint(out: Path) -> None:
    """Check ``out``'s last checkpoint before Lightning sees it, and make it this folder's own.

    It is loaded with ``weights_only=True`` (nothing in it can run code): a file that is not a
    checkpoint, is truncated, holds anything but tensors and plain values, lacks what resuming needs
    or holds NaN/inf weights is refused with one line. The paths the checkpoint recorded for its
    callbacks (the best and last checkpoints) are repointed into ``out/checkpoints``: a copied run
    otherwise deletes or reads the original's ``best.ckpt``, and a moved one fails on it."""
    import torch

    import pickle
    import warnings

    path = out / LAST_CKPT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on a pickle protocol: the refusal below says what matters
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError (a pickle that would run code), EOF, zip errors, ...
        why = ("it holds Python objects other than tensors and plain values, which could run code when loaded"
               if isinstance(e, pickle.UnpicklingError) else
               f"it is damaged or not a checkpoint spoofguard wrote ({type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:100]})")
        raise SpoofguardError(f"{path} is refused: {why}; nothing in it was run. Start a new run "
                              "(--overwrite keeps this one, renamed).") from None
    state = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing or not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()) \
            or not isinstance(ckpt["epoch"], int) or not isinstance(ckpt["callbacks"], dict):
        raise SpoofguardError(f"{path} is not a complete training checkpoint (missing or malformed: {', '.join(missing) or 'state_dict'}); "
                              "start a new run (--overwrite keeps this one, renamed).")
    bad = sorted(k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all()))
    if bad:
        raise SpoofguardError(f"{path} holds NaN or infinite weights (e.g. {bad[0]}); resuming would train on them. Start a new run.")
    here = os.path.realpath(out / CHECKPOINTS)  # how Lightning's ModelCheckpoint records its folder
    changed = False
    for key, cb in ckpt["callbacks"].items():
        if not (isinstance(key, str) and key.startswith("ModelCheckpoint") and isinstance(cb, dict)):
            continue
        was = cb.get("dirpath")
        if was == here:
            continue

        def moved(p):
            return os.path.join(here, os.path.basename(p)) if isinstance(p, str) and p else p

        for field in ("best_model_path", "last_model_path", "kth_best_model_path"):
            if field in cb:
                cb[field] = moved(cb[field])
        if isinstance(cb.get("best_k_models"), dict):
            cb["best_k_models"] = {moved(k): v for k, v in cb["best_k_models"].items()}
        cb["dirpath"] = here
        changed = True
    if changed:
        tmp = path.with_name(path.name + ".partial")
        torch.save(ckpt, tmp)
        os.replace(tmp, path)


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
        _move_aside(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpoofguardError(f"cannot create {out} ({e.strerror}).") from None
