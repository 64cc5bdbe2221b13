"""Pictures of a training run: learning curves and a grid of augmented training images."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_curves(history: list[dict], path: str | Path) -> Path:
    """Loss and accuracy per epoch, train vs dev, plus the dev EER."""
    epochs = [h["epoch"] for h in history]

    def series(key):
        return [h.get(key, float("nan")) for h in history]

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(epochs, series("train_loss"), "o-", label="train")
    axes[0].plot(epochs, series("dev_loss"), "s-", label="dev")
    axes[0].set_title("loss (cross-entropy)")
    axes[1].plot(epochs, series("train_acc"), "o-", label="train")
    axes[1].plot(epochs, series("dev_acc"), "s-", label="dev")
    axes[1].set_title("accuracy (arg-max class)")
    axes[1].set_ylim(0, 1.02)
    axes[2].plot(epochs, series("dev_eer"), "s-", color="C3", label="dev EER")
    axes[2].set_title("dev EER (lower is better)")
    axes[2].set_ylim(bottom=0)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_samples(images: np.ndarray, titles: list[str], path: str | Path, columns: int = 8) -> Path:
    """A grid of images ``(N, H, W, C)`` in [0, 1] with a title under each."""
    n = len(images)
    rows = max(1, math.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.8), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, title in zip(axes.ravel(), images, titles):
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(np.clip(img, 0, 1))
        ax.set_title(title, fontsize=8, color="C2" if title == "bona_fide" else "C3")
    fig.suptitle("augmented training samples", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
