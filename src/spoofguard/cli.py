"""The command line: parse, call the library, print. No logic lives here.

Errors a user can cause are printed as one line without a traceback, and the exit status is 2.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from spoofguard.errors import SpoofguardError


def _flags_take_no_value() -> None:
    """Typer's help prints ``<bool>`` beside on/off flags, which reads as "takes a value" (``--balanced
    true`` then fails): a flag shows no type."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_spoofguard", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich._spoofguard = True
    TyperOption.display_type_rich = display_type_rich


_flags_take_no_value()

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="spoofguard: presentation attack detection for fingerprints and faces.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets and manifests.")
app.add_typer(data_app, name="data")
synth_app = typer.Typer(no_args_is_help=True, help="Synthetic bona fide samples and presentation attacks.")
app.add_typer(synth_app, name="synth")
models_app = typer.Typer(no_args_is_help=True, help="Published PAD models (the model zoo): list, pull into the cache.")
app.add_typer(models_app, name="models")
console = Console(emoji=False)  # a file name holding ":cat:" is text too (markup is escaped where names are printed)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"spoofguard {version('spoofguard')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from spoofguard import __version__

            print(f"spoofguard {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version and exit")):
    """spoofguard: presentation attack detection for fingerprints and faces."""


def _table(title: str, rows: list[dict]) -> Table:
    """A table of ``rows``; the title and every cell are text (names come from file and folder names)."""
    t = Table(title=_plain(title), title_justify="left")
    for k in rows[0] if rows else []:
        t.add_column(_plain(k), justify="right" if isinstance(rows[0][k], (int, float)) else "left")
    for r in rows:
        t.add_row(*(f"{v:.4f}" if isinstance(v, float) else _plain(v) for v in r.values()))
    return t


@data_app.command("scan")
def data_scan(
    root: Path = typer.Argument(..., help="dataset folder (one folder per class, at any depth)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write the manifest CSV here"),
    format: str = typer.Option("auto", "--format", help="dataset layout: auto | folder | livdet | nuaa | oulu-npu | casia-fasd | replay-attack | msu-mfsd | celeba-spoof | siw | video-folders"),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="the dataset's official protocol list, e.g. 1 or 3_2 (OULU-NPU), nuaa, 2_1 (SiW)"),
    subject_pattern: Optional[str] = typer.Option(None, "--subject-pattern", help="regex on file names; group 1 = subject, e.g. '^(\\d+)_'"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing -o file"),
):
    """Read a dataset folder into a manifest; print counts and duplicate files."""
    from spoofguard.data.importers import import_dataset
    from spoofguard.data.manifest import write_manifest
    from spoofguard.data.scan import count_table, find_duplicates, subject_table
    from spoofguard.outputs import refuse_to_replace

    from spoofguard.data.importers import detect_format

    refuse_to_replace([output], overwrite=overwrite, option="-o")  # before the folder is read: a refusal costs nothing
    options = {"subject_pattern": subject_pattern} if subject_pattern else {}
    if protocol:
        options["protocol"] = protocol
    if format == "auto":
        format = detect_format(root)
        print(f"layout: {_text(format)} (--format to choose another)")
    result = import_dataset(root, format=format, **options)
    m = result.manifest
    if len(m) == 0:
        raise SpoofguardError(f"{root}: no images found in class folders (expected e.g. {root}/live/*.png and {root}/spoof/*.png).")
    print(f"{len(m)} samples in {_text(root)}")
    console.print(_table("samples per label and species", count_table(m)))
    subjects = subject_table(m)
    if subjects:
        sizes = sorted(sum(c.values()) for c in subjects.values())
        console.print(f"{len(subjects)} subjects; samples per subject: min {sizes[0]}, median {sizes[len(sizes) // 2]}, max {sizes[-1]}")
        if len(subjects) <= 30:
            classes = sorted({c for counts in subjects.values() for c in counts})
            rows = [{"subject": s, **{c: counts.get(c, 0) for c in classes}} for s, counts in subjects.items()]
            console.print(_table("samples per subject", rows))
    if result.skipped:
        console.print(f"[yellow]warning: skipped {len(result.skipped)} file(s):[/yellow]")
        for p, why in result.skipped[:20]:
            print(f"  {_text(_rel(p, root))}: {_text(why)}")
    dups = find_duplicates(m)
    if dups:
        extra = sum(len(g.paths) - 1 for g in dups)
        console.print(f"[yellow]warning: {len(dups)} group(s) of byte-identical files ({extra} redundant file(s)):[/yellow]")
        for g in dups[:20]:
            cross = "  <- in more than one split (leakage)" if g.crosses_splits else ""
            print("  " + " == ".join(_text(_rel(p, root)) for p in g.paths) + cross)
    if output:
        write_manifest(m, output)
        print(f"manifest written to {_text(output)}")


@data_app.command("check")
def data_check(
    data: str = typer.Argument(..., help="manifest .csv (e.g. a run's split.csv) or dataset folder"),
    format: str = typer.Option("auto", "--format", help="dataset layout of a folder"),
    near_duplicates: bool = typer.Option(True, "--near-duplicates/--no-near-duplicates", help="perceptual-hash near-duplicates across splits"),
    max_hamming: int = typer.Option(16, "--max-hamming", help="bits (of 256) two near-duplicate images' dHashes may differ in"),
    min_side: int = typer.Option(64, "--min-side", help="warn about images smaller than this"),
):
    """Leakage and data problems: subjects/videos/identical or near-identical files in two splits (exit 1),
    duplicates, class imbalance, tiny or unreadable images (warnings)."""
    from spoofguard.data.check import check_manifest
    from spoofguard.data.sources import load_samples

    manifest = load_samples(data, format=format).manifest
    report = check_manifest(manifest, near_duplicates=near_duplicates, max_hamming=max_hamming, min_side=min_side)
    splits = sorted({s.split for s in manifest if s.split})
    print(_text(f"{report.samples} samples in {data}" + (f", splits {', '.join(splits)}" if splits else ", no splits (leakage needs a split column, e.g. a run's split.csv)")))
    for f in report.findings:
        console.print(f"[{'red' if f.leak else 'yellow'}]{'LEAK' if f.leak else 'warning'}[/]: {_plain(f.message)}")
        for e in f.examples:
            print(f"  {_text(e)}")
    if not report.findings:
        print("no problems found")
    if report.leaks:
        print(f"{len(report.leaks)} kind(s) of leakage: results on this split would be optimistic.", file=sys.stderr)
        raise typer.Exit(1)


@data_app.command("frames")
def data_frames(
    manifest: Path = typer.Argument(..., help="manifest .csv whose samples are videos (images pass through)"),
    output: Path = typer.Option(..., "-o", "--output", help="frame cache folder; the frame manifest is written into it"),
    max_frames: int = typer.Option(16, "--max-frames", help="frames per video, sampled evenly"),
    every: Optional[int] = typer.Option(None, "--every", help="every N-th frame instead (at most --max-frames)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace frames extracted earlier with other settings"),
):
    """Extract frames of video samples once into a cache folder; writes OUTPUT/manifest.csv (one row per frame, video_id kept)."""
    from spoofguard.data.frames import extract_frames
    from spoofguard.data.manifest import read_manifest, write_manifest
    from spoofguard.outputs import refuse_to_replace
    from spoofguard.progress import progress_bar

    # OUTPUT/manifest.csv is the cache's own (rewritten on every run), but never the manifest it is made from
    refuse_to_replace([output / "manifest.csv"], overwrite=True, inputs=[manifest], option="-o")
    with progress_bar("videos") as update:
        frames, failed = extract_frames(read_manifest(manifest), output, every=every, max_frames=max_frames, progress=update,
                                        overwrite=overwrite)
    write_manifest(frames, output / "manifest.csv")
    _report_failed(failed)
    print(f"{len(frames)} frame(s) -> {_text(output / 'manifest.csv')} (train on it; evaluate with --per-video mean)")


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    data: Optional[str] = typer.Option(None, "--data", help="dataset folder or manifest .csv"),
    format: str = typer.Option("auto", "--format", help="layout of a --data folder: auto (detected, as data scan does) | folder | livdet | nuaa | ..."),
    out: Path = typer.Option(..., "--out", help="run folder, e.g. runs/NAME"),
    modality: str = typer.Option("fingerprint", "--modality", help="fingerprint | face"),
    model: Optional[str] = typer.Option(None, "--model", help="texture | padnet | spoofnet | seed-cnn | siamese | temporal; default: texture for fingerprints, padnet for faces"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="training epochs (networks); default 20, or 10 when fine-tuning (--init)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="default: the model's recipe"),
    lr: Optional[float] = typer.Option(None, "--lr", help="default: the model's recipe (fine-tuning: a hundredth of it)"),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="default: the model's own (patches: the patch side)"),
    crop: Optional[str] = typer.Option(None, "--crop", help="whole | patches (fingerprints at native resolution) | face; default: patches for padnet fingerprints, face for faces"),
    face_scales: Optional[str] = typer.Option(None, "--face-scales", help="faces: context scales around the face box, e.g. 1.0,2.7 (default 2.7)"),
    precropped: bool = typer.Option(False, "--precropped", help="faces: the images are face crops already (looked at whole, no detection)"),
    face_detector: str = typer.Option("auto", "--face-detector", help="faces: auto | mtcnn | haar"),
    patches_per_image: int = typer.Option(4, "--patches-per-image", help="patches: random patches per training image per epoch"),
    protocol: str = typer.Option("auto", "--protocol", help="auto | random | subject | manifest | official:NAME (a dataset folder's own list, e.g. official:1 for OULU-NPU) | leave-one-species-out:SPECIES | cross-device:DEVICE | cross-dataset:OTHER.csv"),
    seed: int = typer.Option(0, "--seed", help="seed of the split, the weights' start and the augmentation"),
    subject_pattern: Optional[str] = typer.Option(None, "--subject-pattern", help="regex on file names; group 1 = subject"),
    species_as_classes: bool = typer.Option(False, "--species-as-classes", help="one class per attack species"),
    balanced: bool = typer.Option(False, "--balanced", help="class-balanced sampling"),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="augment the training views (flips, mild blur and JPEG; faces also colour and greyscale)"),
    attack_simulation: float = typer.Option(0.0, "--attack-simulation", help="faces: probability of turning a bona fide training sample into a simulated print/replay/cut-out attack"),
    attack_species: Optional[str] = typer.Option(None, "--attack-species", help="faces: the simulated species, e.g. print,replay (default: print, replay and cutout)"),
    freeze: Optional[int] = typer.Option(None, "--freeze", help="keep the first N blocks of the network as they start (weights and batch-norm statistics); default with --init: the model's own choice (MiniFASNet: 8), else 0"),
    l2_init: float = typer.Option(0.0, "--l2-init", help="with --init: weight of the pull of every weight towards its starting value (L2-SP; 0 = off)"),
    theta: Optional[float] = typer.Option(None, "--theta", help="padnet: central difference weight (0 = plain conv)"),
    frames: Optional[int] = typer.Option(None, "--frames", help="temporal: frames per clip (default 8); needs samples with video_id (data frames)"),
    monitor: str = typer.Option("dev_loss", "--monitor", help="dev_loss | dev_eer | dev_acc: picks the best epoch"),
    patience: int = typer.Option(10, "--patience", help="early stopping patience (epochs)"),
    threshold_rule: str = typer.Option("eer", "--threshold", help="rule for the dev threshold: eer | bpcer20 | apcer=0.05 | ..."),
    workers: Optional[int] = typer.Option(None, "--workers", help="data loading processes"),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto | cpu | gpu | mps"),
    devices: str = typer.Option("auto", "--devices", help="devices per node (GPUs, or CPU processes with --accelerator cpu)"),
    num_nodes: int = typer.Option(1, "--num-nodes", help="machines; launch with torchrun or SLURM (docs/distributed.md)"),
    strategy: str = typer.Option("auto", "--strategy", help="auto | ddp (distributed data parallel)"),
    init: Optional[str] = typer.Option(None, "--init", help="start from the weights of a run folder or bundle of the same architecture (fine-tuning; keeps its input contract)"),
    deterministic: bool = typer.Option(False, "--deterministic", help="deterministic algorithms: the same --seed gives the same weights bit for bit on CPU (slower on GPU)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out with its own settings; only --epochs, --accelerator, --devices, --num-nodes, --strategy and --workers may change"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a run in --out (the old one is moved aside)"),
):
    """Train a detector; writes model.safetensors, curves, samples and logs into --out."""
    from spoofguard.training import train as training
    from spoofguard.training.run_folder import is_global_zero

    if resume:  # only what was typed is checked against (or, for the hardware and epochs, replaces) the run's own settings
        result = training.resume(out, overwrite=overwrite, **_train_settings(ctx, ("resume", "overwrite", "out"), typed_only=True))
    else:
        result = training.train(training.TrainConfig(**_train_settings(ctx, ("resume", "overwrite"))), overwrite=overwrite)
    if not is_global_zero():  # other ranks of a distributed run: rank 0 reports
        return
    m = result.dev_metrics
    speed = (f"{result.train_images_per_s:.0f} training images/s" if math.isfinite(result.train_images_per_s)
             else "no epoch left to train (the run had reached --epochs)")
    how = "fitted (no epochs)" if result.fitted else f"{result.epochs_run} epoch(s), {speed}"
    judged = "out-of-fold" if result.fitted else "dev"
    console.print(
        f"\n[bold]done[/bold] in {result.wall_time_s:.0f} s, {how}\n"
        f"{judged}: accuracy {m['accuracy']:.4f}, EER {_fmt(m['eer'])}, threshold {result.threshold:.4f} "
        f"({_plain(result.threshold_source or result.threshold_rule)})\n"
        f"bundle: {_plain(result.bundle)}"
    )


# the few train options whose value is not yet the TrainConfig setting of the same name, and how they become it
_AS_SETTING = {
    "out": str,
    "augment": lambda on: "default" if on else "none",
    "face_scales": lambda text: _floats(text, "--face-scales"),
    "attack_species": lambda text: [v.strip() for v in text.split(",") if v.strip()],
    "devices": lambda text: int(text) if str(text).isdigit() else text,
}
_MODEL_OPTIONS = ("theta", "frames")  # options of the model itself: TrainConfig.model_kwargs


def _train_settings(ctx: typer.Context, own: tuple[str, ...] = (), typed_only: bool = False) -> dict:
    """The options of a training command (train, cv, compare) as TrainConfig settings, the one mapping
    of options onto settings: every option is the setting of its own name, converted by
    :data:`_AS_SETTING` where its value is not yet one; --theta and --frames go to ``model_kwargs``.
    ``own``: the command's own options (no settings). ``typed_only``: only the options given on the
    command line (what --resume states again)."""
    settings: dict = {}
    model_kwargs: dict = {}
    for name, value in ctx.params.items():
        if name in own or (typed_only and getattr(ctx.get_parameter_source(name), "name", "") != "COMMANDLINE"):
            continue
        if name in _MODEL_OPTIONS:
            if value is not None:
                model_kwargs[name] = value
        else:
            settings[name] = value if value is None else _AS_SETTING.get(name, lambda v: v)(value)
    if model_kwargs or (not typed_only and any(name in ctx.params for name in _MODEL_OPTIONS)):
        settings["model_kwargs"] = model_kwargs
    return settings


@app.command("predict")
def predict_cmd(
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder), or an .onnx from export / import-onnx"),
    inputs: List[str] = typer.Argument(..., help="images, videos (mp4 avi mov webm), folders or glob patterns ('caps/**/*.jpg')"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object per line"),
    backend: str = typer.Option("auto", "--backend", help="auto | torch | onnx"),
    all_faces: bool = typer.Option(False, "--all-faces", help="face models: one result per face (default: the largest face)"),
    precropped: bool = typer.Option(False, "--precropped", help="face models: the inputs are face crops already (no detection)"),
    face_detector: Optional[str] = typer.Option(None, "--face-detector", help="auto | mtcnn | haar | yunet (default: the bundle's)"),
    face_model: Optional[Path] = typer.Option(None, "--face-model", help="YuNet .onnx for --face-detector yunet"),
    max_frames: int = typer.Option(32, "--max-frames", help="videos: frames sampled evenly over the video"),
    every: Optional[int] = typer.Option(None, "--every", help="videos: every N-th frame instead (at most --max-frames)"),
    aggregate: str = typer.Option("mean", "--aggregate", help="videos: mean | median | max | min of the frame scores"),
    heatmaps: Optional[Path] = typer.Option(None, "--heatmaps", help="folder for one explanation picture per image (NAME.png; "
                                            "two inputs of the same name get NAME.png and NAME-2.png)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace explanation pictures a former run left in --heatmaps"),
):
    """Score captures: score (higher = more bona fide), verdict, what was looked at.

    Exit status 0 when every input was processed (a capture without a face or a finger is a result,
    not a failure), 1 when some failed (they are named), 2 on usage errors."""
    from spoofguard.inference.detector import Detector
    from spoofguard.inference.inputs import expand_inputs, predict_inputs
    from spoofguard.modalities.face import face_finder_for
    from spoofguard.outputs import heatmap_names

    files, problems = expand_inputs(inputs)
    if not files and not problems:
        raise SpoofguardError("no inputs.")
    names = heatmap_names(heatmaps, files, overwrite) if heatmaps else None  # refused before the model is loaded
    detector = Detector.from_file(bundle, backend=backend, face_finder=face_finder_for(face_detector, face_model), precropped=precropped)
    t = Table()
    for c in ("input", "score", "verdict", "looked at", "note"):
        t.add_column(c, overflow="fold")  # never hide which file a row is about
    failed = [f"{arg}: {why}" for arg, why in problems]
    for arg, why in problems:
        if as_json:
            print(_json({"input": arg, "error": why}))
        else:
            t.add_row(_plain(arg), "-", "-", "", "[red]failed[/] (below)")
    for r in predict_inputs(detector, files, all_faces=all_faces, max_frames=max_frames, every=every, aggregate=aggregate):
        if r.failed:
            failed.append(r.error)
        if as_json:
            print(_json(r.to_dict()))
        else:
            t.add_row(*_predict_row(r))
        if heatmaps and not r.failed and r.kind == "image" and r.prediction.score is not None:
            from spoofguard.inference.explain import save_overlay

            save_overlay(r.input, r.prediction, heatmaps / names.take(Path(r.input).stem + (f"-face{r.face}" if r.face else "")))
    if not as_json:
        console.print(t)
        if heatmaps:
            print(f"explanations: {_text(heatmaps)}/")
    if failed:
        print(f"{len(failed)} input(s) failed:", file=sys.stderr)
        for why in failed[:50]:
            print(f"  {_text(why)}", file=sys.stderr)
        raise typer.Exit(1)


def _predict_row(r) -> list[str]:
    # a file name is text, never markup (a name holding "[/y]" or "[link=...]"), and its control characters are shown escaped
    name = _plain(_short(r.input) + (f" (face {r.face + 1})" if r.face is not None else ""))
    if r.failed:
        return [name, "-", "-", "", "[red]failed[/] (below)"]
    p = r.prediction
    if r.kind == "video":
        looked = f"{len(p.frames) - len(p.frames_without_face)}/{len(p.frames)} frames"
    elif p.region:
        x, y, w, h = p.region
        looked = f"{'face' if p.faces is not None else 'region'} {w}x{h} at ({x},{y})" + (f", {p.views} patches" if p.views > 1 and p.faces is None else "")
    else:
        looked = ""
    colour = {"bona_fide": "green", "attack": "red"}.get(p.verdict, "yellow")
    return [name, _fmt(p.score), f"[{colour}]{p.verdict}[/]", looked, _plain(p.note)]


def _text(text) -> str:
    """``text`` safe to print: control characters (escape sequences, newlines, bidi overrides) shown as
    escapes (``\\x1b``, ``\\n``, ``\\u202e``), so a file name cannot reach the terminal as commands."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def _plain(text) -> str:
    """``text`` safe to hand to rich: markup escaped (a name holding ``[/y]`` or ``[link=...]`` is text), and
    control characters as escapes (:func:`_text`)."""
    from rich.markup import escape

    return escape(_text(text))


def _json(obj) -> str:
    """One line of valid JSON: never ``NaN`` (a non-finite number, which should not occur, is ``null``)."""
    from spoofguard.evaluation.evaluate import finite_json

    return json.dumps(finite_json(obj), allow_nan=False)


@app.command("import-onnx")
def import_onnx_cmd(
    models: List[Path] = typer.Argument(None, help="the ONNX model(s), in the order of the spec's members (default: the spec's model: entries)"),
    spec: Path = typer.Option(..., "--spec", help="YAML: input size, channel order, pixel range, mean/std, crop scale, border, bona fide output, per model"),
    output: Path = typer.Option(..., "-o", "--output", help="the .onnx to write (one file, metadata inside)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing output file"),
):
    """Bring your own ONNX model(s): wrap third-party PAD models as one spoofguard model."""
    from spoofguard.inference.import_onnx import import_onnx
    from spoofguard.outputs import refuse_to_replace

    refuse_to_replace([output], overwrite=overwrite, inputs=[spec, *(models or [])], option="-o")
    out = import_onnx(list(models or []), spec, output)
    print(_text(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); use it like any model:") + "\n"
          + _text(f"  spoofguard predict {out} IMAGES") + "\n" + _text(f"  spoofguard evaluate {out} --data MANIFEST --out REPORT"))


@app.command("score")
def score_cmd(
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder)"),
    data: str = typer.Option(..., "--data", help="dataset folder or manifest .csv (e.g. a run's split.csv)"),
    split: Optional[str] = typer.Option(None, "--split", help="only this split of a manifest with splits (train | dev | test)"),
    output: Path = typer.Option(..., "-o", "--output", help="scores CSV to write (and its sidecar NAME.csv.json)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing score file"),
):
    """Write a score file: one row per sample, score = probability of bona fide."""
    from spoofguard.evaluation import evaluate as ev
    from spoofguard.evaluation.scorefile import sidecar, write_scores
    from spoofguard.inference.detector import Detector
    from spoofguard.outputs import refuse_to_replace

    refuse_to_replace([output, sidecar(output)], overwrite=overwrite, inputs=[data, bundle], option="-o")
    detector = Detector.from_file(bundle)
    manifest, what = ev.select_samples(data, split, str(bundle))
    table, failed = ev.score_samples(detector, manifest)
    write_scores(table, output)
    _report_failed(failed)
    print(_text(f"scored {len(table)} of {what}; written to {output}"))


@app.command("metrics")
def metrics_cmd(
    scores: Path = typer.Argument(..., help="scores CSV (sample_id, path, label, species, subject, video_id, score)"),
    dev: Optional[Path] = typer.Option(None, "--dev", help="dev scores CSV: the threshold is chosen on it"),
    threshold: Optional[str] = typer.Option(None, "--threshold", help="eer | bpcer20 | bpcer100 | apcer=0.05 | bpcer=0.01 | VALUE"),
    per_video: Optional[str] = typer.Option(None, "--per-video", help="combine frames of a video_id: mean | median | max | min"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="resamples for the 95% intervals (0 = none)"),
    seed: int = typer.Option(0, "--seed", help="seed of the bootstrap resampling"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the metrics as JSON here"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --json file"),
):
    """ISO/IEC 30107-3 metrics from a score file, with 95% intervals and the threshold's origin."""
    from spoofguard.evaluation import evaluate as ev
    from spoofguard.evaluation.report import metrics_table
    from spoofguard.evaluation.scorefile import read_scores, sidecar
    from spoofguard.outputs import refuse_to_replace

    refuse_to_replace([json_out], overwrite=overwrite, inputs=[scores, sidecar(scores), dev, dev and sidecar(dev)], option="--json")
    table = read_scores(scores)
    dev_table = read_scores(dev) if dev else None
    if per_video:
        table = ev.per_video(table, per_video)
        dev_table = ev.per_video(dev_table, per_video) if dev_table is not None else None
    t = ev.resolve_threshold(table, threshold, dev_table)
    if t.optimistic:
        console.print(f"[yellow]{ev.OPTIMISTIC}[/yellow]")
    m = ev.metrics_for(table, t, bootstrap=bootstrap, seed=seed)
    console.print(_report_table(metrics_table(m), f"{len(table)} {'videos' if per_video else 'samples'} from {scores}"))
    print(_text(f"threshold {t.value:.6f} from {t.source}"))
    if json_out:
        ev.write_metrics_json(m, json_out)


@app.command("evaluate")
def evaluate_cmd(
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder)"),
    data: str = typer.Option(..., "--data", help="dataset folder or manifest .csv (e.g. a run's split.csv)"),
    split: Optional[str] = typer.Option(None, "--split", help="only this split of a manifest with splits"),
    out: Path = typer.Option(..., "--out", help="report folder"),
    per_video: Optional[str] = typer.Option(None, "--per-video", help="combine frames of a video_id: mean | median | max | min"),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="judge this protocol's test split, e.g. leave-one-species-out:latex, cross-dataset:B.csv"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="bootstrap resamples for the 95 % intervals (0: none)"),
    seed: int = typer.Option(0, "--seed", help="seed of the bootstrap resampling (and of the protocol split with --protocol)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace the files of an earlier report in --out"),
):
    """Score + metrics + report (report.md, report.html, metrics.json, scores.csv) at the bundle's dev threshold."""
    from spoofguard.evaluation import evaluate as ev
    from spoofguard.outputs import refuse_to_replace

    if out.exists() and not out.is_dir():
        raise SpoofguardError(f"--out {out} is a file; give a folder for the report.")
    refuse_to_replace(ev.report_files(out), overwrite=overwrite, inputs=[data, bundle], option="--out")
    result = ev.evaluate(bundle, data, out, split=split, per_video_how=per_video, bootstrap=bootstrap, seed=seed, protocol=protocol)
    _report_failed(result.failed)
    m = result.metrics
    print(_text(f"{result.what}: APCER {_pct(m['apcer'])}, BPCER {_pct(m['bpcer'])}, EER {_pct(m['eer'])}, "
                f"BPCER20 {_pct(m['bpcer20'])}, AUC {_fmt(m['auc'])} at threshold {m['threshold']:.4f} ({m['threshold_source']})"))
    print(f"report: {_text(result.paths['html'])}")


def _report_table(table, title: str) -> Table:
    """A report table (the same rows report.md shows) as a terminal table."""
    t = Table(title=_plain(title), title_justify="left", caption=_plain(table.note) if table.note else table.note, caption_justify="left")
    for i, h in enumerate(table.header):
        t.add_column(_plain(h), justify="left" if i == 0 else "right")
    for row in table.rows:  # species names come from folder names: text, never markup
        t.add_row(*(_plain(c) for c in row))
    return t


def _report_failed(failed) -> None:
    if failed:
        print(f"warning: {len(failed)} input(s) could not be read and were left out:", file=sys.stderr)
        for p, why in failed[:20]:
            print(f"  {_text(why)}", file=sys.stderr)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


@synth_app.command("fingerprint")
def synth_fingerprint_cmd(
    output: Path = typer.Option(..., "-o", "--output", help="folder to create (must be new or empty)"),
    n: int = typer.Option(200, "-n", help="number of prints, about half bona fide"),
    species: str = typer.Option("gelatine,latex,woodglue,silicone,playdoh", "--species", help="attack species, comma-separated"),
    size: int = typer.Option(256, "--size", help="print size in pixels (square)"),
    seed: int = typer.Option(0, "--seed", help="the same seed gives the same bytes"),
):
    """Generate synthetic fingerprints (SFinGe-style) and spoofs of them, in the layout `data scan` reads."""
    from spoofguard.data.scan import count_table
    from spoofguard.data.synth.fingerprint import generate_fingerprints
    from spoofguard.progress import progress_bar

    names = tuple(s.strip() for s in species.split(",") if s.strip())
    with progress_bar("prints") as update:
        m = generate_fingerprints(output, n=n, species=names, seed=seed, size=size, progress=update)
    console.print(_table(f"{len(m)} prints in {output}", count_table(m)))
    print(f"manifest: {_text(output / 'manifest.csv')}")


@synth_app.command("face")
def synth_face_cmd(
    output: Path = typer.Option(..., "-o", "--output", help="folder to create (must be new or empty)"),
    faces: Optional[Path] = typer.Option(None, "--faces", help="folder of face photos (default: photos shipped with installed packages)"),
    variants: int = typer.Option(3, "--variants", help="versions of each photo per class"),
    species: str = typer.Option("print,replay,cutout", "--species", help="attack species to simulate, comma-separated"),
    seed: int = typer.Option(0, "--seed", help="the same seed gives the same bytes"),
):
    """Turn real face photos into simulated print, replay and cut-out attacks."""
    from spoofguard.media.images import is_image_file
    from spoofguard.data.scan import count_table
    from spoofguard.data.synth.face import synthesize_faces

    photos = None
    if faces is not None:
        if not faces.is_dir():
            raise SpoofguardError(f"--faces {faces}: no such folder.")
        photos = sorted(p for p in faces.iterdir() if p.is_file() and is_image_file(p.name))
        if not photos:
            raise SpoofguardError(f"--faces {faces}: no image files in it.")
    names = tuple(s.strip() for s in species.split(",") if s.strip())
    m = synthesize_faces(output, faces=photos, variants=variants, species=names, seed=seed)
    console.print(_table(f"{len(m)} images in {output}", count_table(m)))


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-run"), "--out", help="folder for the data, the run and the report"),
    n: int = typer.Option(600, "-n", help="synthetic prints to generate"),
    epochs: int = typer.Option(30, "--epochs", help="training epochs of the demo's padnet"),
    seed: int = typer.Option(0, "--seed", help="seed of the data, the split and the training"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an earlier demo (moved aside, not deleted)"),
):
    """The whole product in one command, offline: synthetic data -> training -> ISO report -> predictions."""
    from spoofguard.demo import run_demo

    r = run_demo(out, n=n, epochs=epochs, seed=seed, overwrite=overwrite)
    t = Table(title="held-out test prints", title_justify="left")
    for c in ("file", "truth", "score", "verdict", "patches"):
        t.add_column(c)
    for p in r.predictions:
        ok = (p["verdict"] == "bona_fide") == (p["truth"] == "bona_fide")
        t.add_row(_plain(p["file"]), _plain(p["truth"]), _fmt(p["score"]), f"[{'green' if ok else 'red'}]{_plain(p['verdict'])}[/]", str(p["patches"]))
    console.print(t)
    m = r.metrics
    console.print(
        f"test split: APCER {_pct(m['apcer'])} (max over species), BPCER {_pct(m['bpcer'])}, EER {_pct(m['eer'])}, "
        f"AUC {_fmt(m['auc'])} at threshold {m['threshold']:.4f} ({_plain(m['threshold_source'])})\n"
        f"took {sum(r.seconds.values()):.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in r.seconds.items())})\n"
        f"report:  {_plain(r.report)}\n"
        f"heatmaps: {_plain(r.out / 'predictions')}/ (red = patches that look artificial)\n"
        f"model:   {_plain(r.bundle)}\n"
        f"try:     spoofguard predict {_plain(r.bundle)} {_plain(r.data)}/live\n"
        f"         spoofguard evaluate {_plain(r.bundle)} --data {_plain(r.run / 'split.csv')} --split test --out my-report\n"
        f"         spoofguard serve {_plain(r.bundle)}      # upload page on http://127.0.0.1:8000/, API at /api/v1/predict"
    )


@app.command("export")
def export_cmd(
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder)"),
    onnx: Path = typer.Option(..., "--onnx", help="the .onnx file to write"),
    check: List[str] = typer.Option([], "--check", help="real images (files, folders, patterns) for the parity check and int8 calibration"),
    int8: bool = typer.Option(False, "--int8", help="also write an int8 model (static quantisation calibrated on --check) as NAME.int8.onnx"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --onnx (and .int8.onnx) file"),
):
    """Export a bundle to a self-contained ONNX model (dynamic batch, metadata inside) and check parity."""
    from spoofguard.inference.export import export, int8_path_for
    from spoofguard.inference.inputs import expand_inputs
    from spoofguard.outputs import refuse_to_replace

    source = bundle / "model.safetensors" if bundle.is_dir() else bundle
    refuse_to_replace([onnx] + ([int8_path_for(onnx)] if int8 else []), overwrite=overwrite, inputs=[source], option="--onnx")
    images, problems = expand_inputs(check, per_folder=64, videos=False)
    if problems:
        raise SpoofguardError("--check " + "; ".join(f"{a}: {why}" for a, why in problems))
    done = export(bundle, onnx, [str(p) for p in images], int8=int8)
    r = done.parity
    real = f"{r.real_max_abs_diff:.2e} on {r.n_real} real image(s)" if r.real_max_abs_diff is not None else "no real images given (--check)"
    console.print(f"wrote {_plain(onnx)} ({onnx.stat().st_size / 1e6:.1f} MB)\n"
                  f"parity, max |score torch - score onnx|: {r.random_max_abs_diff:.2e} on {r.n_random} random inputs; {real}")
    if done.int8:
        a = done.agreement
        speed = f", {a.speedup:.2f}x the float model's speed at batch 32" if a.speedup else ""
        console.print(f"wrote {_plain(done.int8)} ({done.int8.stat().st_size / 1e6:.1f} MB)\n"
                      f"int8 vs float on {a.n} input(s): verdicts agree on {100 * a.verdict_agreement:.1f} %, "
                      f"max |delta score| {a.max_abs_diff:.4f}, mean {a.mean_abs_diff:.4f}{speed}")
        if a.speedup is not None and a.speedup < 1.0:
            console.print(f"[yellow]warning:[/] the int8 model is slower than the float one on this CPU ({a.speedup:.2f}x): "
                          "onnxruntime's int8 kernels pay off only with VNNI / AVX-512 instructions; use the float model here.")
    console.print(f"use it:  spoofguard predict {_plain(onnx)} IMAGES   (onnxruntime, no torch)")


@app.command("compare")
def compare_cmd(
    ctx: typer.Context,
    models: str = typer.Option(..., "--models", help="comma-separated, e.g. seed-cnn,spoofnet,padnet,siamese (name@SIZE: another input size)"),
    data: str = typer.Option(..., "--data", help="dataset folder or manifest .csv"),
    out: Path = typer.Option(..., "--out", help="folder for compare.md, compare.json and runs/<model>/"),
    modality: str = typer.Option("fingerprint", "--modality", help="fingerprint | face"),
    protocol: str = typer.Option("auto", "--protocol", help="made once by the first model, then every model trains on that split.csv (see train --protocol)"),
    epochs: int = typer.Option(10, "--epochs", help="every model's budget"),
    epochs_per_model: Optional[str] = typer.Option(None, "--epochs-per-model", help="overrides, e.g. spoofnet=15,padnet=40"),
    seed: int = typer.Option(0, "--seed", help="seed of the split and of every model's training"),
    subject_pattern: Optional[str] = typer.Option(None, "--subject-pattern", help="regex on file names; group 1 = subject"),
    format: str = typer.Option("auto", "--format", help="layout of a --data folder: auto (detected) | folder | livdet | ... (see data scan)"),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="every model's input size (name@SIZE wins)"),
    patience: Optional[int] = typer.Option(None, "--patience", help="early stopping patience (default: none, the full budget for every model)"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="resamples for the 95% intervals (0 = none)"),
    folds: int = typer.Option(0, "--folds", help="cross-validate every model on the same subject-disjoint folds (e.g. 5) instead of one split"),
    backend: Optional[str] = typer.Option(None, "--backend", help="inference speed on onnx | torch (default: both)"),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto | cpu | gpu | mps"),
    overwrite: bool = typer.Option(False, "--overwrite", help="move existing runs in --out aside instead of refusing"),
):
    """Train several models on the same split with the same budget; one table of test metrics and costs (markdown and JSON)."""
    from spoofguard.compare import compare, parse_epochs_per_model, parse_models

    own = ("models", "data", "out", "modality", "protocol", "epochs", "epochs_per_model", "seed", "bootstrap", "folds", "backend", "overwrite")
    options = _train_settings(ctx, own)
    rows = compare(parse_models(models), data, out, modality=modality, protocol=protocol, epochs=epochs,
                   epochs_per_model=parse_epochs_per_model(epochs_per_model), seed=seed, bootstrap=bootstrap, folds=folds,
                   overwrite=overwrite, backends=(backend,) if backend else ("onnx", "torch"), say=print, **options)
    print("\n" + (out / "compare.md").read_text())
    console.print(f"wrote {_plain(out / 'compare.md')} and {_plain(out / 'compare.json')}")
    failed = [r.model for r in rows if r.error]
    if failed:
        console.print(f"[red]{len(failed)} model(s) failed: {_plain(', '.join(failed))} (see the error column)[/]")
        raise typer.Exit(1)


@app.command("cv")
def cv_cmd(
    ctx: typer.Context,
    data: str = typer.Option(..., "--data", help="dataset folder or manifest .csv"),
    out: Path = typer.Option(Path("cv"), "--out", help="folder for cv.json, cv.md, scores.csv and the fold runs"),
    folds: int = typer.Option(5, "--folds", help="subject-disjoint folds (stratified by bona fide and attack species)"),
    repeats: int = typer.Option(1, "--repeats", help="repeat with other fold assignments (seed, seed+1, ...)"),
    seed: int = typer.Option(0, "--seed", help="seed of the first repeat's folds and training"),
    modality: str = typer.Option("fingerprint", "--modality", help="fingerprint | face"),
    model: Optional[str] = typer.Option(None, "--model", help="as for train; default: the modality's default model"),
    format: str = typer.Option("auto", "--format", help="layout of a --data folder: auto (detected) | folder | livdet | ... (see data scan)"),
    subject_pattern: Optional[str] = typer.Option(None, "--subject-pattern", help="regex on file names; group 1 = subject"),
    epochs: int = typer.Option(20, "--epochs", help="training epochs per fold (networks)"),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="default: the model's own (patches: the patch side)"),
    crop: Optional[str] = typer.Option(None, "--crop", help="whole | patches | native | face (see train)"),
    patches_per_image: int = typer.Option(4, "--patches-per-image", help="patches: random patches per training image per epoch"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="default: the model's recipe"),
    lr: Optional[float] = typer.Option(None, "--lr", help="default: the model's recipe"),
    theta: Optional[float] = typer.Option(None, "--theta", help="padnet: central difference weight (0 = plain conv)"),
    patience: int = typer.Option(10, "--patience", help="early stopping patience (epochs)"),
    threshold_rule: str = typer.Option("eer", "--threshold", help="each fold's threshold rule, on its inner dev part: eer | bpcer20 | ..."),
    species_as_classes: bool = typer.Option(False, "--species-as-classes", help="one class per attack species"),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="augment the training views (flips, mild blur and JPEG; faces also colour and greyscale)"),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto | cpu | gpu | mps"),
    init: Optional[str] = typer.Option(None, "--init", help="every fold starts from this run folder's or bundle's weights (see train --init)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="move an existing --out aside instead of refusing"),
):
    """Subject-disjoint k-fold cross-validation of one training configuration: mean ± sd over folds and pooled out-of-fold figures."""
    from spoofguard.cv import cross_validate

    options = _train_settings(ctx, ("data", "out", "folds", "repeats", "seed", "overwrite"))
    result = cross_validate(data, out, folds=folds, repeats=repeats, seed=seed, overwrite=overwrite, say=print, **options)
    print("\n" + result.paths["markdown"].read_text())
    console.print(f"wrote {_plain(result.paths['markdown'])}, {_plain(result.paths['json'])} and {_plain(out / 'scores.csv')}")


@models_app.command("list")
def models_list_cmd():
    """The published models spoofguard knows, and whether each is in the cache ($SPOOFGUARD_HOME, default ~/.cache/spoofguard)."""
    from spoofguard.zoo import listing

    rows = [{"name": m["name"], "licence": m["licence"], "pulled": "yes" if m["pulled"] else "no", "path": str(m["path"] or ""),
             "what": m["description"]} for m in listing()]
    console.print(_table("model zoo", rows))


@models_app.command("pull")
def models_pull_cmd(
    name: str = typer.Argument(..., help="a name from `spoofguard models list`, e.g. silent-face"),
    source: Optional[str] = typer.Option(None, "--from", help="a folder or URL holding the published files (machines without internet)"),
    force: bool = typer.Option(False, "--force", help="download and convert again even if the cache holds it"),
):
    """Download (or copy --from) a published model, check its sha256 pins, convert it to a bundle; then use NAME as a model anywhere."""
    from spoofguard.zoo import pull

    path = pull(name, source=source, say=print, force=force)
    console.print(f"{_plain(name)}: {_plain(path)}\nuse it:  spoofguard predict {_plain(name)} IMAGES   (or train --init {_plain(name)})")


@app.command("enroll")
def enroll_cmd(
    bundle: Path = typer.Argument(..., help="a siamese model.safetensors (or its run folder)"),
    images: List[str] = typer.Option(..., "--images", help="examples: files, folders or patterns (5-20 are enough)"),
    output: Path = typer.Option(..., "-o", "--output", help="the new bundle to write"),
    species: Optional[str] = typer.Option(None, "--species", help="the attack species the examples show (new or known)"),
    bona_fide: bool = typer.Option(False, "--bona-fide", help="the examples are bona fide (e.g. this site's sensor or lighting)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing output file"),
):
    """Add a new attack species (or site-specific bona fide examples) to a siamese model, without retraining."""
    from spoofguard.inference.enroll import enroll
    from spoofguard.inference.inputs import expand_inputs
    from spoofguard.outputs import refuse_to_replace

    files, problems = expand_inputs(images, videos=False)
    if problems:
        raise SpoofguardError("--images " + "; ".join(f"{a}: {why}" for a, why in problems))
    source = bundle / "model.safetensors" if bundle.is_dir() else bundle
    refuse_to_replace([output], overwrite=overwrite, inputs=[source, *files], option="-o")
    r = enroll(bundle, [str(f) for f in files], output, species=species, bona_fide=bona_fide)
    _report_failed(r.skipped)
    if r.images < 5:
        console.print(f"[yellow]only {r.images} example(s): 5-20 make a steadier prototype[/]")
    print(_text(f"enrolled {r.class_name} ({'new class' if r.new_class else 'another prototype'}) from {r.images} image(s), {r.views} view(s)") + "\n"
          + _text(f"classes: {', '.join(r.classes)}") + "\n"
          + _text(f"wrote {r.bundle} (threshold unchanged; re-check it on dev data with `spoofguard metrics --dev`)"))


@app.command("bench")
def bench_cmd(
    models: List[Path] = typer.Argument(..., help="bundles (.safetensors: torch and onnx) or .onnx models, compared in one run"),
    frame: Optional[Path] = typer.Option(None, "--frame", help="face models: the frame for the end-to-end pipeline (default: a 640x480 frame with a sample portrait)"),
    backend: Optional[str] = typer.Option(None, "--backend", help="torch | onnx (default: every backend the model runs on)"),
    seconds: float = typer.Option(2.0, "--seconds", help="time per throughput measurement"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object per model and backend"),
):
    """Speed: latency p50/p95 at batch 1, throughput at batch 32, face pipeline frames/s (640x480)."""
    from spoofguard.media.images import load_image
    from spoofguard.inference.bench import bench

    image = load_image(frame, 3) if frame else None
    rows = [r for m in models for r in bench(m, [backend] if backend else None, frame=image, seconds=seconds)]
    if as_json:
        for r in rows:
            print(_json(r.to_dict()))
        return
    t = Table(title="speed on this machine", title_justify="left", caption_justify="left",
              caption="model alone: p50/p95 of one batch of views at batch 1, views/s at batch 32; "
                      "end to end, as predict does it: ms per capture and captures/s (faces: detect + crop + classify on a "
                      "640x480 frame; prints: segmentation and every patch of a 500x500 capture: 'views' per capture)")
    for c in ("model", "backend", "p50 ms", "p95 ms", "views/s", "capture ms", "captures/s", "views", "detector"):
        t.add_column(c, justify="left" if c in ("model", "backend", "detector") else "right")
    for r in rows:
        end = r.pipeline_fps is not None
        t.add_row(_plain(_model_name(r.model)), r.backend, f"{r.latency_p50_ms:.2f}", f"{r.latency_p95_ms:.2f}", f"{r.throughput:.0f}",
                  f"{r.pipeline_p50_ms:.1f}" if end else "-", f"{r.pipeline_fps:.1f}" if end else "-",
                  str(r.capture_views) if end else "-", _plain(r.face_detector))
    console.print(t)


@app.command("serve")
def serve_cmd(
    model: Path = typer.Argument(..., help="model.safetensors (or its run folder), or an .onnx from export / import-onnx"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (0.0.0.0: every interface; set a key first, docs/security.md)"),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    workers: int = typer.Option(1, "--workers", help="server processes (each loads the model)"),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="name of the environment variable holding the key: "
                                              "then every route but /healthz and /readyz needs it (browsers log in at /login)"),
    public_ui: bool = typer.Option(False, "--public-ui", help="with a key: open the upload page (/) and the UI (/ui) to anyone; "
                                   "the key then guards /api/* only"),
    backend: str = typer.Option("auto", "--backend", help="auto (onnxruntime) | torch | onnx"),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", help="one file (request bodies: this + framing)"),
    max_pixels: int = typer.Option(25_000_000, "--max-pixels", help="an image's or a video frame's declared width x height"),
    max_video_frames: int = typer.Option(32, "--max-video-frames", help="frames scored per uploaded video (spread over its length)"),
    max_video_seconds: float = typer.Option(120.0, "--max-video-seconds", help="longest uploaded video accepted (seconds; longer: 413)"),
    max_inflight_mb: float = typer.Option(256.0, "--max-inflight-mb", help="request bodies held at once, per worker (more: 503 server_busy)"),
    max_uploads: int = typer.Option(16, "--max-uploads", help="request bodies received at once, per worker (more: 503 too_many_uploads)"),
    body_timeout: float = typer.Option(30.0, "--body-timeout", help="seconds for a request body to arrive (slower: 408 body_timeout)"),
    header_timeout: float = typer.Option(10.0, "--header-timeout", help="seconds for a request's headers to arrive (slower: closed)"),
    max_temp_mb: float = typer.Option(1024.0, "--max-temp-mb", help="the private folder (UI uploads, videos), per worker (more: 507 storage_full)"),
    max_queue: int = typer.Option(16, "--max-queue", help="predictions waiting or running, per worker (more: 503 overloaded)"),
    max_connections: int = typer.Option(512, "--max-connections", help="connections and requests at once (uvicorn's limit_concurrency)"),
    shutdown_timeout: float = typer.Option(5.0, "--shutdown-timeout", help="on SIGTERM/SIGINT, seconds before open requests are cancelled"),
    cors_origin: List[str] = typer.Option([], "--cors-origin", help="allow browser calls from this origin (repeatable); none by default"),
    no_ui: bool = typer.Option(False, "--no-ui", help="do not mount the Gradio UI at /ui"),
):
    """Serve a model over HTTP: upload page at /, JSON API at /api/v1, Gradio UI at /ui, docs at /docs.
    Limits and what they answer: docs/security.md."""
    import os

    from spoofguard.serve.run import serve

    if api_key_env and not os.environ.get(api_key_env):
        raise SpoofguardError(f"--api-key-env {api_key_env}: that environment variable is not set (or empty).")
    if not model.exists():
        raise SpoofguardError(f"{model}: no such model file.")
    positive = {"--max-upload-mb": max_upload_mb, "--max-pixels": max_pixels, "--max-video-frames": max_video_frames,
                "--max-video-seconds": max_video_seconds, "--max-inflight-mb": max_inflight_mb, "--max-uploads": max_uploads,
                "--body-timeout": body_timeout, "--header-timeout": header_timeout, "--max-temp-mb": max_temp_mb,
                "--max-queue": max_queue, "--max-connections": max_connections, "--shutdown-timeout": shutdown_timeout}
    for option, value in positive.items():
        if not value > 0:
            raise SpoofguardError(f"{option} must be a positive number, not {value}.")
    mib = 1024 * 1024
    limits = {"max_upload_bytes": int(max_upload_mb * mib), "max_pixels": max_pixels, "max_video_frames": max_video_frames,
              "max_video_seconds": max_video_seconds, "max_inflight_bytes": int(max_inflight_mb * mib), "max_uploads": max_uploads,
              "body_timeout_s": body_timeout, "header_timeout_s": header_timeout, "max_temp_bytes": int(max_temp_mb * mib),
              "max_queue": max_queue}
    serve(str(model), host=host, port=port, workers=workers, api_key_env=api_key_env, backend=backend, limits=limits,
          cors_origins=list(cors_origin), ui=not no_ui, public_ui=public_ui, max_connections=max_connections,
          shutdown_timeout=shutdown_timeout)


@app.command("info")
def info_cmd(bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder), or an .onnx from export / import-onnx")):
    """Print a model's metadata (architecture, classes, preprocessing, threshold, provenance), checked as loading checks it."""
    from spoofguard.evaluation.evaluate import finite_json

    if bundle.suffix.lower() == ".onnx":
        from spoofguard.inference.onnx_model import read_onnx_metadata

        meta = read_onnx_metadata(bundle)
    else:
        from spoofguard.inference.bundle import read_metadata

        meta = read_metadata(bundle)
    print(json.dumps(finite_json(meta), indent=2, allow_nan=False))  # ASCII: control characters in names come out escaped


def _model_name(path: str) -> str:
    """``runs/face/model.safetensors`` -> ``face``; other files by their name."""
    p = Path(path)
    return p.parent.name if p.name == "model.safetensors" else p.name


def _short(path: str) -> str:
    """A path relative to the working folder when it lies under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SpoofguardError(f"{option} takes numbers separated by commas, e.g. 1.0,2.7; not {text!r}.") from None


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(Path(root).resolve()))
    except ValueError:
        return path


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


COMPUTING = ("train", "cv", "compare", "demo", "evaluate", "score", "predict", "bench", "export", "serve", "enroll")  # long torch work


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for errors a user can fix, printed without a traceback)."""
    from spoofguard.cpu import prefer_passive_waiting

    words = sys.argv[1:] if argv is None else argv
    if words and words[0] in COMPUTING:
        prefer_passive_waiting()  # before torch is imported by a command
    try:
        app(args=argv, prog_name="spoofguard")
    except SpoofguardError as e:  # one line: control characters in the message (e.g. from a file name) shown escaped
        print(f"error: {_text(e)}", file=sys.stderr)
        return 2
    except SystemExit as e:  # click ends every run this way, also for usage errors (status 2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
