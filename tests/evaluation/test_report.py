"""The evaluation report: files written, plots embedded, self-contained HTML, n/a for undefined values."""

from __future__ import annotations

import base64
import html
import io
import re

import numpy as np
import pytest
from PIL import Image

from spoofguard.evaluation import plots
from spoofguard.evaluation.metrics import compute_metrics
from spoofguard.evaluation.report import fmt_rate, worst_errors, write_report
from spoofguard.evaluation.scorefile import ScoreTable

PLOT_KEYS = {"det", "roc", "hist", "confusion", "apcer"}
SOURCE = "bundle dev threshold, rule eer <dev.csv> & co"


def make_table(tmp_path, with_attacks: bool = True) -> ScoreTable:
    """30 bona fide, 15 print and 15 replay rows; every 3rd row a real tiny PNG, every 3rd a missing file."""
    rng = np.random.default_rng(1)
    img_dir = tmp_path / "images"
    img_dir.mkdir(exist_ok=True)
    groups = [("bona_fide", "", 30, 0.75)]
    if with_attacks:
        groups += [("attack", "print", 15, 0.30), ("attack", "replay", 15, 0.45)]
    rows = []
    for label, species, n, mean in groups:
        for i in range(n):
            sid = f"{species or 'bf'}_{i}"
            path = ""
            if i % 3 == 0:
                path = str(img_dir / f"{sid}.png")
                Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8)).save(path)
            elif i % 3 == 1:
                path = str(img_dir / f"missing_{sid}.png")
            score = float(np.clip(rng.normal(mean, 0.15), 0.0, 1.0))
            rows.append({"sample_id": sid, "path": path, "label": label, "species": species,
                         "subject": f"s{i % 5}", "score": score})
    return ScoreTable.from_rows(rows, meta={"bundle": "demo.safetensors", "rule": "eer"})


def metrics_of(table: ScoreTable) -> dict:
    return compute_metrics(table.score, table.label, table.species, threshold=0.5, subjects=table.subject,
                           bootstrap=50, seed=0)


def plot_images(page: str) -> dict[str, str]:
    """data-plot name -> src of every plot <img> in the page."""
    found = {}
    for tag in re.findall(r"<img\b[^>]*>", page):
        key = re.search(r'data-plot="([^"]+)"', tag)
        if key:
            found[key.group(1)] = re.search(r'src="([^"]+)"', tag).group(1)
    return found


def decode_png(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    img = Image.open(io.BytesIO(base64.b64decode(src[len(prefix):])))
    img.load()
    assert img.format == "PNG"
    return img


def md_value(markdown: str, metric_prefix: str) -> str:
    """The value cell of the first Markdown table row whose metric cell starts with ``metric_prefix``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith(metric_prefix):
            return cells[1]
    raise AssertionError(f"no row {metric_prefix!r}")


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    table = make_table(tmp_path)
    metrics = metrics_of(table)
    paths = write_report(tmp_path / "out", metrics, table, title="Demo <report>", threshold_source=SOURCE)
    return paths, metrics


def test_all_files_written(full_report):
    paths, _ = full_report
    assert set(paths) == PLOT_KEYS | {"md", "html"}
    for p in paths.values():
        assert p.is_file() and p.stat().st_size > 0
    assert {p.name for k, p in paths.items() if k in PLOT_KEYS} == {
        "det.png", "roc.png", "histograms.png", "confusion.png", "apcer_per_species.png"}


def test_html_embeds_every_plot_as_png(full_report):
    paths, _ = full_report
    page = paths["html"].read_text(encoding="utf-8")
    found = plot_images(page)
    assert set(found) == PLOT_KEYS
    for src in found.values():
        assert decode_png(src).size[0] > 100
    assert page.count("<figcaption>") == 5
    assert all('alt="' in tag for tag in re.findall(r"<img\b[^>]*data-plot[^>]*>", page))


def test_html_is_self_contained_and_escaped(full_report):
    paths, _ = full_report
    page = paths["html"].read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<link" not in page and "<script" not in page and "@import" not in page
    assert html.escape(SOURCE) in page and SOURCE not in page  # stated, and escaped
    assert "Demo &lt;report&gt;" in page


def test_gallery_has_thumbnails_and_placeholders(full_report):
    paths, _ = full_report
    page = paths["html"].read_text(encoding="utf-8")
    thumbs = [t for t in re.findall(r"<img\b[^>]*>", page) if "data-plot" not in t]
    assert thumbs, "no thumbnail was embedded"
    for tag in thumbs:
        assert max(decode_png(re.search(r'src="([^"]+)"', tag).group(1)).size) <= 96
    assert 'class="placeholder"' in page  # missing files and empty paths


def test_markdown_values_match_metrics(full_report):
    paths, metrics = full_report
    md = paths["md"].read_text(encoding="utf-8")
    assert SOURCE in md
    assert md_value(md, "APCER (max over species") == fmt_rate(metrics["apcer"]) == f"{100 * metrics['apcer']:.2f} %"
    for species, value in metrics["apcer_per_species"].items():
        assert md_value(md, f"APCER — species {species}") == fmt_rate(value)
    assert md_value(md, "BPCER") == fmt_rate(metrics["bpcer"])
    assert md_value(md, "AUC") == f"{metrics['auc']:.4f}"
    assert "community convention, not an ISO metric" in md
    assert "bootstrap over subjects" in md


def test_only_bona_fide_renders_with_na(tmp_path):
    table = make_table(tmp_path, with_attacks=False)
    metrics = metrics_of(table)
    assert metrics["apcer"] is None and metrics["eer"] is None
    paths = write_report(tmp_path / "out", metrics, table, title="Only bona fide",
                         threshold_source="fixed 0.5", thumbnails=False)
    md = paths["md"].read_text(encoding="utf-8")
    assert md_value(md, "APCER (max over species") == "n/a"
    assert md_value(md, "EER") == "n/a"
    assert "No attacks in this file." in md
    page = paths["html"].read_text(encoding="utf-8")
    assert "n/a" in page
    assert set(plot_images(page)) == PLOT_KEYS
    assert not [t for t in re.findall(r"<img\b[^>]*>", page) if "data-plot" not in t]  # thumbnails off


@pytest.mark.parametrize(
    "scores, labels, species",
    [
        ([0.5] * 6, ["bona_fide"] * 3 + ["attack"] * 3, ["", "", "", "print", "print", "print"]),  # all tied
        ([0.1, 0.2, 0.9], ["attack"] * 3, ["print", "", "replay"]),  # no bona fide
        ([0.9, 0.8, 0.1, 0.8], ["bona_fide", "bona_fide", "attack", "attack"], None),  # one species, ties
    ],
)
def test_plots_survive_edge_cases(scores, labels, species):
    figures = [
        plots.det_curve(scores, labels, 0.5, species=species),
        plots.roc_curve(scores, labels, 0.5),
        plots.score_histograms(scores, labels, species, 0.5),
        plots.confusion_matrix_plot({"bona_fide": {"bona_fide": 0, "attack": 0}}),
        plots.apcer_bars({"print": None, "replay": 0.0}, {"replay": None}, None),
    ]
    for fig in figures:
        assert plots.figure_to_png(fig, dpi=30).startswith(b"\x89PNG")


def test_worst_errors_order_and_verdict(tmp_path):
    table = make_table(tmp_path)
    attacks, bona_fide = worst_errors(table, 0.5, 3)
    att_scores = np.sort(table.score[table.label == "attack"])[::-1][:3]
    assert [e.score for e in attacks] == pytest.approx(att_scores)
    assert [e.score for e in bona_fide] == pytest.approx(np.sort(table.score[table.label == "bona_fide"])[:3])
    assert all(e.is_error == (e.score >= 0.5) for e in attacks)
