"""One plain line per epoch when the output is not a terminal (a log file, CI, ``nohup``), where
a progress bar prints nothing readable: ``epoch 3/20  train loss 0.412 acc 0.851  dev loss 0.330
acc 0.902 EER 0.051  12 s``."""

from __future__ import annotations

import sys
import time

import lightning as L


def wants_epoch_lines(progress: bool, stream=None) -> bool:
    """Progress asked for, but the output is not a terminal."""
    stream = sys.stdout if stream is None else stream
    return progress and not (hasattr(stream, "isatty") and stream.isatty())


def epoch_line(row: dict, epochs: int, seconds: float) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}"]
    if "train_loss" in row:
        parts.append(f"train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}")
    dev = f"dev loss {row['dev_loss']:.3f} acc {row['dev_acc']:.3f}"
    if row.get("dev_eer") == row.get("dev_eer"):  # not NaN
        dev += f" EER {row['dev_eer']:.3f}"
    parts += [dev, f"{seconds:.0f} s"]
    return "  ".join(parts)


class EpochLines(L.Callback):
    def __init__(self, epochs: int, say=print):
        self.epochs, self.say, self._t = epochs, say, None

    def on_train_epoch_start(self, trainer, pl_module):
        self._t = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):  # after the epoch's validation, whose row the module has added
        history = getattr(pl_module, "history", [])
        if not history or history[-1]["epoch"] != trainer.current_epoch + 1 or self._t is None or not trainer.is_global_zero:
            return
        self.say(epoch_line(history[-1], self.epochs, time.perf_counter() - self._t), flush=True)
