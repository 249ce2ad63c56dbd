"""`nmt-pipeline report`: one self-contained HTML page about the latest evaluated model.

BLEU, chrF and loss overall and per source-length slice (with sacreBLEU's signatures), BLEU
over all pipeline runs (from ML Metadata), the worst and best test translations by sentence
BLEU beside their references, and attention heat-maps over the model's tokens. Images are
embedded as data URIs: the file opens offline.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import tensorflow as tf  # noqa: E402

from modules import metrics, signatures  # noqa: E402
from pipeline import attention_plot, outputs, results  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402

SAMPLE_SENTENCES = 200
SHOWN_TRANSLATIONS = 5
HEATMAPS = 3
_METRIC_COLUMNS = (
    metrics.BLEU,
    metrics.BLEU_LOWERCASE,
    metrics.CHRF,
    metrics.LOSS,
    metrics.PERPLEXITY,
    "example_count",
)
_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.blessed { color: #0a0; } .not-blessed { color: #c00; }
img { max-width: 100%; }
"""


class _Html(str):
    """The report's own markup, which a table cell writes as it is. Every other value,
    corpus and model text included, is escaped: it is shown as text, never run."""


class ReportError(RuntimeError):
    """The pipeline has not produced what the report needs."""


def _figure_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(headers, rows, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            if isinstance(value, float):
                cells.append(f'<td class="num">{value:.2f}</td>')
            elif index >= numeric_from and isinstance(value, int):
                cells.append(f'<td class="num">{value}</td>')
            elif isinstance(value, _Html):
                cells.append(f"<td>{value}</td>")
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _metric_cell(column: str, value: float | None) -> float | int:
    """A metric for the table: counts as integers, missing values as NaN."""
    if value is None:
        return float("nan")
    return int(value) if column == "example_count" else value


def _metrics_section(table: dict[str, dict[str, float]]) -> str:
    rows = [
        [name, *(_metric_cell(column, table[name].get(column)) for column in _METRIC_COLUMNS)]
        for name in table
    ]
    return (
        '<h2>BLEU, chrF and loss by slice</h2><div id="bleu-table">'
        + _table(["slice", *_METRIC_COLUMNS], rows)
        + "</div>"
    )


def history_figure(points: list[tuple[datetime.datetime, float, bool]]):
    """BLEU by evaluation time, (time, BLEU, blessed) points; the time axis spans the points
    with a margin of at least half an hour (one point alone: matplotlib would span years)."""
    figure, axes = plt.subplots(figsize=(7, 3))
    times = [p[0] for p in points]
    axes.plot(times, [p[1] for p in points], "-", color="#888")
    for when, bleu, blessed in points:
        axes.plot(when, bleu, "o", color="#0a0" if blessed else "#c00")
    if times:
        margin = max((max(times) - min(times)) * 0.05, datetime.timedelta(minutes=30))
        axes.set_xlim(min(times) - margin, max(times) + margin)
    axes.set_ylabel("BLEU (test split)")
    axes.set_title("BLEU over pipeline runs (green: blessed, red: not blessed)")
    figure.autofmt_xdate()
    return figure


def _history_section(history: list[outputs.Evaluation]) -> str:
    points = []
    for evaluation in history:
        overall = results.overall_metrics(evaluation.evaluation_uri)
        when = datetime.datetime.fromtimestamp(evaluation.time_ms / 1000)
        points.append((when, overall.get(metrics.BLEU, float("nan")), evaluation.blessed))
    figure = history_figure(points)
    rows = [
        [
            when.strftime("%Y-%m-%d %H:%M:%S"),
            bleu,
            _Html('<span class="blessed">blessed</span>')
            if blessed
            else _Html('<span class="not-blessed">not blessed</span>'),
        ]
        for when, bleu, blessed in points
    ]
    return f'<h2>History</h2><img alt="BLEU history" src="{_figure_data_uri(figure)}">' + _table(
        ["evaluated at", "BLEU", "blessing"], rows
    )


def _test_examples(examples_uri: str) -> tf.Tensor:
    files = tf.io.gfile.glob(os.path.join(examples_uri, "Split-test", "*"))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(SAMPLE_SENTENCES)
    return tf.constant(list(dataset.as_numpy_iterator()))


def translations_section(model, examples: tf.Tensor) -> tuple[str, list[bytes]]:
    evaluated = model.signatures[signatures.EVALUATE](examples)
    source_feature = signatures.SOURCE_FEATURE
    parsed = tf.io.parse_example(examples, {source_feature: tf.io.FixedLenFeature([], tf.string)})
    rows = []
    for source, translation, reference in zip(
        parsed[source_feature].numpy(),
        evaluated[signatures.TRANSLATION].numpy(),
        evaluated[signatures.REFERENCE].numpy(),
        strict=True,
    ):
        hypothesis, reference_text = translation.decode(), reference.decode()
        rows.append(
            (
                metrics.sentence_bleu(hypothesis, reference_text),
                source.decode(),
                hypothesis,
                reference_text,
            )
        )
    rows.sort()
    headers = ["sentence BLEU", "source", "translation", "reference"]
    section = (
        "<h2>Sample translations (test split)</h2><h3>Worst</h3>"
        + _table(headers, [list(r) for r in rows[:SHOWN_TRANSLATIONS]])
        + "<h3>Best</h3>"
        + _table(headers, [list(r) for r in rows[::-1][:SHOWN_TRANSLATIONS]])
    )
    best_sources = [r[1].encode() for r in rows[::-1][:HEATMAPS]]
    return section, best_sources


def _heatmaps_section(model, sources: list[bytes]) -> str:
    if not sources:
        return ""
    images = [
        f'<img class="heatmap" alt="attention heat-map" '
        f'src="{_figure_data_uri(attention_plot.figure(attended))}">'
        for attended in attention_plot.attend(model, sources)
    ]
    return "<h2>Attention</h2>" + "".join(images)


def build_report(config: PipelineConfig) -> str:
    """The report's HTML for the pipeline's latest run."""
    run = outputs.latest_run(config)
    latest = outputs.latest_evaluation(run)
    if latest is None:
        raise ReportError(
            f"no evaluation found in {config.metadata_path}: run the pipeline first "
            "(nmt-pipeline run) with the same --output-root"
        )
    by_component = {component.component: component for component in run}
    (model_uri,) = by_component["Trainer"].artifacts["model"]
    (examples_uri,) = by_component["TsvExampleGen"].artifacts["examples"]
    model = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
    translations, best_sources = translations_section(model, _test_examples(examples_uri))
    verdict = (
        '<span class="blessed">blessed and pushed</span>'
        if latest.blessed
        else '<span class="not-blessed">not blessed, not pushed</span>'
    )
    blessing = config.evaluation
    summary = (
        f"<p>Direction <b>{html.escape(config.data.direction)}</b>; evaluation decoding "
        f"<b>{html.escape(config.decoding.eval_decoding)}</b>; latest model {verdict} "
        f"(BLEU floor {blessing.bleu_floor}, allowed regression "
        f"{blessing.max_bleu_regression}).</p>"
        "<p>Scores: sacreBLEU's corpus BLEU and chrF of the model's output against the raw "
        "reference sentences of the test split; <code>bleu</code> is cased (sacreBLEU's "
        "default), <code>bleu_lowercase</code> ignores case. Signatures: BLEU "
        f"<code>{html.escape(metrics.SIGNATURES[metrics.BLEU])}</code>, chrF "
        f"<code>{html.escape(metrics.SIGNATURES[metrics.CHRF])}</code>.</p>"
    )
    body = (
        f"<h1>Translation model report: {html.escape(config.runtime.pipeline_name)}</h1>"
        + summary
        + _metrics_section(results.candidate_metrics(latest.evaluation_uri))
        + _history_section(outputs.evaluation_history(config))
        + translations
        + _heatmaps_section(model, best_sources)
    )
    return page(f"NMT report: {config.runtime.pipeline_name}", body)


def page(title: str, body: str) -> str:
    """A whole HTML document: `title` is text (escaped), `body` the report's markup."""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def write_report(config: PipelineConfig, path: str | None = None) -> str:
    """Writes the report (default `<output_root>/report.html`) and returns its path."""
    path = path or os.path.join(config.runtime.output_root, "report.html")
    with open(path, "w", encoding="utf-8") as report_file:
        report_file.write(build_report(config))
    return path
