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
    console.print(_table(f"{len(m)} samples in {root}", count_table(m)))
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
            console.print(f"  {p}: {why}", highlight=False)
    dups = find_duplicates(m)
    if dups:
        extra = sum(len(g.paths) - 1 for g in dups)
        console.print(f"[yellow]warning: {len(dups)} group(s) of byte-identical files ({extra} redundant file(s)):[/yellow]")
        for g in dups[:20]:
            cross = "  [red]<- crosses splits[/red]" if g.crosses_splits else ""
            console.print("  " + "  ==  ".join(g.paths) + cross, highlight=False)
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
    input_size: Optional[int] = typer.Option(None, "--input-size", help="default: the model's own"),
    protocol: str = typer.Option("auto", "--protocol", help="auto | random | subject | manifest"),
    seed: int = typer.Option(0, "--seed"),
    subject_pattern: Optional[str] = typer.Option(None, "--subject-pattern", help="regex on file names; group 1 = subject"),
    species_as_classes: bool = typer.Option(False, "--species-as-classes", help="one class per attack species"),
    balanced: bool = typer.Option(False, "--balanced", help="class-balanced sampling"),
    no_augment: bool = typer.Option(False, "--no-augment"),
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
            input_size=input_size, model_kwargs={"theta": theta} if theta is not None else {}, protocol=protocol,
            seed=seed, subject_pattern=subject_pattern, species_as_classes=species_as_classes, balanced=balanced,
            augment="none" if no_augment else "default", monitor=monitor, patience=patience, threshold_rule=threshold,
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
    bundle: Path = typer.Argument(..., help="model.safetensors (or its run folder)"),
    inputs: List[Path] = typer.Argument(..., help="image files or folders"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
):
    """Score images with a bundle: score (higher = more bona fide), verdict, class probabilities."""
    from spoofguard.data.images import is_image_file
    from spoofguard.inference.detector import Detector

    detector = Detector.from_file(bundle)
    paths: list[Path] = []
    for p in inputs:
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*") if q.is_file() and is_image_file(q.name))
        else:
            paths.append(p)
    failures, rows = 0, []
    for p in paths:
        try:
            r = detector.predict(p)
            row = {"input": str(p), **r.to_dict()}
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


@app.command("info")
def info_cmd(bundle: Path = typer.Argument(..., help="model.safetensors")):
    """Print a bundle's metadata (architecture, classes, preprocessing, threshold, provenance)."""
    from spoofguard.inference.bundle import read_metadata

    print(json.dumps(read_metadata(bundle), indent=2))


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
