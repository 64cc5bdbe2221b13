"""Compare models on one dataset: the same split, the same budget, one table (issue 9).

    rows = compare(["seed-cnn", "spoofnet", "padnet"], data="prints/", out="cmp", epochs=30,
                   epochs_per_model={"spoofnet": 15}, subject_pattern=r"^(\\d+)_")
    # -> cmp/compare.md, cmp/compare.json, cmp/runs/<model>/ (run folder + report/)

How each row is made, top to bottom:

1. **Same split.** The first model is trained with the requested protocol (default ``auto``); its run's
   ``split.csv`` is then the data of every other model, with protocol ``manifest``, so all of them see
   the identical train / dev / test samples (checked after each run). If the first model fails
   before writing its split, the next one makes it.
2. **Same budget.** The same number of epochs for every model (``epochs_per_model`` overrides it per
   model), early stopping off unless ``patience`` is given, the best epoch by the dev monitor kept
   (as ``train`` always does). The epochs actually run are recorded.
3. **Judged on test** at the model's own dev threshold (the one its bundle stores), by
   :func:`spoofguard.evaluation.evaluate.evaluate`: APCER (max over species), BPCER, ACER, EER,
   BPCER20, AUC; with ``bootstrap`` > 0 also their 95 % intervals.
4. **Cost.** Parameters; GFLOPs per image: torch's ``FlopCounterMode`` on one view (2 FLOPs per
   multiply-add) times the mean number of views per test image (patch models look at many patches of
   a print); training time (the whole ``train`` call); inference images/s: the model alone on CPU at
   batch 32 (:func:`spoofguard.inference.bench.bench`: views/s, divided by views per image) on
   onnxruntime and on torch.

A model is named as registered, optionally with an input size: ``padnet@224`` (for patch models the
patch side). A model that fails to train or to be judged gets a row with the error; the others go on.
Unknown model names, bad options and existing run folders are refused before anything is trained.
"""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable

from spoofguard.cpu import usable_cores
from spoofguard.errors import SpoofguardError

BENCH_BATCH = 32
METRICS = ("apcer", "bpcer", "acer", "eer", "bpcer20", "auc")
NOT_TRAIN_OPTIONS = ("data", "out", "model", "epochs", "protocol", "seed", "progress")


@dataclass
class CompareRow:
    model: str  # as asked for, e.g. "padnet@224"
    input_size: int | None
    epochs: int | None  # epochs actually run
    apcer: float | None  # max over attack species, test split, at the dev threshold
    bpcer: float | None
    acer: float | None
    eer: float | None
    bpcer20: float | None
    auc: float | None
    params: int | None
    gflops: float | None  # per image (all of its views)
    train_seconds: float | None
    images_per_s: float | None  # onnxruntime, CPU, batch 32, the model alone
    error: str = ""
    # details (JSON; some also in the markdown)
    architecture: str = ""
    view: str = ""  # whole | patches | face
    epochs_budget: int | None = None
    threshold: float | None = None
    views_per_image: float | None = None
    gflops_per_view: float | None = None
    images_per_s_torch: float | None = None  # torch, CPU, batch 32, the model alone
    train_images_per_s: float | None = None
    ci95: dict = field(default_factory=dict)
    test_n: int | None = None
    run: str = ""
    notes: list = field(default_factory=list)


@dataclass
class _Entry:
    label: str
    model: str
    input_size: int | None
    epochs: int


# -- parsing (shared with the command line) ---------------------------------------------------------


def parse_models(text: str | list[str]) -> list[str]:
    """``"seed-cnn,padnet@224"`` -> ``["seed-cnn", "padnet@224"]`` (spaces and empty items dropped)."""
    items = text if isinstance(text, list) else str(text).split(",")
    return [m.strip() for m in items if m and m.strip()]


def parse_epochs_per_model(text: str | None) -> dict[str, int]:
    """``"spoofnet=15,padnet@224=40"`` -> ``{"spoofnet": 15, "padnet@224": 40}``."""
    out: dict[str, int] = {}
    for item in parse_models(text or ""):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise SpoofguardError(f"--epochs-per-model takes NAME=EPOCHS items separated by commas, e.g. spoofnet=15,padnet=40 (got {item!r}).")
        out[name.strip()] = int(value)
    return out


def _entries(models: list[str], epochs: int, epochs_per_model: dict[str, int] | None) -> list[_Entry]:
    from spoofguard.models import list_models

    labels = parse_models(models)
    if not labels:
        raise SpoofguardError("no models to compare; name them, e.g. --models seed-cnn,spoofnet,padnet.")
    dupes = sorted({m for m in labels if labels.count(m) > 1})
    if dupes:
        raise SpoofguardError(f"model(s) listed twice: {', '.join(dupes)}; list each once (another size as name@SIZE).")
    per = dict(epochs_per_model or {})
    unused = sorted(set(per) - set(labels) - {lab.partition("@")[0] for lab in labels})
    if unused:
        raise SpoofguardError(f"--epochs-per-model names {', '.join(unused)}, which are not among the models compared ({', '.join(labels)}).")
    entries = []
    for label in labels:
        name, at, size = label.partition("@")
        if name not in list_models():
            raise SpoofguardError(f"unknown model {name!r}; known models: {', '.join(list_models())} (optionally with an input size, e.g. padnet@224).")
        if at and not (size.isdigit() and int(size) >= 8):
            raise SpoofguardError(f"{label!r}: the size after @ is the input side in pixels, e.g. {name}@224.")
        n = per.get(label, per.get(name, epochs))
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SpoofguardError(f"epochs for {label} must be a whole number >= 1 (got {n!r}).")
        entries.append(_Entry(label, name, int(size) if at else None, n))
    return entries


# -- the comparison ---------------------------------------------------------------------------------


def compare(models: list[str], data: str, out: str | Path, modality: str = "fingerprint", protocol: str = "auto", epochs: int = 10,
            epochs_per_model: dict[str, int] | None = None, seed: int = 0, bootstrap: int = 0, folds: int = 0,
            progress: Callable[[int, int], None] | None = None, *, overwrite: bool = False,
            backends: tuple[str, ...] = ("onnx", "torch"), bench_seconds: float = 2.0, say: Callable[[str], None] = print,
            **train_options) -> list[CompareRow]:
    """Train every model on the same split with the same budget, judge each on the test split at its
    own dev threshold, and write ``out/compare.md`` and ``out/compare.json`` (rewritten after every
    model, so an interrupted comparison keeps what it finished). See the module docstring.

    ``train_options`` go to every :class:`~spoofguard.training.train.TrainConfig` (e.g.
    ``subject_pattern``, ``format``, ``input_size``, ``crop``, ``patience``, ``accelerator``).
    ``progress(done, total)`` is called after each model; ``say`` gets one line per step.
    ``overwrite``: existing run folders are moved aside (never deleted) instead of refused.
    ``folds`` >= 2: instead of one split, every model is cross-validated on the same subject-disjoint
    folds (:mod:`spoofguard.cv`, in ``out/cv/<model>/``); its row holds the pooled out-of-fold figures
    (each sample judged at its own fold's threshold) and the mean training time per fold.
    """
    from spoofguard.training.config import TrainConfig, validate

    out = Path(out)
    entries = _entries(models, epochs, epochs_per_model)
    clash = sorted(set(train_options) & set(NOT_TRAIN_OPTIONS))
    if clash:
        raise SpoofguardError(f"compare sets {', '.join(clash)} itself; pass them as compare's own arguments.")
    backends = tuple(backends)
    if not set(backends) <= {"onnx", "torch"}:
        raise SpoofguardError(f"inference backends are onnx and torch (got {', '.join(backends)}).")
    if not Path(data).exists():
        raise SpoofguardError(f"--data {data} does not exist; give a dataset folder or a manifest .csv.")
    options = dict(train_options)
    if options.get("patience") is None:  # same budget: no early stopping unless asked
        options["patience"] = max(e.epochs for e in entries)
    configs = {}
    for e in entries:  # every configuration is checked before the first one trains
        opts = {**options, "input_size": e.input_size or options.get("input_size")}
        try:
            cfg = TrainConfig(data=str(data), out=str(out / "runs" / e.label), modality=modality, model=e.model, epochs=e.epochs,
                              protocol=protocol, seed=seed, progress=False, **opts)
        except TypeError as err:
            raise SpoofguardError(f"unknown training option: {err}") from None
        validate(cfg)
        configs[e.label] = cfg
    where = "cv" if folds else "runs"
    existing = [str(out / where / e.label) for e in entries if (out / where / e.label).exists()]
    if existing and not overwrite:
        raise SpoofguardError(f"{', '.join(existing)} already exist(s); choose another --out, or pass --overwrite (old runs are moved aside, not deleted).")

    context = _context(data, modality, protocol, seed, bootstrap, entries, options, backends)
    if folds:
        return _compare_by_cv(entries, configs, data, out, folds, seed, overwrite, backends, bench_seconds, context, say, progress)
    rows: list[CompareRow] = []
    reference: Path | None = None  # split.csv every model after the first trains on
    for i, e in enumerate(entries):
        cfg = configs[e.label]
        if reference is not None:
            cfg = replace(cfg, data=str(reference), protocol="manifest")
        say(f"[{i + 1}/{len(entries)}] {e.label}: {e.epochs} epoch(s), "
            + (f"split from {reference}" if reference else f"protocol {protocol}") + f", run folder {cfg.out}")
        row = _one(e, cfg, overwrite, bootstrap, seed, backends, bench_seconds, reference)
        run = Path(cfg.out)
        if reference is None and (run / "split.csv").is_file():
            reference = run / "split.csv"
            context.update(_split_context(run, reference))
        rows.append(row)
        say(f"    {e.label}: " + (f"failed: {row.error}" if row.error else
                                    f"test ACER {_num(row.acer)}, EER {_num(row.eer)}, {_num(row.train_seconds, 0)} s training"))
        context["finished"] = _now()
        context["machine"]["load_average_at_finish"] = _load()
        write_table(rows, out, context)
        if progress:
            progress(i + 1, len(entries))
    return rows


def _compare_by_cv(entries, configs, data, out: Path, folds: int, seed: int, overwrite: bool, backends, bench_seconds: float,
                   context: dict, say, progress) -> list[CompareRow]:
    """``compare --folds``: every model cross-validated on the same folds (fold assignment depends only
    on the data and the seed), one row of pooled out-of-fold figures each."""
    from spoofguard.cv import NOT_TRAIN_OPTIONS as SET_BY_CV, cross_validate
    from spoofguard.inference.bundle import read_metadata

    context.update(protocol=f"{folds}-fold subject-disjoint cross-validation (pooled out-of-fold)", folds=folds)
    rows: list[CompareRow] = []
    for i, e in enumerate(entries):
        options = {k: v for k, v in configs[e.label].settings().items() if k not in SET_BY_CV}
        say(f"[{i + 1}/{len(entries)}] {e.label}: {folds}-fold cross-validation, {e.epochs} epoch(s) per fold")
        row = CompareRow(e.label, e.input_size, None, None, None, None, None, None, None, None, None, None, None,
                         architecture=e.model, epochs_budget=e.epochs, run=str(out / "cv" / e.label))
        try:
            result = cross_validate(data, out / "cv" / e.label, folds=folds, seed=seed, overwrite=overwrite, say=lambda *a: None, **options)
            pooled = result.pooled[0]
            for k in METRICS:
                setattr(row, k, _finite(pooled.get(k)))
            row.test_n = pooled["n"]
            row.train_seconds = round(result.summary["train_seconds"]["mean"], 1)
            row.notes.append(f"mean over {folds} folds: ACER {_num(result.summary['acer']['mean'])} ± {_num(result.summary['acer']['sd'])}, "
                             f"EER {_num(result.summary['eer']['mean'])} ± {_num(result.summary['eer']['sd'])}")
            first = Path(result.folds[0].run)
            pre = read_metadata(first / "model.safetensors")["preprocessing"]
            row.input_size, row.view = int(pre["input_size"]), pre.get("crop", "whole")
            row.epochs = max(0, len((first / "history.csv").read_text().splitlines()) - 1)  # of the first fold; 0 = fitted, no epochs
            _cost(row, first / "model.safetensors", first / "split.csv", backends, bench_seconds)
        except Exception as err:  # noqa: BLE001  one model's failure must not lose the others'
            row.error = str(err) if isinstance(err, SpoofguardError) else f"{type(err).__name__}: {err}"
        rows.append(row)
        say(f"    {e.label}: " + (f"failed: {row.error}" if row.error else
                                    f"pooled ACER {_num(row.acer)}, EER {_num(row.eer)}, {_num(row.train_seconds, 0)} s per fold"))
        context["finished"] = _now()
        write_table(rows, out, context)
        if progress:
            progress(i + 1, len(entries))
    return rows


def _one(e: _Entry, cfg, overwrite: bool, bootstrap: int, seed: int, backends, bench_seconds: float, reference: Path | None) -> CompareRow:
    """Train, judge and measure one model; any failure becomes the row's error."""
    from spoofguard.data.manifest import read_manifest
    from spoofguard.evaluation.evaluate import evaluate
    from spoofguard.inference.bundle import read_metadata
    from spoofguard.training.train import train

    run = Path(cfg.out)
    row = CompareRow(e.label, e.input_size, None, None, None, None, None, None, None, None, None, None, None,
                     architecture=e.model, epochs_budget=e.epochs, run=str(run))
    stage = "training"
    try:
        result = train(cfg, overwrite=overwrite)
        row.epochs, row.train_seconds = result.epochs_run, round(result.wall_time_s, 1)
        row.train_images_per_s, row.threshold = _finite(result.train_images_per_s), _finite(result.threshold)
        pre = read_metadata(result.bundle)["preprocessing"]
        row.input_size, row.view = int(pre["input_size"]), pre.get("crop", "whole")
        if reference is not None and _split_of(run / "split.csv") != _split_of(reference):
            row.notes.append(f"its split differs from {reference} (samples dropped as unreadable?)")
        stage = "evaluation"
        # on video data every model is judged per video: frame models by the mean of their frame scores (the fair
        # single-frame baseline), a temporal model by one clip per video
        videos = not pre.get("clip_frames") and any(s.video_id for s in read_manifest(run / "split.csv") if s.split == "test")
        ev = evaluate(result.bundle, run / "split.csv", run / "report", split="test", bootstrap=bootstrap, seed=seed,
                      per_video_how="mean" if videos else None)
        if videos:
            row.notes.append("judged per video (mean of its frame scores)")
        m = ev.metrics
        for k in METRICS:
            setattr(row, k, _finite(m.get(k)))
        row.test_n = int(m.get("n_bona_fide", 0) + m.get("n_attack", 0))
        if bootstrap:
            row.ci95 = {k: (m.get("ci95") or {}).get(k) for k in METRICS}
        if ev.failed:
            row.notes.append(f"{len(ev.failed)} test sample(s) could not be scored, e.g. {ev.failed[0][1]}")
        stage = "measuring its cost"
        _cost(row, result.bundle, run / "split.csv", backends, bench_seconds)
    except Exception as err:  # noqa: BLE001  one model's failure must not lose the others' hours
        why = str(err) if isinstance(err, SpoofguardError) else f"{type(err).__name__}: {err}"
        row.error = f"{stage} failed: {why}"
        if run.is_dir():
            (run / "compare-error.txt").write_text(traceback.format_exc())
    return row


def _cost(row: CompareRow, bundle: Path, split_csv: Path, backends, bench_seconds: float) -> None:
    """Parameters, GFLOPs per view and per image, inference images/s (CPU, batch 32, model alone)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from spoofguard.data.manifest import read_manifest
    from spoofguard.inference.bench import bench
    from spoofguard.inference.bundle import load_bundle

    b = load_bundle(bundle)
    pre = b.preprocessing
    model = b.model.float().eval()
    row.params = int(sum(p.numel() for p in model.parameters()))
    x = torch.zeros(1, b.metadata["architecture"]["in_chans"], pre.input_size, pre.input_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    row.gflops_per_view = counter.get_total_flops() / 1e9
    if pre.crop == "patches":  # a print is scored by its foreground patches: count them on the test images
        test = [s.path for s in read_manifest(split_csv).split("test")]
        counts = [len(pre.views(p).arrays) for p in test[:500]]
        row.views_per_image = float(sum(counts) / len(counts)) if counts else None
    elif pre.crop == "face":
        row.views_per_image = float(len(pre.face_scales))  # per face
    else:
        row.views_per_image = 1.0
    row.gflops = row.gflops_per_view * row.views_per_image if row.views_per_image else None
    for r in bench(bundle, backends=list(backends), runs=5, batch=BENCH_BATCH, seconds=bench_seconds):
        per_image = r.throughput / (row.views_per_image or 1.0)
        if r.backend == "onnx":
            row.images_per_s = round(per_image, 1)
        else:
            row.images_per_s_torch = round(per_image, 1)


def _split_of(split_csv: Path) -> set[tuple[str, str]]:
    from spoofguard.data.manifest import read_manifest

    return {(os.path.realpath(s.path), s.split) for s in read_manifest(split_csv)}


# -- context --------------------------------------------------------------------------------------


def _context(data, modality, protocol, seed, bootstrap, entries, options, backends) -> dict:
    import torch

    cuda = torch.cuda.is_available() and options.get("accelerator", "auto") in ("auto", "gpu", "cuda")
    usable = usable_cores()
    return {
        "data": str(data),
        "modality": modality,
        "protocol_asked": protocol,
        "seed": seed,
        "epochs": {e.label: e.epochs for e in entries},
        "early_stopping_patience": options.get("patience"),
        "threshold": f"each model's dev threshold ({options.get('threshold_rule', 'eer')} rule), stored in its bundle",
        "bootstrap": bootstrap,
        "train_options": {k: v for k, v in options.items() if isinstance(v, (str, int, float, bool, type(None), list, dict))},
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": usable,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "training_device": f"cuda ({torch.cuda.get_device_name(0)})" if cuda else "cpu",
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": _load(),
        },
        "inference": f"the model alone on CPU, batch {BENCH_BATCH} views, random inputs; backends {', '.join(backends)}",
        "flops": "torch.utils.flop_counter.FlopCounterMode, 2 FLOPs per multiply-add, one view; times views per test image",
        "started": _now(),
    }


def _split_context(run: Path, split_csv: Path) -> dict:
    from spoofguard.data.manifest import read_manifest

    protocol = ""
    try:
        protocol = json.loads((run / "config.json").read_text()).get("protocol", "")
    except (OSError, ValueError):
        pass
    manifest = read_manifest(split_csv)
    split = {}
    for name in ("train", "dev", "test"):
        part = manifest.split(name)
        split[name] = {
            "samples": len(part),
            "bona_fide": sum(s.label == "bona_fide" for s in part),
            "attack": sum(s.label != "bona_fide" for s in part),
            "subjects": len({s.subject for s in part if s.subject}),
        }
    return {"protocol": protocol, "split": split, "split_csv": str(split_csv)}


def _load() -> list[float] | None:
    """1, 5 and 15 minute load averages: training time and img/s mean little on a busy machine."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- the table ------------------------------------------------------------------------------------


def write_table(rows: list[CompareRow], out: str | Path, context: dict) -> tuple[Path, Path]:
    """Write ``out/compare.md`` (a markdown table and what it was measured on) and ``out/compare.json``
    (``{"context": ..., "rows": [...]}``; undefined values are null). Returns both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "compare.md", out / "compare.json"
    js.write_text(json.dumps({"context": context, "rows": [asdict(r) for r in rows]}, indent=2, allow_nan=False, default=_jsonable) + "\n")
    md.write_text(markdown(rows, context))
    return md, js


def read_table(path: str | Path) -> tuple[list[CompareRow], dict]:
    """Rows and context back from ``compare.json`` (or its folder)."""
    path = Path(path)
    path = path / "compare.json" if path.is_dir() else path
    try:
        doc = json.loads(path.read_text())
        names = {f.name for f in fields(CompareRow)}
        return [CompareRow(**{k: v for k, v in r.items() if k in names}) for r in doc["rows"]], doc.get("context", {})
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SpoofguardError(f"{path}: not a comparison written by `spoofguard compare` ({err}).") from None


def markdown(rows: list[CompareRow], context: dict) -> str:
    backends = context.get("inference", "")
    has_torch = any(r.images_per_s_torch is not None for r in rows) or "torch" in backends
    head = ["model", "input", "epochs", "APCER (max)", "BPCER", "ACER", "EER", "BPCER20", "AUC", "params", "GFLOPs / image",
            "train time (s)", "img/s onnx (CPU, batch 32)"] + (["img/s torch (CPU, batch 32)"] if has_torch else [])
    errors = any(r.error for r in rows)
    if errors:
        head.append("error")
    lines = ["# Model comparison", "", _describe(context), "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1 - errors) + ["---"] * errors) + "|"]
    for r in rows:
        epochs = "" if r.epochs is None else str(r.epochs) if r.epochs == r.epochs_budget else f"{r.epochs}/{r.epochs_budget}"
        size = "" if r.input_size is None else f"{r.input_size}" + (f" {r.view}" if r.view and r.view != "whole" else "")
        cells = [r.model, size, epochs] + [_num(getattr(r, k)) for k in METRICS] + [
            _params(r.params), _num(r.gflops, 3), _num(r.train_seconds, 0), _num(r.images_per_s, 1)]
        if has_torch:
            cells.append(_num(r.images_per_s_torch, 1))
        if errors:
            cells.append(r.error.replace("|", "/").replace("\n", " "))
        lines.append("| " + " | ".join(cells) + " |")
    lines += _footnotes(rows, context)
    return "\n".join(lines) + "\n"


def _describe(context: dict) -> str:
    m = context.get("machine", {})
    split = context.get("split")
    sizes = ("train / dev / test: " + " / ".join(f"{split[k]['samples']}" for k in ("train", "dev", "test")) + " samples"
             + (" (" + " / ".join(f"{split[k]['subjects']}" for k in ("train", "dev", "test")) + " subjects)"
                if any(split[k]["subjects"] for k in split) else "")) if split else "no split was made"
    epochs = context.get("epochs", {})
    budget = f"{next(iter(epochs.values()))} epoch(s) each" if len(set(epochs.values())) == 1 else ", ".join(f"{k} {v}" for k, v in epochs.items()) + " epochs"
    patience = context.get("early_stopping_patience")
    stopping = "no early stopping" if patience is not None and patience >= max(epochs.values() or [0]) else f"early stopping patience {patience}"
    if context.get("folds"):
        return (f"Data `{context.get('data')}` ({context.get('modality')}), {context['protocol']}, seed {context.get('seed')}: the same "
                f"folds for every model. Budget: {budget} per fold, {stopping}. Every sample is judged once, by the fold model that did not "
                "see it, at that fold's own threshold (picked on the fold's training part); EER, BPCER20 and AUC from the pooled scores "
                "(ISO/IEC 30107-3; ACER is the community convention). Train time: mean per fold. "
                f"Machine: {m.get('cpu_count')} CPUs ({m.get('cpus_usable')} usable), torch {m.get('torch')}.")
    return (f"Data `{context.get('data')}` ({context.get('modality')}), protocol {context.get('protocol') or context.get('protocol_asked')}, "
            f"seed {context.get('seed')}, the same split for every model: {sizes}. Budget: {budget}, {stopping}, the best dev epoch kept. "
            f"Metrics on the test split at each model's dev threshold (ISO/IEC 30107-3; ACER is the community convention). "
            f"Machine: {m.get('cpu_count')} CPUs ({m.get('cpus_usable')} usable), torch {m.get('torch')} ({m.get('torch_threads')} threads), "
            f"trained on {m.get('training_device')}; load average {_loads(m)}; {context.get('finished') or context.get('started')}.")


def _loads(m: dict) -> str:
    start, finish = m.get("load_average_at_start"), m.get("load_average_at_finish")
    return f"{start[0]:.1f} at start" + (f", {finish[1]:.1f} over the last 5 min at the end" if finish else "") if start else "unknown"


def _footnotes(rows: list[CompareRow], context: dict) -> list[str]:
    notes = ["", "GFLOPs: torch's FlopCounterMode (2 per multiply-add) for one view, times the views per image. "
             "img/s: the model alone on CPU at batch 32 (random inputs), views/s divided by views per image; decoding and "
             "segmentation not included. Train time: the whole training call (checks, split, epochs, dev threshold, bundle)."]
    for r in rows:
        if r.view == "patches" and r.views_per_image:
            notes.append(f"- {r.model}: {r.input_size} px native-resolution patches, {r.views_per_image:.1f} per test image on average, "
                         f"{r.gflops_per_view:.4f} GFLOPs each.")
        for n in r.notes:
            notes.append(f"- {r.model}: {n}")
    ci_rows = [r for r in rows if r.ci95 and not r.error]
    if ci_rows:
        n = context.get("bootstrap")
        notes += ["", f"95 % intervals ({n} bootstrap resamples{', over subjects' if (context.get('split') or {}).get('test', {}).get('subjects') else ''}):", "",
                  "| model | " + " | ".join(k.upper() if k != "apcer" else "APCER (max)" for k in METRICS) + " |",
                  "|---|" + "---:|" * len(METRICS)]
        for r in ci_rows:
            notes.append(f"| {r.model} | " + " | ".join(_interval(r.ci95.get(k)) for k in METRICS) + " |")
    return notes


def _interval(ci) -> str:
    return "n/a" if not ci else f"{ci[0]:.4f}-{ci[1]:.4f}"


def _num(v, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _params(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.2f} M"


def _finite(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _jsonable(v):
    if hasattr(v, "item"):  # numpy scalars
        return _finite(v.item()) if isinstance(v.item(), float) else v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(type(v).__name__)
