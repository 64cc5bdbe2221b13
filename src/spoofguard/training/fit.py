"""The fit stage: the model learns from the train split, and gives the scores its threshold is picked on.

    data = prepare_fit(net, split, pre, FitSpec, Hardware)    -> loaders + Lightning module (networks),
                                                                or train + dev captures (feature models)
    done = fit(net, data, FitSpec, Hardware, out, resuming)   -> Fitted: the best weights, history, images/s
                                                                and the calibration scores

A network trains under Lightning (augmented views, the dev monitor picks the best epoch, checkpoints
for ``--resume``), then a prototype model (siamese) sets its prototypes from the training captures;
its calibration scores are the dev split's, one per capture through the detector's view-and-fuse
path. A feature model (``texture``) is fitted once by scikit-learn on train + dev
(:mod:`spoofguard.training.fit_features`); its calibration scores are those captures' out-of-fold scores.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from spoofguard.data.manifest import Manifest
from spoofguard.errors import SpoofguardError
from spoofguard.models import capabilities
from spoofguard.training import run_folder
from spoofguard.training.config import MONITORS, FitSpec, Hardware


@dataclass
class FitData:
    """What a model is fitted on: a network's loaders and Lightning module, or a feature model's captures."""

    shown: object  # the dataset whose inputs samples.png shows
    train_dl: object = None
    dev_dl: object = None
    module: object = None  # PADModule
    captures: object = None  # feature models: train + dev, one view each


@dataclass
class Fitted:
    model: object  # nn.Module, float, on the CPU, in eval mode
    history: list = field(default_factory=list)  # one row per epoch
    images_per_s: float = float("nan")
    scores: np.ndarray | None = None  # calibration scores (dev, or out-of-fold); None: none could be made
    labels: np.ndarray | None = None
    species: np.ndarray | None = None
    out_of_fold: bool = False  # the calibration scores are train + dev's out-of-fold scores (feature models), else dev's


def prepare_fit(net, split, pre, spec: FitSpec, hardware: Hardware, say=print) -> FitData:
    """The data a model is fitted on (see the module docstring)."""
    classes = list(net.model.classes)
    if net.fitted:  # a feature model: fitted once on train + dev by scikit-learn, no augmentation, no loaders
        captures = _dataset(Manifest(split.manifest.split("train").samples + split.manifest.split("dev").samples), classes, pre,
                            sources=split.faces)
        return FitData(shown=captures, captures=captures)
    train_dl, dev_dl = _loaders(net, split, pre, spec, hardware)
    from spoofguard.training.module import PADModule

    try:
        module = PADModule(net.model, pre, net.recipe, spec.epochs, freeze=spec.freeze, l2_init=spec.l2_init)
    except ValueError as e:
        raise SpoofguardError(f"{net.model.arch_name}: {e}.") from None
    return FitData(shown=train_dl.dataset, train_dl=train_dl, dev_dl=dev_dl, module=module)


def fit(net, data: FitData, split, pre, spec: FitSpec, hardware: Hardware, out: Path, resuming: bool, say=print) -> Fitted:
    """Fit the model on ``data`` and score what its threshold is picked on."""
    if net.fitted:
        from spoofguard.training.fit_features import fit_feature_model

        features = fit_feature_model(net.model, pre, data.captures, seed=spec.seed, say=say)
        samples = data.captures.samples
        return Fitted(net.model.float().cpu().eval(), [], features.images_per_s, features.oof_scores, _labels(samples),
                      _species(samples), out_of_fold=True)
    model, history, rate = _fit_network(data, spec, hardware, out, resuming, say)
    dev_ds = data.dev_dl.dataset
    if capabilities(model).prototypes:  # metric learning: prototypes = class means of training captures, temperature from dev
        _fit_prototypes(model, _dataset(split.manifest.split("train"), list(model.classes), pre, all_views=True, sources=split.faces), dev_ds)
    # per capture (per video for clips)
    return Fitted(model, history, rate, _scores(model, pre, dev_ds), _labels(dev_ds.samples), _species(dev_ds.samples))


def claim_cpu(hardware: Hardware, say=print) -> None:
    """One process on the CPU: no more threads than the cores other processes leave free."""
    if hardware.accelerator in ("auto", "cpu") and not torch.cuda.is_available() and str(hardware.devices) in ("auto", "1"):
        from spoofguard.cpu import share_cpu

        share_cpu(say)


def _labels(samples) -> np.ndarray:
    return np.array([s.label for s in samples])


def _species(samples) -> np.ndarray:
    return np.array([s.species for s in samples])


class ThroughputMeter(Callback):
    """Training images per second, timed over training batches only (no validation, no set-up)."""

    def __init__(self):
        self.images, self.seconds, self._t = 0, 0.0, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._t = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._t is not None and not (trainer.current_epoch == 0 and batch_idx == 0):  # skip warm-up
            self.seconds += time.perf_counter() - self._t
            self.images += len(batch[1]) * trainer.world_size

    @property
    def rate(self) -> float:
        return self.images / self.seconds if self.seconds else float("nan")


def _dataset(part: Manifest, classes: list[str], pre, augment=None, attack_simulation: float = 0.0, views: int = 1,
             all_views: bool = False, sources: dict | None = None, attack_species=None):
    from spoofguard.data.dataset import SampleDataset

    # decoded images kept in memory when they fit in ~2 GiB (patches keep the native capture: ~500 px a side)
    per_image = {"whole": pre.input_size**2, "face": 0}.get(pre.crop, 600**2) * pre.channels  # face crops: preloaded
    return SampleDataset(part.samples, classes, pre, cache=len(part) * per_image < 2 * 1024**3, augment=augment,
                         attack_simulation=attack_simulation, views_per_sample=views, all_views=all_views, sources=sources,
                         attack_species=attack_species)


def _loaders(net, split, pre, spec: FitSpec, hardware: Hardware):
    """A network's training loader (augmented views) and dev loader (every view)."""
    from torch.utils.data import DataLoader, WeightedRandomSampler

    from spoofguard.data.dataset import ClipDataset, balanced_sampler_weights
    from spoofguard.training.augment import build_augmenter

    manifest, faces, classes = split.manifest, split.faces, list(net.model.classes)
    augmenter = build_augmenter(pre.modality, pre.channels, spec.augment, seed=spec.seed)
    views = spec.patches_per_image if pre.crop == "patches" else len(pre.face_scales) if pre.crop == "face" else 1
    if pre.clip_frames and not any(s.video_id for s in manifest):
        raise SpoofguardError(f"--model {net.model.arch_name} learns from clips of video frames: the samples need a video_id. Scan a video "
                              "dataset and extract its frames (`spoofguard data frames MANIFEST -o FRAMES/`), then train on FRAMES/manifest.csv.")
    if pre.clip_frames:  # temporal: clips of frames of one video (samples grouped by video_id)
        train_ds = ClipDataset(manifest.split("train").samples, classes, pre, pre.clip_frames, augment=augmenter, clips_per_video=4, sources=faces)
        dev_ds = ClipDataset(manifest.split("dev").samples, classes, pre, pre.clip_frames, evaluation=True, sources=faces)
    else:
        train_ds = _dataset(manifest.split("train"), classes, pre, augment=augmenter, attack_simulation=spec.attack_simulation, views=views,
                            sources=faces, attack_species=spec.attack_species)
        dev_ds = _dataset(manifest.split("dev"), classes, pre, all_views=True, sources=faces)
    workers = hardware.workers if hardware.workers is not None else 0
    sampler = None
    if spec.balanced:
        sampler = WeightedRandomSampler(balanced_sampler_weights(train_ds.targets), num_samples=len(train_ds), replacement=True)
    common = dict(batch_size=net.recipe.batch_size, num_workers=workers, persistent_workers=workers > 0)
    train_dl = DataLoader(train_ds, shuffle=sampler is None, sampler=sampler, drop_last=len(train_ds) > net.recipe.batch_size,
                          worker_init_fn=_seed_worker if workers > 0 else None, **common)
    return train_dl, DataLoader(dev_ds, shuffle=False, **common)


def _seed_worker(worker_id: int) -> None:
    """Data-loader worker start: Lightning's per-worker seeding, then the augmenter's own generator
    (albumentations') from the same per-worker seed, so workers neither repeat nor drift."""
    from lightning.fabric.utilities.seed import pl_worker_init_function

    pl_worker_init_function(worker_id)
    info = torch.utils.data.get_worker_info()
    augment = getattr(info.dataset, "augment", None) if info is not None else None
    if augment is not None and hasattr(augment, "reseed"):
        augment.reseed(torch.initial_seed() % 2**31)


def _default_precision(accelerator: str) -> str:
    return "16-mixed" if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "32-true"


def _trainer(spec: FitSpec, hardware: Hardware, out: Path, steps_per_epoch: int):
    """Lightning's Trainer with our callbacks: best and last checkpoints, early stopping, throughput,
    epoch lines (when the output is not a terminal); its own info lines replaced by one line of ours."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from spoofguard.training.epoch_log import EpochLines, wants_epoch_lines

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    meter = ThroughputMeter()
    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor=spec.monitor, mode=MONITORS[spec.monitor], save_last=True)
    lines = wants_epoch_lines(hardware.progress)
    trainer = L.Trainer(
        max_epochs=spec.epochs,
        accelerator=hardware.accelerator,
        devices=hardware.devices,
        num_nodes=hardware.num_nodes,
        strategy=hardware.strategy,
        precision=hardware.precision or _default_precision(hardware.accelerator),
        callbacks=[best, EarlyStopping(monitor=spec.monitor, mode=MONITORS[spec.monitor], patience=spec.patience), meter]
        + ([EpochLines(spec.epochs)] if lines else []),
        logger=[TensorBoardLogger(out, name="tensorboard", version=""), CSVLogger(out, name="logs", version="")],
        enable_progress_bar=hardware.progress and not lines,
        enable_model_summary=False,  # its FLOPs column reads 0 on CPU; our own line says what is trained
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(50, steps_per_epoch)),
        deterministic=spec.deterministic,
    )
    return trainer, best, meter


def _fit_network(data: FitData, spec: FitSpec, hardware: Hardware, out: Path, resuming: bool, say):
    """Lightning's fit; returns the best epoch's model (by the dev monitor), the history and the training images/s."""
    module, pre = data.module, data.module.preprocessing
    train_ds, dev_ds = data.train_dl.dataset, data.dev_dl.dataset
    trainer, best, meter = _trainer(spec, hardware, out, len(data.train_dl))
    what = (f"{len(train_ds.samples)} train / {len(dev_ds.samples)} dev {'videos' if pre.clip_frames else 'images'}"
            + (f" as clips of {pre.clip_frames} frames" if pre.clip_frames else "")
            + (f" as {pre.input_size}px patches ({len(train_ds)} train draws / {len(dev_ds)} dev patches per epoch)" if pre.crop == "patches" else "")
            + (f" as {pre.input_size}px face crops at scale(s) {', '.join(f'{k:g}' for k in pre.face_scales)}" if pre.crop == "face" else ""))
    say(f"training {module.model.arch_name} on {trainer.strategy.root_device} ({trainer.precision} precision), {what}, classes {module.model.classes}")
    trainer.fit(module, data.train_dl, data.dev_dl, ckpt_path=str(out / run_folder.LAST_CKPT) if resuming else None, weights_only=True)
    _record_rank_digest(module.model, trainer.global_rank)
    if trainer.interrupted:
        raise SpoofguardError(f"training was interrupted after {len(module.history)} epoch(s); no bundle was written. Continue with: spoofguard train --resume --out {out}")
    if best.best_model_path:  # the best epoch's weights
        module.load_state_dict(torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"])
    return module.model.float().cpu().eval(), module.history, meter.rate


def _scores(model, pre, ds, batch_size: int = 64) -> np.ndarray:
    """One fused score per dev image (per dev video for clips), through the detector's own view-and-fuse path."""
    from spoofguard.data.dataset import ClipDataset
    from spoofguard.inference.runners import fuse, view_probabilities

    if isinstance(ds, ClipDataset):
        with torch.inference_mode():
            clips = [ds[j][0].numpy() for j in range(len(ds))]
            probs = [torch.softmax(model(pre.normalise(pre.to_tensor(np.stack(clips[k : k + batch_size])))), 1)[:, 0]
                     for k in range(0, len(clips), batch_size)]
        return torch.cat(probs).numpy()
    views = [pre.views(ds.source(i)) for i in range(len(ds.samples))]
    probs = view_probabilities(model, pre, views, "cpu", batch_size)
    return np.array([fuse(p)[0] for p in probs])


@torch.no_grad()
def _record_rank_digest(model, rank: int) -> None:
    """With SPOOFGUARD_RANK_DIGESTS=DIR, every rank writes the digest of its final weights there, so a
    distributed run can be checked to end with identical weights on all ranks (tests, cluster smoke runs)."""
    import os

    folder = os.environ.get("SPOOFGUARD_RANK_DIGESTS")
    if folder:
        from spoofguard.inference.bundle import weights_digest

        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"rank-{rank}.sha256").write_text(weights_digest({k: v.float().cpu() for k, v in model.state_dict().items()}))


@torch.no_grad()
def _fit_prototypes(model, train_ds, dev_ds, batch_size: int = 64) -> None:
    """Replace a metric model's learned proxies by the mean embedding of each class's training views
    (what enrolment does for a new species), then calibrate its temperature on the dev views."""
    pre = train_ds.preprocessing

    def embeddings(ds, what):
        out, ys = [], []
        for start in range(0, len(ds), batch_size):
            items = [ds[j] for j in range(start, min(len(ds), start + batch_size))]
            x = pre.normalise(pre.to_tensor(torch.stack([a for a, _ in items]).numpy()))
            out.append(model.embed(x) if what == "embed" else model.cosines(x))
            ys += [t for _, t in items]
        return torch.cat(out), torch.tensor(ys)

    train_ds.augment = None
    model.set_prototypes(*embeddings(train_ds, "embed"))
    model.calibrate(*embeddings(dev_ds, "cosines"))
