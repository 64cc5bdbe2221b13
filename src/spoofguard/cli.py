"""The command line: parse, call the library, print. No logic lives here.

Errors a user can cause are printed as one line without a traceback, and the exit status is 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from spoofguard.errors import SpoofguardError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="spoofguard: presentation attack detection for fingerprints and faces.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets and manifests.")
app.add_typer(data_app, name="data")
synth_app = typer.Typer(no_args_is_help=True, help="Synthetic bona fide samples and presentation attacks.")
app.add_typer(synth_app, name="synth")
console = Console()


def _table(title: str, rows: list[dict]) -> Table:
    t = Table(title=title, title_justify="left")
    for k in rows[0] if rows else []:
        t.add_column(k, justify="right" if isinstance(rows[0][k], (int, float)) else "left")
    for r in rows:
        t.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r.values()))
    return t


@data_app.command("scan")
def data_scan(
    root: Path = typer.Argument(..., help="dataset folder (one folder per class, at any depth)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write the manifest CSV here"),
    format: str = typer.Option("folder", "--format", help="dataset layout"),
    subject_pattern: Optional[str] = typer.Option(None, "--subject-pattern", help="regex on file names; group 1 = subject, e.g. '^(\\d+)_'"),
):
    """Read a dataset folder into a manifest; print counts and duplicate files."""
    from spoofguard.data.importers import import_dataset
    from spoofguard.data.manifest import write_manifest
    from spoofguard.data.scan import count_table, find_duplicates, subject_table

    options = {"subject_pattern": subject_pattern} if subject_pattern else {}
    result = import_dataset(root, format=format, **options)
    m = result.manifest
    if len(m) == 0:
        raise SpoofguardError(f"{root}: no images found in class folders (expected e.g. {root}/live/*.png and {root}/spoof/*.png).")
    print(f"{len(m)} samples in {root}")
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
            print(f"  {_rel(p, root)}: {why}")
    dups = find_duplicates(m)
    if dups:
        extra = sum(len(g.paths) - 1 for g in dups)
        console.print(f"[yellow]warning: {len(dups)} group(s) of byte-identical files ({extra} redundant file(s)):[/yellow]")
        for g in dups[:20]:
            cross = "  <- in more than one split (leakage)" if g.crosses_splits else ""
            print("  " + " == ".join(_rel(p, root) for p in g.paths) + cross)
    if output:
        write_manifest(m, output)
        console.print(f"manifest written to {output}")


@app.command("train")
def train_cmd(
    data: Optional[str] = typer.Option(None, "--data", help="dataset folder or manifest .csv"),
    out: Path = typer.Option(..., "--out", help="run folder, e.g. runs/NAME"),
    modality: str = typer.Option("fingerprint", "--modality", help="fingerprint | face"),
    model: str = typer.Option("padnet", "--model", help="padnet | spoofnet | seed-cnn"),
    epochs: int = typer.Option(20, "--epochs"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="default: the model's recipe"),
    lr: Optional[float] = typer.Option(None, "--lr", help="default: the model's recipe"),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="default: the model's own (patches: the patch side)"),
    crop: Optional[str] = typer.Option(None, "--crop", help="whole | patches (fingerprints at native resolution); default: the model's"),
    patches_per_image: int = typer.Option(4, "--patches-per-image", help="patches: random patches per training image per epoch"),
    protocol: str = typer.Option("auto", "--protocol", help="auto | random | subject | manifest"),
    seed: int = typer.Option(0, "--seed"),
    subject_pattern: Optional[str] = typer.Option(None, "--subject-pattern", help="regex on file names; group 1 = subject"),
    species_as_classes: bool = typer.Option(False, "--species-as-classes", help="one class per attack species"),
    balanced: bool = typer.Option(False, "--balanced", help="class-balanced sampling"),
    no_augment: bool = typer.Option(False, "--no-augment"),
    attack_simulation: float = typer.Option(0.0, "--attack-simulation", help="faces: probability of turning a bona fide training sample into a simulated print/replay/cut-out attack"),
    theta: Optional[float] = typer.Option(None, "--theta", help="padnet: central difference weight (0 = plain conv)"),
    monitor: str = typer.Option("dev_loss", "--monitor", help="dev_loss | dev_eer | dev_acc: picks the best epoch"),
    patience: int = typer.Option(10, "--patience", help="early stopping patience (epochs)"),
    threshold: str = typer.Option("eer", "--threshold", help="rule for the dev threshold: eer | bpcer20 | apcer=0.05 | ..."),
    workers: Optional[int] = typer.Option(None, "--workers", help="data loading processes"),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto | cpu | gpu | mps"),
    devices: str = typer.Option("auto", "--devices"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run in --out"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a run in --out (the old one is moved aside)"),
):
    """Train a detector; writes model.safetensors, curves, samples and logs into --out."""
    from spoofguard.training import train as training

    if resume:
        result = training.resume(out, epochs=epochs if epochs != 20 else None)
    else:
        if not data:
            raise SpoofguardError("--data is required (a dataset folder or a manifest .csv).")
        cfg = training.TrainConfig(
            data=data, out=str(out), modality=modality, model=model, epochs=epochs, batch_size=batch_size, lr=lr,
            input_size=input_size, crop=crop, patches_per_image=patches_per_image, model_kwargs={"theta": theta} if theta is not None else {}, protocol=protocol,
            seed=seed, subject_pattern=subject_pattern, species_as_classes=species_as_classes, balanced=balanced,
            augment="none" if no_augment else "default", attack_simulation=attack_simulation, monitor=monitor, patience=patience, threshold_rule=threshold,
            workers=workers, accelerator=accelerator, devices=int(devices) if devices.isdigit() else devices,
        )
        result = training.train(cfg, overwrite=overwrite)
    m = result.dev_metrics
    console.print(
        f"\n[bold]done[/bold] in {result.wall_time_s:.0f} s, {result.epochs_run} epoch(s), {result.train_images_per_s:.0f} training images/s\n"
        f"dev: accuracy {m['accuracy']:.4f}, EER {_fmt(m['eer'])}, threshold {result.threshold:.4f} ({threshold})\n"
        f"bundle: {result.bundle}"
    )


@app.command("predict")
def predict_cmd(
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder), or an exported .onnx"),
    inputs: List[Path] = typer.Argument(..., help="image files or folders"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
    backend: str = typer.Option("auto", "--backend", help="auto | torch | onnx"),
):
    """Score images with a bundle: score (higher = more bona fide), verdict, class probabilities."""
    from spoofguard.inference.detector import Detector

    detector = Detector.from_file(bundle, backend=backend)
    paths = _image_files(inputs)
    failures, rows = 0, []
    for p in paths:
        try:
            r = detector.predict(p)
            row = {"input": str(p), **r.to_dict()}
            if not as_json:  # the per-patch lists are for machines
                row = {k: v for k, v in row.items() if k not in ("view_scores", "view_corners")}
        except SpoofguardError as e:
            failures += 1
            row = {"input": str(p), "error": str(e)}
        rows.append(row)
        if as_json:
            print(json.dumps(row))
    if not as_json:
        t = Table()
        for c in ("input", "score", "verdict", "note"):
            t.add_column(c)
        for r in rows:
            t.add_row(r["input"], _fmt(r.get("score")), r.get("verdict", "-"), r.get("error", ""))
        console.print(t)
    if failures:
        print(f"{failures} of {len(paths)} input(s) failed", file=sys.stderr)
        raise typer.Exit(1)


@app.command("score")
def score_cmd(
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder)"),
    data: str = typer.Option(..., "--data", help="dataset folder or manifest .csv (e.g. a run's split.csv)"),
    split: Optional[str] = typer.Option(None, "--split", help="only this split of a manifest with splits (train | dev | test)"),
    output: Path = typer.Option(..., "-o", "--output", help="scores CSV to write"),
):
    """Write a score file: one row per sample, score = probability of bona fide."""
    from spoofguard.evaluation import evaluate as ev
    from spoofguard.evaluation.scorefile import write_scores
    from spoofguard.inference.detector import Detector

    detector = Detector.from_file(bundle)
    manifest, what = ev.select_samples(data, split, str(bundle))
    table, failed = ev.score_samples(detector, manifest)
    write_scores(table, output)
    _report_failed(failed)
    print(f"scored {len(table)} of {what}; written to {output}")


@app.command("metrics")
def metrics_cmd(
    scores: Path = typer.Argument(..., help="scores CSV (sample_id, path, label, species, subject, video_id, score)"),
    dev: Optional[Path] = typer.Option(None, "--dev", help="dev scores CSV: the threshold is chosen on it"),
    threshold: Optional[str] = typer.Option(None, "--threshold", help="eer | bpcer20 | bpcer100 | apcer=0.05 | bpcer=0.01 | VALUE"),
    per_video: Optional[str] = typer.Option(None, "--per-video", help="combine frames of a video_id: mean | median | max | min"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="resamples for the 95% intervals (0 = none)"),
    seed: int = typer.Option(0, "--seed"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the metrics as JSON here"),
):
    """ISO/IEC 30107-3 metrics from a score file, with 95% intervals and the threshold's origin."""
    from spoofguard.evaluation import evaluate as ev
    from spoofguard.evaluation.report import metrics_table
    from spoofguard.evaluation.scorefile import read_scores

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
    print(f"threshold {t.value:.6f} from {t.source}")
    if json_out:
        ev.write_metrics_json(m, json_out)


@app.command("evaluate")
def evaluate_cmd(
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder)"),
    data: str = typer.Option(..., "--data", help="dataset folder or manifest .csv (e.g. a run's split.csv)"),
    split: Optional[str] = typer.Option(None, "--split", help="only this split of a manifest with splits"),
    out: Path = typer.Option(..., "--out", help="report folder"),
    per_video: Optional[str] = typer.Option(None, "--per-video", help="combine frames of a video_id: mean | median | max | min"),
    bootstrap: int = typer.Option(1000, "--bootstrap"),
    seed: int = typer.Option(0, "--seed"),
):
    """Score + metrics + report (report.md, report.html, metrics.json, scores.csv) at the bundle's dev threshold."""
    from spoofguard.evaluation import evaluate as ev

    result = ev.evaluate(bundle, data, out, split=split, per_video_how=per_video, bootstrap=bootstrap, seed=seed)
    _report_failed(result.failed)
    m = result.metrics
    print(f"{result.what}: APCER {_pct(m['apcer'])}, BPCER {_pct(m['bpcer'])}, EER {_pct(m['eer'])}, "
          f"BPCER20 {_pct(m['bpcer20'])}, AUC {_fmt(m['auc'])} at threshold {m['threshold']:.4f} ({m['threshold_source']})")
    print(f"report: {result.paths['html']}")


def _report_table(table, title: str) -> Table:
    """A report table (the same rows report.md shows) as a terminal table."""
    t = Table(title=title, title_justify="left", caption=table.note, caption_justify="left")
    for i, h in enumerate(table.header):
        t.add_column(h, justify="left" if i == 0 else "right")
    for row in table.rows:
        t.add_row(*row)
    return t


def _report_failed(failed) -> None:
    if failed:
        print(f"warning: {len(failed)} input(s) could not be read and were left out:", file=sys.stderr)
        for p, why in failed[:20]:
            print(f"  {why}", file=sys.stderr)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


@synth_app.command("fingerprint")
def synth_fingerprint_cmd(
    output: Path = typer.Option(..., "-o", "--output", help="folder to create (must be new or empty)"),
    n: int = typer.Option(200, "-n", help="number of prints, about half bona fide"),
    species: str = typer.Option("gelatine,latex,woodglue,silicone,playdoh", "--species", help="attack species, comma-separated"),
    size: int = typer.Option(256, "--size", help="print size in pixels (square)"),
    seed: int = typer.Option(0, "--seed"),
):
    """Generate synthetic fingerprints (SFinGe-style) and spoofs of them, in the layout `data scan` reads."""
    from spoofguard.data.scan import count_table
    from spoofguard.data.synth.fingerprint import generate_fingerprints
    from spoofguard.demo import progress_bar

    names = tuple(s.strip() for s in species.split(",") if s.strip())
    with progress_bar("prints") as update:
        m = generate_fingerprints(output, n=n, species=names, seed=seed, size=size, progress=update)
    console.print(_table(f"{len(m)} prints in {output}", count_table(m)))
    print(f"manifest: {output / 'manifest.csv'}")


@synth_app.command("face")
def synth_face_cmd(
    output: Path = typer.Option(..., "-o", "--output", help="folder to create (must be new or empty)"),
    faces: Optional[Path] = typer.Option(None, "--faces", help="folder of face photos (default: photos shipped with installed packages)"),
    variants: int = typer.Option(3, "--variants", help="versions of each photo per class"),
    species: str = typer.Option("print,replay,cutout", "--species"),
    seed: int = typer.Option(0, "--seed"),
):
    """Turn real face photos into simulated print, replay and cut-out attacks."""
    from spoofguard.data.images import is_image_file
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
    epochs: int = typer.Option(30, "--epochs"),
    seed: int = typer.Option(0, "--seed"),
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
        t.add_row(p["file"], p["truth"], f"{p['score']:.4f}", f"[{'green' if ok else 'red'}]{p['verdict']}[/]", str(p["patches"]))
    console.print(t)
    m = r.metrics
    console.print(
        f"test split: APCER {_pct(m['apcer'])} (max over species), BPCER {_pct(m['bpcer'])}, EER {_pct(m['eer'])}, "
        f"AUC {_fmt(m['auc'])} at threshold {m['threshold']:.4f} ({m['threshold_source']})\n"
        f"took {sum(r.seconds.values()):.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in r.seconds.items())})\n"
        f"report:  {r.report}\n"
        f"heatmaps: {r.out / 'predictions'}/ (red = patches that look artificial)\n"
        f"model:   {r.bundle}\n"
        f"try:     spoofguard predict {r.bundle} {r.data}/live\n"
        f"         spoofguard evaluate {r.bundle} --data {r.run / 'split.csv'} --split test --out my-report"
    )


@app.command("export")
def export_cmd(
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder)"),
    onnx: Path = typer.Option(..., "--onnx", help="the .onnx file to write"),
    check: List[Path] = typer.Option([], "--check", help="real images (or a folder) for the parity check"),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Export a bundle to a self-contained ONNX model (dynamic batch, metadata inside) and check parity."""
    from spoofguard.inference.onnx_model import export_onnx, parity

    if onnx.exists() and not overwrite:
        raise SpoofguardError(f"{onnx} exists; pass --overwrite to replace it.")
    export_onnx(bundle, onnx)
    r = parity(bundle, onnx, [str(p) for p in _image_files(check, per_folder=32)])
    real = f"{r.real_max_abs_diff:.2e} on {r.n_real} real image(s)" if r.real_max_abs_diff is not None else "no real images given (--check)"
    console.print(f"wrote {onnx} ({onnx.stat().st_size / 1e6:.1f} MB)\n"
                  f"parity, max |score torch - score onnx|: {r.random_max_abs_diff:.2e} on {r.n_random} random inputs; {real}\n"
                  f"use it:  spoofguard predict {onnx} IMAGES   (onnxruntime, no torch)")
    if max(r.random_max_abs_diff, r.real_max_abs_diff or 0.0) > 1e-4:
        raise SpoofguardError(f"the exported model disagrees with the bundle (max |delta score| > 1e-4); do not use {onnx}.")


@app.command("info")
def info_cmd(bundle: Path = typer.Argument(..., help="model.safetensors")):
    """Print a bundle's metadata (architecture, classes, preprocessing, threshold, provenance)."""
    from spoofguard.inference.bundle import read_metadata

    print(json.dumps(read_metadata(bundle), indent=2))


def _image_files(inputs: List[Path], per_folder: int | None = None) -> list[Path]:
    """Files as given; folders expanded to the image files under them (sorted, at most ``per_folder``)."""
    from spoofguard.data.images import is_image_file

    paths: list[Path] = []
    for p in inputs:
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*") if q.is_file() and is_image_file(q.name))[:per_folder]
        else:
            paths.append(p)
    return paths


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(Path(root).resolve()))
    except ValueError:
        return path


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for errors a user can fix, printed without a traceback)."""
    try:
        app(args=argv, prog_name="spoofguard")
    except SpoofguardError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # click ends every run this way, also for usage errors (status 2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
