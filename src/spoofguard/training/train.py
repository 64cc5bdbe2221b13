"""Training a detector, from a dataset to a model bundle, top to bottom.

data -> manifest -> readable images -> protocol split -> model + preprocessing -> Lightning fit
     -> best weights -> dev scores -> threshold (dev EER by default) -> bundle + curves + samples
"""

from __future__ import annotations

import csv
import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader, WeightedRandomSampler

from spoofguard.data.dataset import ClipDataset, SampleDataset, balanced_sampler_weights, check_images, face_sources
from spoofguard.data.manifest import Manifest, write_manifest
from spoofguard.data.protocols import check_trainable, split_manifest, split_summary
from spoofguard.data.scan import file_hashes, find_duplicates
from spoofguard.data.sources import load_samples
from spoofguard.cpu import share_cpu
from spoofguard.errors import SpoofguardError
from spoofguard.evaluation import eer, parse_threshold_rule
from spoofguard.evaluation.thresholds import centred_threshold
from spoofguard.inference.bundle import save_bundle
from spoofguard.inference.detector import fuse, view_probabilities
from spoofguard.modalities import CROPS, MODALITIES, Preprocessing
from spoofguard.models import create_model, list_models, model_info
from spoofguard.modalities.video import is_video_file
from spoofguard.progress import progress_bar
from spoofguard.training import plots, run_folder
from spoofguard.training.augment import STRENGTHS, build_augmenter
from spoofguard.training.epoch_log import EpochLines, wants_epoch_lines
from spoofguard.training.module import PADModule
from spoofguard.training.recipes import recipe_for

MONITORS = {"dev_loss": "min", "dev_eer": "min", "dev_acc": "max"}
# what `train` uses when no --model is given: per modality, the configuration cross-validation shows best
# (docs/benchmarks.md, "Choosing the fingerprint default")
DEFAULT_MODELS = {"fingerprint": "texture", "face": "padnet"}
EPOCHS = 20
FINE_TUNE_EPOCHS = 10  # --init without --epochs (NUAA from silent-face: 10 epochs with frozen early layers, docs/benchmarks.md)
FINE_TUNE_LR_FACTOR = 0.01  # --init without --lr: the recipe's learning rate times this (NUAA from silent-face: 0.01 kept its generalisation, 0.1 lost it; docs/benchmarks.md)


def _model_info_or_empty(name: str) -> dict:
    try:
        return model_info(name)
    except (KeyError, SpoofguardError):  # an unknown model is refused with its own message by validate()
        return {}


def default_model(modality: str) -> str:
    return DEFAULT_MODELS.get(modality, "padnet")


# faces: fine-tune the published model when its weights are in the cache (docs/benchmarks.md, "Faces: fine-tuning")
FACE_DEFAULT_INIT = "silent-face"


def default_start(modality: str) -> tuple[str, str | None, str]:
    """(model, init, note) for a run given neither --model nor --init."""
    if modality == "face":
        from spoofguard.zoo import is_pulled

        if is_pulled(FACE_DEFAULT_INIT):
            return init_architecture(FACE_DEFAULT_INIT), FACE_DEFAULT_INIT, (
                f"note: starting from the published {FACE_DEFAULT_INIT} weights in the cache (fine-tuning its MiniFASNetV2 with its "
                f"input contract, early layers frozen, {FINE_TUNE_EPOCHS} epochs); --model padnet trains from scratch instead")
        return default_model(modality), None, (
            f"note: training padnet from scratch; the better default fine-tunes published weights: "
            f"`spoofguard models pull {FACE_DEFAULT_INIT}` (offline: --from DIR), then train again")
    return default_model(modality), None, ""


@dataclass
class TrainConfig:
    data: str
    out: str
    modality: str = "fingerprint"
    model: str | None = None  # None = the modality's default (DEFAULT_MODELS)
    epochs: int | None = None  # None: 20, or FINE_TUNE_EPOCHS when fine-tuning (--init)
    batch_size: int | None = None
    lr: float | None = None
    input_size: int | None = None
    crop: str | None = None  # "whole" | "patches" | "face"; None = the model's default for the modality
    face_scales: list[float] | None = None  # face crops: context scales around the box (default 2.7)
    face_detector: str = "auto"  # auto | mtcnn | haar
    precropped: bool = False  # faces: the images are face crops already (looked at whole)
    patches_per_image: int = 4  # patches mode: random patches drawn per training image per epoch
    model_kwargs: dict = field(default_factory=dict)
    protocol: str = "auto"
    format: str = "auto"  # dataset layout when --data is a folder (auto | folder | livdet | nuaa | ...): auto as `data scan` detects it
    num_nodes: int = 1  # machines (DDP across hosts)
    strategy: str = "auto"  # auto | ddp | ... (Lightning strategies); several devices or nodes use DDP
    seed: int = 0
    subject_pattern: str | None = None
    species_as_classes: bool = False
    balanced: bool = False
    augment: str = "default"  # "default" | "none"
    attack_simulation: float = 0.0  # faces: probability of turning a bona fide sample into a simulated attack
    attack_species: list[str] | None = None  # faces: which simulated species (print, replay, cutout); None = all
    freeze: int | None = None  # leading blocks kept as they start (weights, batch-norm statistics); None: the model's fine_tune_freeze with --init, else 0
    l2_init: float = 0.0  # L2-SP: weight of the pull of every trained weight towards its starting value (with --init)
    monitor: str = "dev_loss"
    patience: int = 10
    threshold_rule: str = "eer"
    workers: int | None = None
    accelerator: str = "auto"
    devices: str | int = "auto"
    precision: str | None = None
    progress: bool = True
    init: str | None = None  # a run folder or bundle of the same architecture whose weights (and input contract) training starts from
    deterministic: bool = False  # deterministic torch algorithms: with the seed, the same weights bit for bit (CPU)

    def __post_init__(self):
        self.default_note = ""  # not a setting: what the defaults chose, said once when training starts
        if self.model is None and self.init:
            self.model = init_architecture(self.init)
        elif self.model is None:
            self.model, self.init, self.default_note = default_start(self.modality)
        if self.epochs is None:
            self.epochs = FINE_TUNE_EPOCHS if self.init else EPOCHS
        if self.freeze is None:
            self.freeze = int(_model_info_or_empty(self.model).get("fine_tune_freeze", 0)) if self.init else 0


@dataclass
class TrainResult:
    out: Path
    bundle: Path
    dev_metrics: dict
    threshold: float
    epochs_run: int
    train_images_per_s: float
    wall_time_s: float
    skipped: list = field(default_factory=list)
    threshold_rule: str = "eer"
    threshold_source: str = ""
    fitted: bool = False  # a feature model: fitted by scikit-learn, no epochs


def validate(cfg: TrainConfig) -> None:
    from spoofguard.data.protocols import parse_protocol

    parse_protocol(cfg.protocol)
    if not isinstance(cfg.epochs, int) or cfg.epochs < 1:
        raise SpoofguardError(f"--epochs must be at least 1 (got {cfg.epochs}).")
    if cfg.modality not in MODALITIES:
        raise SpoofguardError(f"--modality must be one of {', '.join(MODALITIES)} (got {cfg.modality!r}).")
    if cfg.model not in list_models():
        raise SpoofguardError(f"unknown model {cfg.model!r}; choose one of {', '.join(list_models())}.")
    if cfg.monitor not in MONITORS:
        raise SpoofguardError(f"--monitor must be one of {', '.join(MONITORS)}.")
    if cfg.batch_size is not None and cfg.batch_size < 1:
        raise SpoofguardError("--batch-size must be at least 1.")
    if cfg.lr is not None and not cfg.lr > 0:
        raise SpoofguardError("--lr must be positive.")
    if cfg.augment not in STRENGTHS:
        raise SpoofguardError(f"augmentation must be one of {', '.join(STRENGTHS)}.")
    if not 0.0 <= cfg.attack_simulation < 1.0:
        raise SpoofguardError(f"--attack-simulation is a probability in [0, 1), not {cfg.attack_simulation}.")
    if cfg.attack_simulation and cfg.modality != "face":
        raise SpoofguardError("--attack-simulation simulates face attacks (print, replay, cut-out); it needs --modality face.")
    if cfg.attack_species is not None:
        from spoofguard.data.synth.face import FACE_SPECIES

        unknown = [sp for sp in cfg.attack_species if sp not in FACE_SPECIES]
        if unknown or not cfg.attack_species:
            raise SpoofguardError(f"--attack-species takes some of {', '.join(FACE_SPECIES)}, not {', '.join(unknown) or 'none'}.")
    if cfg.freeze < 0 or cfg.l2_init < 0:
        raise SpoofguardError(f"--freeze and --l2-init cannot be negative (got {cfg.freeze}, {cfg.l2_init}).")
    if cfg.l2_init and not cfg.init:
        raise SpoofguardError("--l2-init pulls the weights towards where they started: it needs --init (a published model or a run).")
    if cfg.attack_simulation and cfg.species_as_classes:
        raise SpoofguardError("--attack-simulation labels simulated samples 'attack'; it cannot be combined with --species-as-classes.")
    if cfg.crop is not None and cfg.crop not in CROPS:
        raise SpoofguardError(f"--crop must be one of {', '.join(CROPS)} (got {cfg.crop!r}).")
    if cfg.crop == "patches" and cfg.modality != "fingerprint":
        raise SpoofguardError("--crop patches is the fingerprint pipeline; faces are looked at as face crops (or whole with --precropped).")
    if (cfg.crop == "face" or cfg.precropped or cfg.face_scales) and cfg.modality != "face":
        raise SpoofguardError("--crop face, --face-scales and --precropped are for --modality face.")
    if cfg.precropped and cfg.crop not in (None, "whole"):
        raise SpoofguardError("--precropped looks at the whole image; it cannot be combined with --crop.")
    if cfg.face_detector == "yunet":
        raise SpoofguardError("training finds faces with mtcnn or haar (their weights ship with the packages); YuNet is for prediction (--face-model).")
    if not isinstance(cfg.patches_per_image, int) or cfg.patches_per_image < 1:
        raise SpoofguardError(f"--patches-per-image must be at least 1 (got {cfg.patches_per_image}).")
    parse_threshold_rule(cfg.threshold_rule)


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


def train(config: TrainConfig | None = None, *, overwrite: bool = False, **kwargs) -> TrainResult:
    """Train a detector and write its run folder; see :class:`TrainConfig` for the options.

    An ``out`` folder that already holds a run is refused unless ``overwrite`` (then it is moved
    aside, never deleted).
    """
    cfg = config or TrainConfig(**kwargs)
    return _train(cfg, resuming=False, overwrite=overwrite)


# what a resumed run may change: its budget and the machines it runs on (a node lost, a GPU added)
RESUME_MAY_CHANGE = ("epochs", "accelerator", "devices", "num_nodes", "strategy", "workers", "progress")


def resume(out: str | Path, epochs: int | None = None, progress: bool = True, **settings) -> TrainResult:
    """Continue an interrupted run from its last checkpoint, with the configuration it started with.

    ``settings`` are TrainConfig fields the caller states again: those in :data:`RESUME_MAY_CHANGE`
    replace the stored ones; any other must equal what the run started with (a resumed run that
    silently trained on other data or another model would be a wrong answer), else this refuses.
    """
    out = Path(out)
    run_folder.prepare(out, overwrite=False, resume=True)
    stored = run_folder.load_config(out)["config"]
    unknown = sorted(set(settings) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise SpoofguardError(f"unknown training setting(s) {unknown}.")
    foreign = sorted(set(stored) - set(TrainConfig.__dataclass_fields__))
    if foreign:
        raise SpoofguardError(f"{out / run_folder.CONFIG} holds unknown training setting(s) {foreign}; it was edited, or the run is "
                              "from another spoofguard version. Start a new run in another --out.")
    data_now = settings.get("data")
    if data_now is not None and isinstance(stored.get("data"), str) and not Path(stored["data"]).exists() and Path(data_now).exists():
        # the run's data is not where config.json says, seen from here (a relative path typed in another folder, or the
        # data moved with the run): the data named now stands for it
        print(f"note: the run's data {stored['data']!r} is not found from here; continuing with --data {data_now}")
        stored["data"] = data_now
    differ = {k: (stored.get(k), v) for k, v in settings.items()
              if k not in RESUME_MAY_CHANGE and k != "out" and not _same_setting(k, stored.get(k), v)}
    if differ:
        listed = "; ".join(f"{k}: run {was!r}, now {now!r}" for k, (was, now) in sorted(differ.items()))
        raise SpoofguardError(f"--resume continues {out} with the settings it started with (config.json), and these differ: {listed}. "
                              f"Drop them (only {', '.join(RESUME_MAY_CHANGE[:-1])} may change), or start a new run in another --out.")
    if isinstance(stored.get("data"), str) and not Path(stored["data"]).exists():
        raise SpoofguardError(f"the run's data {stored['data']!r} (config.json) is not found from {Path.cwd()}: resume from the folder "
                              "the run was started in, or pass --data with where the data is now.")
    stored.update({k: v for k, v in settings.items() if k in RESUME_MAY_CHANGE})
    if epochs is not None:
        stored["epochs"] = epochs
    stored["progress"] = progress
    # the run folder is the one given, whatever config.json recorded: a copied or moved run writes only into itself
    stored["out"] = str(out)
    try:
        cfg = TrainConfig(**stored)
    except (TypeError, ValueError) as e:
        raise SpoofguardError(f"{out / run_folder.CONFIG} cannot be resumed: {e}.") from None
    if run_folder.is_global_zero():
        run_folder.adopt_checkpoint(out)  # refused when damaged or not ours; its recorded paths repointed into out
    try:
        return _train(cfg, resuming=True)
    except (RuntimeError, KeyError) as e:  # Lightning restoring a checkpoint that does not fit this run's model
        text = str(e)
        if "state_dict" not in text and "size mismatch" not in text and "checkpoint" not in text.lower():
            raise
        raise SpoofguardError(f"{out / run_folder.LAST_CKPT} does not fit the run's model ({text.splitlines()[0][:200]}); "
                              "it was damaged or replaced. Start a new run.") from None


def _same_setting(name: str, stored, given) -> bool:
    if name == "data" and stored is not None and given is not None:
        return Path(stored).resolve() == Path(given).resolve()
    if name == "model_kwargs":  # only the keys given (--theta, --frames) are compared
        return all((stored or {}).get(k) == v for k, v in (given or {}).items())
    if isinstance(stored, list) or isinstance(given, (list, tuple)):
        return list(stored or []) == list(given or [])
    return stored == given


def _train(cfg: TrainConfig, resuming: bool, overwrite: bool = False) -> TrainResult:
    t0 = time.time()
    validate(cfg)
    out = Path(cfg.out)
    writer = run_folder.is_global_zero()
    say = print if writer else (lambda *a, **k: None)

    if cfg.default_note:
        say(cfg.default_note)
    if cfg.accelerator in ("auto", "cpu") and not torch.cuda.is_available() and str(cfg.devices) in ("auto", "1"):
        share_cpu(say)  # one process on the CPU: no more threads than the cores other processes leave free
    # 1. samples, checked and split (before the run folder is touched: bad data changes nothing)
    source = load_samples(cfg.data, format=cfg.format, subject_pattern=cfg.subject_pattern, protocol=cfg.protocol)
    videos = [s.path for s in source.manifest if is_video_file(s.path)]
    if videos:
        raise SpoofguardError(f"{len(videos)} sample(s) are videos (e.g. {videos[0]}); training reads frames: extract them once with "
                              f"`spoofguard data frames MANIFEST -o FRAMES/` and train on FRAMES/manifest.csv.")
    start = init_weights_from(cfg.init, cfg.model, cfg.modality) if cfg.init else None
    pre = start.preprocessing if start is not None else preprocessing_for(cfg)  # --init keeps the starting model's input contract
    manifest, unreadable = check_images(source.manifest, pre.channels)
    skipped = source.skipped + unreadable
    if unreadable:
        say(f"warning: skipped {len(unreadable)} unreadable image(s):")
        for p, why in unreadable[:10]:
            say(f"  {p}: {why}")
    faces: dict = {}
    if pre.crop == "face" and len(manifest):  # the face detector runs once per image (cached on disk by file hash), not per epoch
        t_faces = time.time()
        with progress_bar("finding faces", enabled=cfg.progress and writer) as update:
            manifest, faces, no_face = face_sources(manifest, pre, progress=update)
        say(f"faces found in {len(faces)} image(s) in {time.time() - t_faces:.0f} s (detector {pre.face_detector}, scales {pre.face_scales})")
        if not faces:
            raise SpoofguardError(f"{cfg.data}: no face found in any of the {len(no_face)} image(s). If they are face crops already, "
                                  "pass --precropped; otherwise check the images show faces (detector: --face-detector mtcnn | haar).")
        if no_face:
            skipped += no_face
            say(f"warning: skipped {len(no_face)} image(s) without a face:")
            for p, why in no_face[:10]:
                say(f"  {p}: {why}")
    if len({s.label for s in manifest}) < 2:
        raise SpoofguardError(
            f"{cfg.data}: all {len(manifest)} usable samples are {manifest[0].label if len(manifest) else 'missing'}; "
            "training needs both bona fide and attack samples (e.g. live/ and spoof/ folders)."
        )
    hashes = file_hashes(manifest)
    manifest, protocol = split_manifest(manifest, cfg.protocol, seed=cfg.seed, hashes=hashes)
    check_trainable(manifest)
    if not resuming and writer:
        run_folder.prepare(out, overwrite=overwrite, resume=False)
    leaks = [g for g in find_duplicates(manifest, hashes) if g.crosses_splits]
    if leaks:
        say(f"warning: {len(leaks)} group(s) of identical files are in more than one split (leakage), e.g. {leaks[0].paths[:2]}")
    if writer:
        write_manifest(manifest, out / "split.csv")
    species_classes = cfg.species_as_classes or model_info(cfg.model).get("species_classes", False)  # siamese: a prototype per species
    # classes are what training can learn: a species only in test (an unseen attack) is not one of them
    classes = Manifest([s for s in manifest if s.split != "test"]).class_names(species_classes)
    summary = split_summary(manifest)
    say(f"protocol {protocol}: " + "; ".join(f"{sp} {sum(c.values())}" for sp, c in summary.items()))

    # 2. model, data loaders
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    recipe = recipe_for(cfg.model, lr=cfg.lr, batch_size=cfg.batch_size)
    if start is not None and cfg.lr is None:  # fine-tuning: FINE_TUNE_LR_FACTOR x the from-scratch learning rate unless --lr is given
        recipe = recipe_for(cfg.model, lr=recipe.lr * FINE_TUNE_LR_FACTOR, batch_size=cfg.batch_size)
    kwargs = {**start.metadata["architecture"]["kwargs"], **cfg.model_kwargs} if start is not None else {**_size_kwargs(cfg, pre), **cfg.model_kwargs}
    model = create_model(cfg.model, classes=classes, in_chans=pre.channels, **kwargs)
    if start is not None:
        loaded = load_matching_weights(model, start.model, start.metadata.get("member_classes"))
        say(f"starting from {cfg.init}: {loaded} of {len(model.state_dict())} tensors (the rest, e.g. a head for other classes, start fresh)")
    model = model.to(memory_format=torch.channels_last)
    fitted_model = bool(model_info(cfg.model).get("fitted"))
    if fitted_model:  # a feature model (texture): fitted once on train + dev by scikit-learn, no augmentation, no loaders
        fit_ds = _dataset(Manifest(manifest.split("train").samples + manifest.split("dev").samples), classes, pre, sources=faces)
        shown = fit_ds
    else:
        train_dl, dev_dl, module = _loaders(cfg, manifest, classes, pre, faces, recipe, model)
        train_ds, dev_ds = train_dl.dataset, dev_dl.dataset
        shown = train_ds

    if writer:
        run_folder.save_config(out, {"config": asdict(cfg), "recipe": recipe.to_dict(), "protocol": protocol, "classes": classes})
        _write_samples(shown, classes, out / "samples.png", cfg.seed)

    # 3. fit: a feature model (texture) by scikit-learn on descriptors; a network by Lightning
    if fitted_model:
        from spoofguard.training.fit_features import fit_feature_model

        fitted = fit_feature_model(model, pre, fit_ds, seed=cfg.seed, say=say)
        model = model.float().cpu().eval()
        history, rate = [], fitted.images_per_s
        threshold, threshold_source, dev_metrics = _calibrate_fitted(cfg, fitted.oof_scores, fit_ds.samples)
    else:
        model, history, rate = _fit_network(cfg, out, module, train_dl, dev_dl, resuming)
        if hasattr(model, "set_prototypes"):  # metric learning: prototypes = class means of training captures, temperature from dev
            _fit_prototypes(model, _dataset(manifest.split("train"), classes, pre, all_views=True, sources=faces), dev_ds)
        dev_scores = _scores(model, pre, dev_ds)
        dev_labels = np.array([s.label for s in dev_ds.samples])  # per capture (per video for clips)
        # centred in the gap of thresholds that make the dev decisions: a perfectly separated dev split no longer puts it at the
        # lowest bona fide score (NUAA: 0.81, which rejected a phone's bona fide frame at 0.79)
        threshold = float(centred_threshold(cfg.threshold_rule, dev_scores, dev_labels, np.array([s.species for s in dev_ds.samples])))
        threshold_source = f"dev split ({cfg.threshold_rule}, centred)"
        dev_metrics = _dev_metrics(dev_scores, dev_labels, threshold)
    epochs_run = len(history)
    if separation_warning(dev_metrics, "dev split" if not fitted_model else "out-of-fold set"):
        say(separation_warning(dev_metrics, "dev split" if not fitted_model else "out-of-fold set"))

    result = TrainResult(out, out / run_folder.BUNDLE, dev_metrics, threshold, epochs_run, rate, time.time() - t0, skipped, cfg.threshold_rule,
                         threshold_source, fitted_model)
    if writer:
        provenance = {
            "manifest_sha256": manifest.fingerprint(),
            "protocol": protocol,
            "seed": cfg.seed,
            "counts": summary,
            "epochs": epochs_run,
            "recipe": recipe.to_dict(),
            "augment": cfg.augment,
            "attack_simulation": cfg.attack_simulation,
            "attack_species": cfg.attack_species,
            "freeze": cfg.freeze,
            "l2_init": cfg.l2_init,
            "init": None if start is None else {"from": start.path, "weights_sha256": start.metadata.get("weights_sha256")},
            "train_images_per_s": round(rate, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        save_bundle(
            result.bundle,
            model,
            {
                "classes": classes,
                "preprocessing": pre.to_dict(),
                "threshold": threshold,
                "threshold_rule": cfg.threshold_rule,
                "threshold_source": threshold_source,
                "dev_metrics": dev_metrics,
                "training": provenance,
                "versions": _versions(),
            },
        )
        _write_history(history, out / "history.csv")
        if history:
            plots.plot_curves(history, out / "curves.png")
        (out / "dev_metrics.json").write_text(json.dumps({**dev_metrics, "threshold": threshold}, indent=2))
    result.wall_time_s = time.time() - t0
    return result


def _loaders(cfg: TrainConfig, manifest: Manifest, classes: list[str], pre: Preprocessing, faces: dict, recipe, model):
    """A network's training and dev data loaders (augmented training views) and its Lightning module."""
    augmenter = build_augmenter(cfg.modality, pre.channels, cfg.augment, seed=cfg.seed)
    views = cfg.patches_per_image if pre.crop == "patches" else len(pre.face_scales) if pre.crop == "face" else 1
    if pre.clip_frames and not any(s.video_id for s in manifest):
        raise SpoofguardError(f"--model {cfg.model} learns from clips of video frames: the samples need a video_id. Scan a video dataset "
                              "and extract its frames (`spoofguard data frames MANIFEST -o FRAMES/`), then train on FRAMES/manifest.csv.")
    if pre.clip_frames:  # temporal: clips of frames of one video (samples grouped by video_id)
        train_ds = ClipDataset(manifest.split("train").samples, classes, pre, pre.clip_frames, augment=augmenter, clips_per_video=4, sources=faces)
        dev_ds = ClipDataset(manifest.split("dev").samples, classes, pre, pre.clip_frames, evaluation=True, sources=faces)
    else:
        train_ds = _dataset(manifest.split("train"), classes, pre, augment=augmenter, attack_simulation=cfg.attack_simulation, views=views, sources=faces,
                            attack_species=cfg.attack_species)
        dev_ds = _dataset(manifest.split("dev"), classes, pre, all_views=True, sources=faces)
    workers = cfg.workers if cfg.workers is not None else 0
    sampler = None
    if cfg.balanced:
        sampler = WeightedRandomSampler(balanced_sampler_weights(train_ds.targets), num_samples=len(train_ds), replacement=True)
    common = dict(batch_size=recipe.batch_size, num_workers=workers, persistent_workers=workers > 0)
    train_dl = DataLoader(train_ds, shuffle=sampler is None, sampler=sampler, drop_last=len(train_ds) > recipe.batch_size,
                          worker_init_fn=_seed_worker if workers > 0 else None, **common)
    dev_dl = DataLoader(dev_ds, shuffle=False, **common)
    try:
        module = PADModule(model, pre, recipe, cfg.epochs, freeze=cfg.freeze, l2_init=cfg.l2_init)
    except ValueError as e:
        raise SpoofguardError(f"{cfg.model}: {e}.") from None
    return train_dl, dev_dl, module


def _fit_network(cfg: TrainConfig, out: Path, module: PADModule, train_dl, dev_dl, resuming: bool):
    """Lightning's fit (its info lines, including its product tips, are replaced by one line of ours);
    returns the best epoch's model (by the dev monitor), the history and the training images/s."""
    writer = run_folder.is_global_zero()
    say = print if writer else (lambda *a, **k: None)
    pre = module.preprocessing
    train_ds, dev_ds = train_dl.dataset, dev_dl.dataset
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    meter = ThroughputMeter()
    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor=cfg.monitor, mode=MONITORS[cfg.monitor], save_last=True)
    trainer = L.Trainer(
        max_epochs=cfg.epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision or _default_precision(cfg.accelerator),
        callbacks=[best, EarlyStopping(monitor=cfg.monitor, mode=MONITORS[cfg.monitor], patience=cfg.patience), meter]
        + ([EpochLines(cfg.epochs)] if wants_epoch_lines(cfg.progress) else []),
        logger=[TensorBoardLogger(out, name="tensorboard", version=""), CSVLogger(out, name="logs", version="")],
        enable_progress_bar=cfg.progress and not wants_epoch_lines(cfg.progress),
        enable_model_summary=False,  # its FLOPs column reads 0 on CPU; our own line says what is trained
        num_sanity_val_steps=0,
        log_every_n_steps=max(1, min(50, len(train_dl))),
        deterministic=cfg.deterministic,
    )
    what = (f"{len(train_ds.samples)} train / {len(dev_ds.samples)} dev {'videos' if pre.clip_frames else 'images'}"
            + (f" as clips of {pre.clip_frames} frames" if pre.clip_frames else "")
            + (f" as {pre.input_size}px patches ({len(train_ds)} train draws / {len(dev_ds)} dev patches per epoch)" if pre.crop == "patches" else "")
            + (f" as {pre.input_size}px face crops at scale(s) {', '.join(f'{k:g}' for k in pre.face_scales)}" if pre.crop == "face" else ""))
    say(f"training {cfg.model} on {trainer.strategy.root_device} ({trainer.precision} precision), {what}, classes {module.model.classes}")
    trainer.fit(module, train_dl, dev_dl, ckpt_path=str(out / run_folder.LAST_CKPT) if resuming else None, weights_only=True)
    _record_rank_digest(module.model, trainer.global_rank)
    if trainer.interrupted:
        raise SpoofguardError(f"training was interrupted after {len(module.history)} epoch(s); no bundle was written. Continue with: spoofguard train --resume --out {out}")

    if best.best_model_path:  # the best epoch's weights
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    return module.model.float().cpu().eval(), module.history, meter.rate


def init_weights_from(path: str, model: str, modality: str):
    """The bundle ``--init`` names, checked to be the same architecture and modality as the run. From
    an ensemble bundle (e.g. the Silent-Face pair) the member of that architecture is taken, with its
    own input contract."""
    from spoofguard.inference.bundle import Bundle, load_bundle

    bundle = load_bundle(path)
    if bundle.architecture == "ensemble":
        members = bundle.metadata["members"]
        names = [m["architecture"]["name"] for m in members]
        if model not in names:
            raise SpoofguardError(f"--init {path} is an ensemble of {', '.join(names)}; pass --model with one of them.")
        i = names.index(model)
        m = members[i]
        bundle = Bundle(bundle.model.members[i], {**bundle.metadata, "architecture": m["architecture"], "preprocessing": m["preprocessing"],
                                                  "member_classes": m["classes"]}, bundle.path)
    if bundle.architecture != model:
        raise SpoofguardError(f"--init {path} holds a {bundle.architecture} model, not {model}; pass --model {bundle.architecture} "
                              "or start from a bundle of the same architecture.")
    if bundle.modality != modality:
        raise SpoofguardError(f"--init {path} is a {bundle.modality} model; this run trains a {modality} model.")
    if model_info(model).get("fitted"):
        raise SpoofguardError(f"--init starts gradient training from a model's weights; {model} is fitted from scratch in seconds, so it has none to start from.")
    return bundle


def init_architecture(path: str) -> str:
    """The architecture a run started with ``--init`` and no ``--model`` trains: the bundle's own (an
    ensemble's first member)."""
    from spoofguard.inference.bundle import read_metadata

    meta = read_metadata(path)
    if meta["architecture"]["name"] == "ensemble":
        return meta["members"][0]["architecture"]["name"]
    return meta["architecture"]["name"]


def load_matching_weights(model, source, source_classes: list[str] | None = None) -> int:
    """Copy every tensor of ``source`` whose name and shape ``model`` has; returns how many.

    A classifier whose classes differ (e.g. upstream's [attack_0, bona_fide, attack_2] into
    [bona_fide, attack]) is carried over row by row: each new class gets the mean of the source rows
    of the same name, ``attack`` the mean of every source row that is not bona fide."""
    mine = model.state_dict()
    src = source.state_dict()
    theirs = {k: v for k, v in src.items() if k in mine and mine[k].shape == v.shape}
    classes, old = list(getattr(model, "classes", [])), list(source_classes or getattr(source, "classes", []))
    if classes and old and classes != old:
        for k, v in src.items():
            if k in mine and v.dim() >= 1 and v.shape[0] == len(old) and mine[k].shape[0] == len(classes) and v.shape[1:] == mine[k].shape[1:]:
                rows = []
                for c in classes:
                    pick = [i for i, o in enumerate(old) if o == c] or ([i for i, o in enumerate(old) if o != "bona_fide"] if c == "attack" else [])
                    rows.append(v[pick].mean(0) if pick else mine[k][len(rows)])
                theirs[k] = torch.stack(rows)
    if not theirs:
        raise SpoofguardError("--init: no tensor of the starting model fits this one (another width or depth?).")
    model.load_state_dict({**mine, **theirs})
    return len(theirs)


def preprocessing_for(cfg: TrainConfig) -> Preprocessing:
    """The input contract of a new model: the modality's views at the model's (or the user's) size."""
    info = model_info(cfg.model)
    if cfg.modality == "fingerprint":
        crop = cfg.crop or info.get("fingerprint_crop", "whole")
    else:
        crop = cfg.crop or ("whole" if cfg.precropped else "face")
    default_size = info.get("fingerprint_patch_size", info["default_input_size"]) if crop == "patches" else info["default_input_size"]
    clip = int(cfg.model_kwargs.get("frames", info["kwargs"].get("frames", 0))) if info.get("clip_frames") else 0
    if clip and crop == "patches":
        crop = "whole"  # a clip is one view per frame: the whole print, not a random patch
    contract = info.get("input_contract", {})  # e.g. texture: pixel values 0-255, not normalised
    channels = MODALITIES[cfg.modality]["channels"]
    norm = {"mean": [contract["mean"]] * channels, "std": [contract["std"]] * channels, "pixel_range": contract["pixel_range"]} if contract else {}
    return Preprocessing(cfg.modality, cfg.input_size or default_size, crop=crop, face_scales=list(cfg.face_scales or []),
                         face_detector=cfg.face_detector, clip_frames=clip, **norm)


def _size_kwargs(cfg: TrainConfig, pre: Preprocessing) -> dict:
    """Models whose layers depend on the input size (seed-cnn's dense layer) are told it."""
    return {"input_size": pre.input_size} if "input_size" in model_info(cfg.model)["kwargs"] else {}


def _dataset(part: Manifest, classes: list[str], pre: Preprocessing, augment=None, attack_simulation: float = 0.0,
             views: int = 1, all_views: bool = False, sources: dict | None = None, attack_species=None) -> SampleDataset:
    # decoded images kept in memory when they fit in ~2 GiB (patches keep the native capture: ~500 px a side)
    per_image = {"whole": pre.input_size**2, "face": 0}.get(pre.crop, 600**2) * pre.channels  # face crops: preloaded
    return SampleDataset(part.samples, classes, pre, cache=len(part) * per_image < 2 * 1024**3, augment=augment,
                         attack_simulation=attack_simulation, views_per_sample=views, all_views=all_views, sources=sources,
                         attack_species=attack_species)


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


def _scores(model, pre: Preprocessing, ds: SampleDataset, batch_size: int = 64) -> np.ndarray:
    """One fused score per dev image (per dev video for clips), through the detector's own view-and-fuse path."""
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
def _fit_prototypes(model, train_ds: SampleDataset, dev_ds: SampleDataset, batch_size: int = 64) -> None:
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


def _calibrate_fitted(cfg: TrainConfig, oof_scores: np.ndarray | None, samples: list) -> tuple[float, str, dict]:
    """A feature model is fitted on train + dev (it has no epochs to pick on dev), so its threshold and
    its reported figures come from the out-of-fold scores of those captures (subject-disjoint folds),
    at the middle of the rule's decision interval; never from test."""
    if oof_scores is None:
        raise SpoofguardError(f"{cfg.model} picks its threshold on out-of-fold scores of the training captures, which needs at least "
                              "2 subjects (or captures, when no subject is known) of each class in train + dev; add data.")
    labels, species = np.array([s.label for s in samples]), np.array([s.species for s in samples])
    threshold = centred_threshold(cfg.threshold_rule, oof_scores, labels, species)
    metrics = _dev_metrics(oof_scores, labels, threshold)
    metrics["scores"] = "out-of-fold (train + dev, subject-disjoint folds)"
    return threshold, f"out-of-fold scores of train + dev ({cfg.threshold_rule}, centred)", metrics


def _dev_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    bona = labels == "bona_fide"
    accepted = scores >= threshold
    dev_eer, _ = eer(scores, labels)
    metrics = {
        "n": int(len(scores)),
        "accuracy": float((accepted == bona).mean()),
        "eer": None if dev_eer is None else float(dev_eer),
        "apcer_pooled": float(accepted[~bona].mean()) if (~bona).any() else None,
        "bpcer": float((~accepted[bona]).mean()) if bona.any() else None,
    }
    if bona.any() and (~bona).any() and scores[~bona].max() < scores[bona].min():
        metrics["separated_gap"] = [float(scores[~bona].max()), float(scores[bona].min())]
    return metrics


def separation_warning(dev_metrics: dict, where: str = "dev split") -> str:
    """The warning for a perfectly separated dev set: no dev error pins the threshold, so the rates on
    new captures can be far from the dev's (an EER of 0 on dev is not a promise)."""
    gap = dev_metrics.get("separated_gap")
    if not gap:
        return ""
    return (f"warning: the {where} is perfectly separated (every attack below {gap[0]:.4g}, every bona fide above {gap[1]:.4g}): "
            "no dev error pins the threshold (it sits in the middle of that gap), so error rates on new captures can be far "
            "from the dev's 0; judge the model on a test split of other subjects before trusting it.")


def _write_history(history: list[dict], path: Path) -> None:
    keys = ["epoch", "lr", "train_loss", "train_acc", "dev_loss", "dev_acc", "dev_eer", "dev_n"]  # dev_n: dev views judged
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(history)


def _write_samples(ds: SampleDataset, classes: list[str], path: Path, seed: int, n: int = 32) -> None:
    """A grid of what the network sees in training: augmented inputs with their labels."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ds), size=min(n, len(ds)), replace=False)
    first = [ds[int(i)][0].numpy() for i in idx]
    images = np.stack([a[0] if a.ndim == 4 else a for a in first]).astype(np.float32) / 255.0  # clips: their first frame
    plots.plot_samples(images, [classes[ds.targets[int(i)]] for i in idx], path)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("spoofguard", "torch", "lightning", "numpy", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out
