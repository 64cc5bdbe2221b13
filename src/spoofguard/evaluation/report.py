"""The human-readable evaluation report: ``report.md``, a self-contained ``report.html`` and the plots.

:func:`write_report` takes the dict of :func:`~spoofguard.evaluation.metrics.compute_metrics` and
the :class:`~spoofguard.evaluation.scorefile.ScoreTable` the metrics were computed on (same rows:
the plots and the worst-error lists are drawn from it), and writes into ``out_dir``:

* ``report.md``   the threshold and where it came from, the ISO/IEC 30107-3 table with confidence
  intervals, counts per class, the classification table, the worst errors, links to the plots;
* ``report.html`` the same tables, every plot and a gallery of the worst errors with thumbnails,
  all in one file: inline CSS, images as base64 ``data:`` URIs, nothing fetched from anywhere;
* ``det.png, roc.png, histograms.png, confusion.png, apcer_per_species.png``.

Formatting: rates in percent with 2 decimals (``"3.45 %"``), threshold, AUC and scores with
4 decimals, undefined values (``None``) as ``"n/a"`` — never as 0.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spoofguard.evaluation import plots
from spoofguard.evaluation.scorefile import ScoreTable
from spoofguard.verdict import ATTACK, BONA_FIDE, accepted

NA = "n/a"
THUMBNAIL_PX = 96

# (key, file name, caption, alt text) of each plot, in report order; the key is the img's data-plot.
PLOTS = (
    ("det", "det.png", "DET curve: APCER against BPCER on normal-deviate axes, pooled attacks and each "
     "species, with the EER line and the operating point.",
     "DET curve of APCER against BPCER"),
    ("roc", "roc.png", "ROC curve with bona fide as the positive class, AUC in the legend.",
     "ROC curve of 1 minus BPCER against pooled APCER"),
    ("hist", "histograms.png", "Score histograms per class (fraction of each class), threshold dashed.",
     "Histograms of scores for bona fide and each attack species"),
    ("confusion", "confusion.png", "Confusion matrix at the threshold (rows = true label).",
     "Confusion matrix with counts and row percentages"),
    ("apcer", "apcer_per_species.png", "APCER per attack species with confidence intervals; the dashed "
     "line is the ISO APCER (max over species).",
     "Bar chart of APCER per attack species"),
)


# --------------------------------------------------------------------------- formatting


def fmt_rate(value) -> str:
    """A rate in percent with 2 decimals, ``"n/a"`` for None."""
    return NA if value is None else f"{100 * value:.2f} %"


def fmt_number(value, decimals: int = 4) -> str:
    """A plain number (threshold, AUC, score), ``"n/a"`` for None."""
    return NA if value is None else f"{value:.{decimals}f}"


def fmt_interval(interval, fmt=fmt_rate) -> str:
    """``"[lo, hi]"`` with ``fmt`` applied to both ends, ``"n/a"`` when there is no interval."""
    if not interval:
        return NA
    return f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def _label(name: str) -> str:
    return "bona fide" if name == BONA_FIDE else name


# --------------------------------------------------------------------------- content


@dataclass
class Table:
    """One table of the report: plain-text cells, rendered to Markdown or HTML."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    align: str = ""  # one letter per column, "l" or "r"; default: first column left, the rest right

    def alignment(self) -> str:
        return self.align or "l" + "r" * (len(self.header) - 1)


def ci_method_text(metrics: dict) -> str:
    """How the confidence intervals were obtained, in one sentence."""
    method = metrics.get("ci_method")
    if not method:
        return "No confidence intervals (bootstrap disabled)."
    parts = [method.get("method", "bootstrap")]
    if "n_subjects" in method:
        parts.append(f"{method['n_subjects']} subjects")
    parts.append(f"{method.get('n_resamples', '?')} resamples")
    parts.append(f"seed {method.get('seed', '?')}")
    parts.append(f"percentile intervals at {100 * method.get('confidence', 0.95):g} %")
    text = "Confidence intervals: " + ", ".join(parts) + "."
    if method.get("note"):
        text += f" Note: {method['note']}."
    if method.get("exact_binomial"):
        text += (" Exact binomial (Clopper-Pearson) intervals where the bootstrap degenerates or too few subjects were judged: "
                 + ", ".join(method["exact_binomial"]) + ".")
    for warning in metrics.get("warnings") or []:
        text += f" Warning: {warning}"
    return text


def _ci_header(metrics: dict) -> str:
    confidence = (metrics.get("ci_method") or {}).get("confidence", 0.95)
    return f"{100 * confidence:g} % CI"


def metrics_table(metrics: dict) -> Table:
    """The ISO/IEC 30107-3 table: each metric, its value and its confidence interval."""
    ci = metrics.get("ci95") or {}
    ci_species = ci.get("apcer_per_species") or {}
    rows = [[f"APCER — species {s}", fmt_rate(v), fmt_interval(ci_species.get(s))]
            for s, v in (metrics.get("apcer_per_species") or {}).items()]
    specs = (
        ("APCER (max over species, ISO/IEC 30107-3)", "apcer", fmt_rate),
        ("BPCER", "bpcer", fmt_rate),
        ("ACER (community convention, not an ISO metric)", "acer", fmt_rate),
        ("HTER (pooled attacks)", "hter", fmt_rate),
        ("EER (pooled attacks)", "eer", fmt_rate),
        ("BPCER20 (BPCER at APCER = 5 %)", "bpcer20", fmt_rate),
        ("BPCER100 (BPCER at APCER = 1 %)", "bpcer100", fmt_rate),
        ("APCER at BPCER = 5 %", "apcer_at_bpcer5", fmt_rate),
        ("APCER at BPCER = 1 %", "apcer_at_bpcer1", fmt_rate),
        ("AUC (bona fide = positive)", "auc", fmt_number),
        ("Accuracy", "accuracy", fmt_rate),
    )
    for name, key, fmt in specs:
        rows.append([name, fmt(metrics.get(key)), fmt_interval(ci.get(key), fmt)])
    note = (f"Threshold {fmt_number(metrics.get('threshold'))}; score ≥ threshold → bona fide. "
            f"Operating points of the sweeps: EER at {fmt_number(metrics.get('eer_threshold'))}, "
            f"BPCER20 at {fmt_number(metrics.get('bpcer20_threshold'))}, "
            f"BPCER100 at {fmt_number(metrics.get('bpcer100_threshold'))}. " + ci_method_text(metrics))
    return Table("ISO/IEC 30107-3 metrics", ["Metric", "Value", _ci_header(metrics)], rows, note)


def counts_table(metrics: dict) -> Table:
    """Number of rows per class and per attack species, and the non-response rates (ISO/IEC 30107-3:
    presentations that got no decision) when the evaluation knows them."""
    n_bf, n_att = metrics.get("n_bona_fide", 0), metrics.get("n_attack", 0)
    rows = [["bona fide", str(n_bf)]]
    rows += [[f"attack: {s}", str(n)] for s, n in (metrics.get("n_per_species") or {}).items()]
    rows += [["attacks (all species)", str(n_att)], ["total", str(n_bf + n_att)]]
    note = ""
    if "bpnrr" in metrics:
        rows += [["bona fide without a decision (BPNRR)", f"{metrics.get('n_no_response_bona_fide', 0)} ({fmt_rate(metrics['bpnrr'])})"],
                 ["attacks without a decision (APNRR)", f"{metrics.get('n_no_response_attack', 0)} ({fmt_rate(metrics['apnrr'])})"]]
        note = ("Non-response: unreadable, or no face / finger found; not scored and not in the rates above "
                "(ISO/IEC 30107-3 reports them apart: BPNRR, APNRR).")
    return Table("Samples per class", ["Class", "Samples"], rows, note)


def classification_table(metrics: dict) -> Table:
    """Precision, recall, F1, support and mean confidence per class at the threshold."""
    cls = metrics.get("classification") or {}
    per_class, conf = cls.get("per_class") or {}, cls.get("mean_confidence") or {}
    rows = []
    for name in (BONA_FIDE, ATTACK):
        st = per_class.get(name) or {}
        rows.append([_label(name), fmt_rate(st.get("precision")), fmt_rate(st.get("recall")),
                     fmt_rate(st.get("f1")), str(st.get("support", 0)), fmt_number(conf.get(name))])
    note = "Mean confidence: mean score of bona fide rows, mean (1 − score) of attack rows."
    return Table("Classification at the threshold",
                 ["Class", "Precision", "Recall", "F1", "Support", "Mean confidence"], rows, note)


def confusion_table(metrics: dict) -> Table:
    """The confusion matrix: rows = true label, columns = decision, counts with row percentages."""
    cm = (metrics.get("classification") or {}).get("confusion_matrix") or {}
    classes = (BONA_FIDE, ATTACK)
    rows = []
    for true in classes:
        counts = [int((cm.get(true) or {}).get(p, 0)) for p in classes]
        total = sum(counts)
        rows.append([f"true {_label(true)}"]
                    + [f"{c} ({fmt_rate(c / total) if total else NA})" for c in counts])
    return Table("Confusion matrix", ["True label / decided", "bona fide", "attack"], rows,
                 "Rows are the true label; percentages are of the row.")


@dataclass
class WorstError:
    """One row of the worst-error lists."""

    index: int
    sample_id: str
    path: str
    label: str
    species: str
    score: float
    accepted: bool  # decided bona fide (spoofguard.verdict.accepted at the threshold)

    @property
    def is_error(self) -> bool:
        return self.accepted == (self.label == ATTACK)


def worst_errors(table: ScoreTable, threshold: float, n: int) -> tuple[list[WorstError], list[WorstError]]:
    """The ``n`` highest-scored attacks and the ``n`` lowest-scored bona fide rows.

    Listed even when correctly decided (then they are the closest calls); ``is_error`` says whether
    the decision at ``threshold`` was wrong. Ties keep file order.
    """
    scores = np.asarray(table.score, dtype=float)
    labels = np.asarray(table.label, dtype=object)

    def row(i: int) -> WorstError:
        species = ""
        if labels[i] == ATTACK:
            species = str(table.species[i]).strip() or ATTACK
        return WorstError(int(i), str(table.sample_id[i]), str(table.path[i]), str(labels[i]), species,
                          float(scores[i]), accepted(scores[i], threshold))

    n = max(int(n), 0)
    high_first = np.argsort(-scores, kind="stable")
    low_first = np.argsort(scores, kind="stable")
    attacks = [row(i) for i in high_first if labels[i] == ATTACK][:n]
    bona_fide = [row(i) for i in low_first if labels[i] == BONA_FIDE][:n]
    return attacks, bona_fide


def _decision(e: WorstError) -> str:
    word = "accepted as bona fide" if e.accepted else "rejected as attack"
    return f"{word} — {'error' if e.is_error else 'correct'}"


def worst_tables(attacks: list[WorstError], bona_fide: list[WorstError]) -> list[Table]:
    """The two worst-error lists as tables."""
    t_att = Table("Highest-scored attacks", ["#", "sample_id", "species", "score", "decision"],
                  [[str(k + 1), e.sample_id, e.species, fmt_number(e.score), _decision(e)]
                   for k, e in enumerate(attacks)],
                  "" if attacks else "No attacks in this file.", align="rllrl")
    t_bf = Table("Lowest-scored bona fide", ["#", "sample_id", "score", "decision"],
                 [[str(k + 1), e.sample_id, fmt_number(e.score), _decision(e)] for k, e in enumerate(bona_fide)],
                 "" if bona_fide else "No bona fide samples in this file.", align="rlrl")
    return [t_att, t_bf]


def provenance_table(meta: dict) -> Table | None:
    """The score file's sidecar (bundle, threshold rule ...) as key / value rows, if there is one."""
    if not meta:
        return None
    rows = []
    for key in sorted(meta):
        value = meta[key]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        rows.append([str(key), text if len(text) <= 300 else text[:297] + "..."])
    return Table("Score file provenance", ["Key", "Value"], rows, align="ll")


# --------------------------------------------------------------------------- plots and thumbnails


def render_plots(metrics: dict, table: ScoreTable) -> dict[str, bytes]:
    """PNG bytes of every plot, keyed as in :data:`PLOTS`."""
    t = float(metrics["threshold"])
    scores, labels, species = table.score, table.label, table.species
    ci_species = (metrics.get("ci95") or {}).get("apcer_per_species")
    figures = {
        "det": lambda: plots.det_curve(scores, labels, t, species=species),
        "roc": lambda: plots.roc_curve(scores, labels, t),
        "hist": lambda: plots.score_histograms(scores, labels, species, t),
        "confusion": lambda: plots.confusion_matrix_plot(
            (metrics.get("classification") or {}).get("confusion_matrix") or {}),
        "apcer": lambda: plots.apcer_bars(metrics.get("apcer_per_species") or {}, ci_species,
                                          metrics.get("apcer")),
    }
    return {key: plots.figure_to_png(make()) for key, make in figures.items()}


def thumbnail_png(path: str, size: int = THUMBNAIL_PX) -> bytes | None:
    """A PNG thumbnail (longest side ``size``) of the image at ``path``, or None if it cannot be read."""
    from PIL import Image

    if not path or not os.path.isfile(path):
        return None
    try:
        with Image.open(path) as img:
            img.thumbnail((size, size))
            if img.mode not in ("RGB", "RGBA", "L", "LA"):
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            return buf.getvalue()
    except Exception:  # noqa: BLE001 - any unreadable/odd file becomes a placeholder, never a crash
        return None


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --------------------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table_to_markdown(t: Table, level: int = 2) -> str:
    lines = [f"{'#' * level} {t.title}", ""]
    if t.rows:
        lines.append("| " + " | ".join(_md_cell(h) for h in t.header) + " |")
        lines.append("|" + "|".join("---:" if a == "r" else "---" for a in t.alignment()) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
        lines.append("")
    if t.note:
        lines += [t.note, ""]
    return "\n".join(lines)


def render_markdown(title: str, threshold_line: str, tables: list[Table], worst: list[Table]) -> str:
    parts = [f"# {_md_cell(title)}", "", threshold_line, ""]
    parts += [table_to_markdown(t) for t in tables]
    parts += ["## Worst errors", ""] + [table_to_markdown(t, level=3) for t in worst]
    parts += ["## Plots", ""]
    parts += [f"![{alt}]({name})\n\n*{caption}*\n" for _, name, caption, alt in PLOTS]
    return "\n".join(parts)


# --------------------------------------------------------------------------- HTML

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #212529; background: #fff; margin: 0; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 1.7rem; margin: 0 0 .4rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #dee2e6; padding-bottom: .25rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .5rem; }
.threshold { background: #f1f3f5; border-left: 4px solid #1864ab; padding: .6rem .9rem; margin: .8rem 0; }
table { border-collapse: collapse; margin: .4rem 0 .4rem; font-size: .93rem; }
th, td { border: 1px solid #dee2e6; padding: .3rem .65rem; text-align: right; }
th { text-align: left; }
td.l { text-align: left; }
thead th { background: #f8f9fa; font-weight: 600; }
tbody tr:nth-child(even) { background: #fcfcfd; }
p.note { color: #495057; font-size: .88rem; margin: .2rem 0 1rem; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; }
figure { margin: 0; border: 1px solid #e9ecef; border-radius: 6px; padding: 8px; background: #fff; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: .85rem; color: #495057; margin-top: .4rem; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.card { width: 128px; border: 1px solid #dee2e6; border-radius: 6px; padding: 6px; font-size: .78rem;
        text-align: center; overflow-wrap: anywhere; }
.card img { width: 96px; height: 96px; object-fit: contain; display: block; margin: 0 auto 4px;
            image-rendering: auto; background: #f8f9fa; }
.placeholder { width: 96px; height: 96px; margin: 0 auto 4px; display: flex; align-items: center;
               justify-content: center; background: #f1f3f5; border: 1px dashed #adb5bd; color: #868e96;
               font-size: .7rem; overflow: hidden; padding: 2px; box-sizing: border-box; }
.error { color: #c92a2a; font-weight: 600; }
.correct { color: #2b8a3e; }
footer { margin-top: 2.5rem; font-size: .8rem; color: #868e96; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def table_to_html(t: Table, level: int = 2) -> str:
    """The table with an <h{level}> title (``level=0``: no title)."""
    out = [f"<h{level}>{_e(t.title)}</h{level}>"] if level else []
    if t.rows:
        out.append("<table>")
        out.append("<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in t.header) + "</tr></thead>")
        out.append("<tbody>")
        left = [a == "l" for a in t.alignment()]
        for row in t.rows:
            cells = [(f'<td class="l">{_e(c)}</td>' if lft else f"<td>{_e(c)}</td>") for c, lft in zip(row, left)]
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
    if t.note:
        out.append(f'<p class="note">{_e(t.note)}</p>')
    return "\n".join(out)


def plot_figure_html(key: str, png: bytes, caption: str, alt: str) -> str:
    return (f'<figure><img data-plot="{_e(key)}" src="{data_uri(png)}" alt="{_e(alt)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _card_html(e: WorstError, thumbnails: bool) -> str:
    png = thumbnail_png(e.path) if thumbnails else None
    if png is not None:
        picture = f'<img src="{data_uri(png)}" alt="{_e("thumbnail of " + e.sample_id)}">'
    else:
        picture = f'<div class="placeholder" role="img" aria-label="no image">{_e(e.sample_id)}</div>'
    verdict = "error" if e.is_error else "correct"
    lines = [f"<strong>{_e(e.sample_id)}</strong>", f"score {fmt_number(e.score)}"]
    if e.species:
        lines.append(_e(e.species))
    lines.append(f'<span class="{verdict}">{verdict}</span>')
    return f'<div class="card">{picture}' + "<br>".join(lines) + "</div>"


def worst_section_html(errors: list[WorstError], table: Table, thumbnails: bool) -> str:
    """One worst-error list: a heading, a gallery of thumbnail cards, then the table of the same rows."""
    if not errors:
        return f'<h3>{_e(table.title)}</h3>\n<p class="note">{_e(table.note)}</p>'
    cards = "\n".join(_card_html(e, thumbnails) for e in errors)
    return f'<h3>{_e(table.title)}</h3>\n<div class="gallery">\n{cards}\n</div>\n' + table_to_html(table, level=0)


def render_html(title: str, threshold_line: str, tables: list[Table], worst: list[Table],
                pngs: dict[str, bytes], attacks: list[WorstError], bona_fide: list[WorstError],
                thumbnails: bool) -> str:
    figures = "\n".join(plot_figure_html(key, pngs[key], caption, alt) for key, _, caption, alt in PLOTS)
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="threshold">{_e(threshold_line)}</p>',
        *[table_to_html(t) for t in tables],
        "<h2>Plots</h2>",
        f'<div class="plots">\n{figures}\n</div>',
        "<h2>Worst errors</h2>",
        '<p class="note">The highest-scored attacks and the lowest-scored bona fide samples; '
        "each marked as an error or as a correct (closest) call at the threshold.</p>",
        worst_section_html(attacks, worst[0], thumbnails),
        worst_section_html(bona_fide, worst[1], thumbnails),
        "<footer>Generated by spoofguard. Score = probability of bona fide; "
        "score ≥ threshold → bona fide.</footer>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


# --------------------------------------------------------------------------- entry point


def write_report(out_dir, metrics: dict, table: ScoreTable, *, title: str, threshold_source: str,
                 thumbnails: bool = True, worst_n: int = 8) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and the plot PNGs into ``out_dir`` (created if needed).

    ``metrics`` is the dict of :func:`~spoofguard.evaluation.metrics.compute_metrics` computed on
    the rows of ``table``; ``threshold_source`` says where the threshold came from (e.g. "bundle
    dev threshold, rule eer") and is always printed. ``thumbnails=False`` skips reading the images.
    Returns ``{"md", "html", "det", "roc", "hist", "confusion", "apcer"}`` -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threshold = float(metrics["threshold"])
    threshold_line = (f"Threshold: {fmt_number(threshold)} — source: {threshold_source}. "
                      "Score = probability of bona fide; score ≥ threshold → bona fide.")
    tables = [metrics_table(metrics), counts_table(metrics), classification_table(metrics),
              confusion_table(metrics)]
    prov = provenance_table({**table.meta, **({"data_sha256": metrics["data_sha256"]} if metrics.get("data_sha256") else {})})
    if prov is not None:
        tables.append(prov)
    attacks, bona_fide = worst_errors(table, threshold, worst_n)
    worst = worst_tables(attacks, bona_fide)

    paths: dict[str, Path] = {}
    pngs = render_plots(metrics, table)
    for key, name, _, _ in PLOTS:
        paths[key] = out / name
        paths[key].write_bytes(pngs[key])
    paths["md"] = out / "report.md"
    paths["md"].write_text(render_markdown(title, threshold_line, tables, worst), encoding="utf-8")
    paths["html"] = out / "report.html"
    paths["html"].write_text(
        render_html(title, threshold_line, tables, worst, pngs, attacks, bona_fide, thumbnails), encoding="utf-8")
    return paths
