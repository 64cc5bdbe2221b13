"""The Lightning module: one training step, one validation pass, the optimiser.

Batches arrive as ``uint8 (N, H, W, C)`` (augmented by the data loader for training); the module
turns them into floats, normalises them with the bundle's preprocessing and feeds the model. Validation collects every dev score, gathers them from all processes and computes the dev
loss, accuracy and EER once per epoch, so the numbers are the same with one process or several.
"""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spoofguard.evaluation import eer
from spoofguard.modalities import Preprocessing
from spoofguard.models import capabilities
from spoofguard.training.recipes import Recipe


def warmup_cosine(total_steps: int, warmup_fraction: float = 0.1):
    """LR factor per step: linear warm-up over the first 10 % of steps, then cosine decay to zero.

    Defined for any number of steps, also a run of one or two (OneCycleLR divides by zero when its
    warm-up phase rounds to no steps)."""
    warmup = max(1, int(warmup_fraction * total_steps))
    decay = max(1, total_steps - warmup)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / decay)))

    return factor


def frozen_blocks(model: nn.Module, n: int) -> list[str]:
    """Freeze the first ``n`` top-level blocks of ``model`` (in definition order: the stem first):
    their weights get no gradient; :class:`PADModule` also keeps their batch-norm statistics as they
    are. Returns the names frozen. Fine-tuning a published model on one site's captures with its early
    layers fixed keeps the low-level cues it learnt elsewhere."""
    blocks = [(name, m) for name, m in model.named_children() if any(True for _ in m.parameters())]
    if not 0 <= n < len(blocks):
        raise ValueError(f"--freeze takes 0 to {len(blocks) - 1} blocks of this model (it has {len(blocks)} with weights), not {n}")
    for _, m in blocks[:n]:
        for p in m.parameters():
            p.requires_grad_(False)
    return [name for name, _ in blocks[:n]]


class PADModule(L.LightningModule):
    """``freeze``: leading blocks kept as they start (:func:`frozen_blocks`). ``l2_init``: weight of
    the L2-SP penalty ``sum ||w - w_start||^2`` that pulls every trained weight towards where it
    started (fine-tuning a published model without forgetting what it knew; 0 = off)."""

    def __init__(self, model: nn.Module, preprocessing: Preprocessing, recipe: Recipe, epochs: int, freeze: int = 0,
                 l2_init: float = 0.0):
        super().__init__()
        self.model = model
        self.preprocessing = preprocessing
        self.recipe = recipe
        self.epochs = epochs
        self.frozen = frozen_blocks(model, freeze) if freeze else []
        self.l2_init = l2_init
        self.margin = capabilities(model).margin_logits  # metric learning (siamese): trained on margin logits
        # the starting weights (not in the state dict: a checkpoint holds only what is trained)
        self._start = [(p, p.detach().clone()) for p in model.parameters() if p.requires_grad] if l2_init else []
        self.history: list[dict] = []
        self._dev: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._train_sums = torch.zeros(3)  # loss*n, correct, n

    # -- inputs -------------------------------------------------------------------------------
    def prepare_batch(self, x: torch.Tensor) -> torch.Tensor:
        x = self.preprocessing.normalise(self.preprocessing.to_tensor(x))
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x  # clips (N, T, C, H, W) as they are

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    # -- training -----------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        x, y = batch
        x = self.prepare_batch(x)
        # metric-learning models (siamese) train on margin logits; every other model on its plain logits
        logits = self.model.margin_logits(x, y) if self.margin else self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.label_smoothing)
        if self.l2_init:
            loss = loss + self.l2_init * sum(((p - p0.to(p.device)) ** 2).sum() for p, p0 in self._start)
        n = y.numel()
        self._train_sums += torch.tensor([loss.item() * n, (logits.argmax(1) == y).sum().item(), n])
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=n)
        return loss

    def on_train_epoch_start(self):
        self._train_sums = torch.zeros(3)
        for name in self.frozen:  # frozen blocks keep their batch-norm statistics (and no dropout) while the rest trains
            getattr(self.model, name).eval()

    # -- validation ---------------------------------------------------------------------------
    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(self.prepare_batch(x)).float()
        self._dev.append((logits.detach(), y.detach(), F.cross_entropy(logits, y, reduction="none").detach()))

    def on_validation_epoch_start(self):
        self._dev = []

    def on_validation_epoch_end(self):
        if not self._dev:
            return
        logits = torch.cat([d[0] for d in self._dev])
        y = torch.cat([d[1] for d in self._dev])
        losses = torch.cat([d[2] for d in self._dev])
        if self.trainer.world_size > 1:
            # the DistributedSampler gives rank r the samples r, r + world, ... of the dev set, padded with its first
            # samples to equal length: interleave the ranks back into dev order and cut the padding, so every dev
            # sample counts exactly once
            n = len(self.trainer.val_dataloaders.dataset)
            logits, y, losses = (self.all_gather(t).transpose(0, 1).flatten(0, 1)[:n] for t in (logits, y, losses))
        scores = torch.softmax(logits, 1)[:, 0].cpu().numpy()
        labels = np.where(y.cpu().numpy() == 0, "bona_fide", "attack")
        dev_eer, _ = eer(scores, labels)
        self._dev_n = int(len(y))
        metrics = {
            "dev_loss": float(losses.mean()),
            "dev_acc": float((logits.argmax(1) == y).float().mean()),
            "dev_eer": float("nan") if dev_eer is None else float(dev_eer),
        }
        for k, v in metrics.items():
            self.log(k, v, prog_bar=k != "dev_loss", sync_dist=False, batch_size=len(y))
        if self.trainer.sanity_checking:
            return
        sums = self._train_sums
        if self.trainer.world_size > 1:
            sums = self.all_gather(sums.to(self.device)).sum(0).cpu()
        row = {"epoch": self.current_epoch + 1, "lr": self.optimizers().param_groups[0]["lr"]}
        if sums[2] > 0:
            row.update(train_loss=float(sums[0] / sums[2]), train_acc=float(sums[1] / sums[2]))
        row.update(metrics, dev_n=self._dev_n)
        self.history.append(row)

    # -- optimiser ------------------------------------------------------------------------------
    def configure_optimizers(self):
        r = self.recipe
        params = [p for p in self.model.parameters() if p.requires_grad]
        if r.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=r.lr, weight_decay=r.weight_decay)
        else:
            opt = torch.optim.AdamW(params, lr=r.lr, weight_decay=r.weight_decay)
        if r.scheduler == "none":
            return opt
        steps = max(1, self.trainer.estimated_stepping_batches)
        if r.scheduler == "cosine-restarts":
            per_epoch = max(1, steps // max(1, self.epochs))
            sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=max(1, per_epoch * max(1, self.epochs // 3)), T_mult=2)
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- resume -------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint):
        checkpoint["spoofguard_history"] = self.history

    def on_load_checkpoint(self, checkpoint):
        self.history = list(checkpoint.get("spoofguard_history", []))
