"""Training a detector, from a dataset to a model bundle, top to bottom.

    settings (TrainConfig: DataSpec, ModelSpec, InputSpec, FitSpec, Hardware)     training/config.py
      -> starting_point, input_contract   the --init bundle, the Preprocessing   training/stages.py
      -> prepare_data                      readable samples, faces, the split     training/stages.py
      -> build                             the model and its optimiser recipe     training/stages.py
      -> (the run folder is made here: every refusal above left it untouched)
      -> prepare_fit, fit                  Lightning (networks) or scikit-learn   training/fit.py
      -> calibrate                         threshold (dev EER by default), dev metrics
      -> the run: model.safetensors, split.csv, config.json, history, curves, samples

:func:`train` runs a new run; :func:`resume` continues an interrupted one with its own settings
(only the epochs and the hardware may change). ``cv`` and ``compare`` train every fold and every
model through :func:`train`, so the stages are the same everywhere.
"""

from __future__ import annotations

import csv
import json
import platform
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from spoofguard.errors import SpoofguardError
from spoofguard.training import plots, run_folder
from spoofguard.training.config import (  # noqa: F401  (TrainConfig, validate: the public API of training)
    RESUME_MAY_CHANGE,
    DataSpec,
    FitSpec,
    Hardware,
    InputSpec,
    ModelSpec,
    TrainConfig,
    validate,
)
from spoofguard.training.stages import (  # noqa: F401  (separation_warning: shown by callers too)
    Calibration,
    build,
    calibrate,
    input_contract,
    prepare_data,
    separation_warning,
    starting_point,
)


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


def train(config: TrainConfig | None = None, *, overwrite: bool = False, **settings) -> TrainResult:
    """Train a detector and write its run folder; ``settings`` are :class:`TrainConfig`'s, flat.

    An ``out`` folder that already holds a run is refused unless ``overwrite`` (then it is moved
    aside, never deleted).
    """
    cfg = config or TrainConfig(**settings)
    return _train(cfg, resuming=False, overwrite=overwrite)


def resume(out: str | Path, epochs: int | None = None, progress: bool = True, *, overwrite: bool = False, **settings) -> TrainResult:
    """Continue an interrupted run from its last checkpoint, with the configuration it started with.

    ``settings`` are TrainConfig settings the caller states again: the epochs and the hardware
    (:data:`~spoofguard.training.config.RESUME_MAY_CHANGE`) replace the stored ones; the data, model,
    preprocessing and recipe must equal what the run started with (a resumed run that silently trained
    on other data or another model would be a wrong answer), else this refuses. ``overwrite``
    contradicts resuming and is refused (it is here so every caller gets that one answer).
    """
    out = Path(out)
    run_folder.prepare(out, overwrite=overwrite, resume=True)
    stored = run_folder.load_config(out)["config"]
    known = {f.name for f in fields(TrainConfig)}
    if sorted(set(settings) - known):
        raise SpoofguardError(f"unknown training setting(s) {sorted(set(settings) - known)}.")
    if sorted(set(stored) - known):
        raise SpoofguardError(f"{out / run_folder.CONFIG} holds unknown training setting(s) {sorted(set(stored) - known)}; it was edited, or "
                              "the run is from another spoofguard version. Start a new run in another --out.")
    _find_the_data(stored, settings.get("data"))
    _refuse_other_settings(out, stored, settings)
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


def _find_the_data(stored: dict, data_now: str | None) -> None:
    """The run's data where config.json says, or where ``data_now`` (--data typed again) says it is now."""
    recorded = stored.get("data")
    if data_now is not None and isinstance(recorded, str) and not Path(recorded).exists() and Path(data_now).exists():
        # not where config.json says, seen from here (a relative path typed in another folder, or the data moved with the run)
        print(f"note: the run's data {recorded!r} is not found from here; continuing with --data {data_now}")
        stored["data"] = data_now
    elif isinstance(recorded, str) and not Path(recorded).exists():
        raise SpoofguardError(f"the run's data {recorded!r} (config.json) is not found from {Path.cwd()}: resume from the folder "
                              "the run was started in, or pass --data with where the data is now.")


def _refuse_other_settings(out: Path, stored: dict, settings: dict) -> None:
    """A setting stated again that is no epoch or hardware setting must be what the run started with."""
    differ = {k: (stored.get(k), v) for k, v in settings.items()
              if k not in RESUME_MAY_CHANGE and k != "out" and not _same_setting(k, stored.get(k), v)}
    if differ:
        listed = "; ".join(f"{k}: run {was!r}, now {now!r}" for k, (was, now) in sorted(differ.items()))
        changeable = ", ".join(k for k in RESUME_MAY_CHANGE if k != "progress")
        raise SpoofguardError(f"--resume continues {out} with the settings it started with (config.json), and these differ: {listed}. "
                              f"Drop them (only {changeable} may change), or start a new run in another --out.")


def _same_setting(name: str, stored, given) -> bool:
    if name == "data" and stored is not None and given is not None:
        return Path(stored).resolve() == Path(given).resolve()
    if name == "model_kwargs":  # only the keys given (--theta, --frames) are compared
        return all((stored or {}).get(k) == v for k, v in (given or {}).items())
    if isinstance(stored, list) or isinstance(given, (list, tuple)):
        return list(stored or []) == list(given or [])
    return stored == given


def _train(cfg: TrainConfig, resuming: bool, overwrite: bool = False) -> TrainResult:
    """The stages in order (see the module docstring); the run folder is touched only after every
    stage that can refuse the settings or the data, and released when training ends."""
    from spoofguard.models import model_info
    from spoofguard.training.fit import claim_cpu, fit, prepare_fit

    t0, out = time.time(), Path(cfg.out)
    validate(cfg)
    writer = run_folder.is_global_zero()
    say = print if writer else (lambda *a, **k: None)
    if cfg.default_note:
        say(cfg.default_note)
    arch, spec, hardware = cfg.part(ModelSpec), cfg.part(FitSpec), cfg.part(Hardware)
    claim_cpu(hardware, say)
    start = starting_point(arch, cfg.modality)
    pre = input_contract(arch, cfg.part(InputSpec), start)
    split = prepare_data(cfg.part(DataSpec), pre, seed=cfg.seed, progress=cfg.progress and writer, say=say)
    classes = split.classes(cfg.species_as_classes or model_info(cfg.model).get("species_classes", False))  # siamese: a prototype per species
    say(f"protocol {split.protocol}: " + "; ".join(f"{sp} {sum(c.values())}" for sp, c in split.summary().items()))
    net = build(arch, pre, spec, classes, start, say)
    try:
        if writer:
            if not resuming:
                run_folder.prepare(out, overwrite=overwrite, resume=False)
            split.write(out / "split.csv")
        leaks = split.leaks()
        if leaks:
            say(f"warning: {len(leaks)} group(s) of identical files are in more than one split (leakage), e.g. {leaks[0].paths[:2]}")
        data = prepare_fit(net, split, pre, spec, hardware)
        if writer:
            run_folder.save_config(out, {"config": {**cfg.settings(), "data": str(Path(cfg.data).resolve())},
                                         "recipe": net.recipe.to_dict(), "protocol": split.protocol, "classes": classes})
            _write_samples(data.shown, classes, out / "samples.png", cfg.seed)
        fitted = fit(net, data, split, pre, spec, hardware, out, resuming, say)
        cal = _calibrate(cfg, fitted)
        result = TrainResult(out, out / run_folder.BUNDLE, cal.metrics, cal.threshold, len(fitted.history), fitted.images_per_s,
                             time.time() - t0, split.skipped, cfg.threshold_rule, cal.source, net.fitted)
        if writer:
            _write_run(out, cfg, net, split, pre, fitted, cal)
        result.wall_time_s = time.time() - t0
        return result
    finally:
        run_folder.release(out)


def _calibrate(cfg: TrainConfig, fitted) -> Calibration:
    """The threshold and the figures at it, from the dev scores (networks) or the out-of-fold scores
    of train + dev (a feature model is fitted on both, at the middle of the rule's decision interval;
    never on test); a perfectly separated set is warned about."""
    if fitted.scores is None:
        raise SpoofguardError(f"{cfg.model} picks its threshold on out-of-fold scores of the training captures, which needs at least "
                              "2 subjects (or captures, when no subject is known) of each class in train + dev; add data.")
    where = "out-of-fold scores of train + dev" if fitted.out_of_fold else "dev split"
    cal = calibrate(fitted.scores, fitted.labels, fitted.species, cfg.threshold_rule, where)
    if fitted.out_of_fold:
        cal.metrics["scores"] = "out-of-fold (train + dev, subject-disjoint folds)"
    warning = separation_warning(cal.metrics, "out-of-fold set" if fitted.out_of_fold else "dev split")
    if warning and run_folder.is_global_zero():
        print(warning)
    return cal


def _write_run(out: Path, cfg: TrainConfig, net, split, pre, fitted, cal: Calibration) -> None:
    """The bundle (weights, input contract, threshold, provenance), the history, curves and dev metrics."""
    from spoofguard.inference.bundle import save_bundle

    start = net.start
    provenance = {
        "manifest_sha256": split.manifest.fingerprint(),
        "protocol": split.protocol,
        "seed": cfg.seed,
        "counts": split.summary(),
        "epochs": len(fitted.history),
        "recipe": net.recipe.to_dict(),
        "augment": cfg.augment,
        "attack_simulation": cfg.attack_simulation,
        "attack_species": cfg.attack_species,
        "freeze": cfg.freeze,
        "l2_init": cfg.l2_init,
        "init": None if start is None else {"from": start.path, "weights_sha256": start.metadata.get("weights_sha256")},
        "train_images_per_s": round(fitted.images_per_s, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_bundle(out / run_folder.BUNDLE, fitted.model, {
        "classes": list(net.model.classes),
        "preprocessing": pre.to_dict(),
        "threshold": cal.threshold,
        "threshold_rule": cfg.threshold_rule,
        "threshold_source": cal.source,
        "dev_metrics": cal.metrics,
        "training": provenance,
        "versions": _versions(),
    })
    _write_history(fitted.history, out / "history.csv")
    if fitted.history:
        plots.plot_curves(fitted.history, out / "curves.png")
    (out / "dev_metrics.json").write_text(json.dumps({**cal.metrics, "threshold": cal.threshold}, indent=2))


def _write_history(history: list[dict], path: Path) -> None:
    keys = ["epoch", "lr", "train_loss", "train_acc", "dev_loss", "dev_acc", "dev_eer", "dev_n"]  # dev_n: dev views judged
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(history)


def _write_samples(ds, classes: list[str], path: Path, seed: int, n: int = 32) -> None:
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
