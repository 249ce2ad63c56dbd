"""What a run did, in short lines for people: each component's key figures, the verdict."""

from __future__ import annotations

import os

from modules import metrics
from pipeline import outputs, results
from pipeline.config import PipelineConfig


def _example_gen_figures(component: outputs.ComponentOutputs) -> str:
    # TsvExampleGen records its line counts as custom properties of its artifacts.
    summary = component.properties[component.single_uri("rejected_lines")]
    figures = (
        f"{summary['lines_read']:,} lines read: {summary['accepted']:,} pairs accepted, "
        f"{summary['rejected']:,} rejected"
    )
    if summary.get("header_lines"):
        figures += f", {summary['header_lines']:,} header line(s) skipped"
    return figures


def _transform_figures(component: outputs.ComponentOutputs) -> str:
    import tensorflow_transform as tft

    from modules.text import transform

    output = tft.TFTransformOutput(component.single_uri("transform_graph"))
    source, target = (
        output.vocabulary_size_by_name(name)
        for name in (transform.SOURCE_VOCABULARY, transform.TARGET_VOCABULARY)
    )
    source_model, target_model = (
        output.vocabulary_file_by_name(name)
        for name in (transform.SOURCE_MODEL, transform.TARGET_MODEL)
    )
    if source_model and source_model == target_model:
        return f"one SentencePiece model for both languages: {source:,} pieces"
    kind = "SentencePiece pieces" if source_model else "words"
    return f"vocabularies: {source:,} source and {target:,} target {kind}"


def _trainer_figures(component: outputs.ComponentOutputs) -> str:
    return f"model in {component.single_uri('model')}"


def _evaluator_figures(component: outputs.ComponentOutputs) -> str:
    evaluation = outputs.latest_evaluation([component])
    overall = results.overall_metrics(evaluation.evaluation_uri)
    return (
        f"test-split {_scores(overall)} on {int(overall.get('example_count', 0)):,} sentences, "
        + ("blessed" if evaluation.blessed else "not blessed")
    )


def _scores(overall: dict[str, float]) -> str:
    def score(name):
        return f"{overall.get(name, float('nan')):.2f}"

    return (
        f"BLEU {score(metrics.BLEU)} (lower-cased {score(metrics.BLEU_LOWERCASE)}), "
        f"chrF {score(metrics.CHRF)}"
    )


def _pusher_figures(component: outputs.ComponentOutputs) -> str:
    pushed = outputs.pushed_model_uri(component)
    if not pushed:
        return "nothing pushed (the model was not blessed)"
    if outputs.already_serving(component):
        return f"already serving as {pushed} (nothing copied)"
    return f"pushed to {pushed}"


_FIGURES = {
    "TsvExampleGen": _example_gen_figures,
    "Transform": _transform_figures,
    "Trainer": _trainer_figures,
    "Evaluator": _evaluator_figures,
    "Pusher": _pusher_figures,
}


def component_line(config: PipelineConfig, name: str, seconds: float) -> str:
    """`name` of the latest run finished after `seconds`: its state and key figures."""
    component = next((c for c in outputs.latest_run(config) if c.component == name), None)
    if component is None:
        return f"{name}: done ({seconds:.0f} s)"
    line = f"{name}: {component.state} ({seconds:.0f} s)"
    figures = _FIGURES.get(name)
    if figures and component.artifacts:
        line += ", " + figures(component)
    return line


def verdict(config: PipelineConfig, run: list[outputs.ComponentOutputs] | None = None) -> list[str]:
    """Lines saying whether the model of `run` (default: the latest run) was blessed and
    pushed, and where."""
    run = outputs.latest_run(config) if run is None else run
    latest = outputs.latest_evaluation(run)
    if latest is None:
        return []
    overall = results.overall_metrics(latest.evaluation_uri)
    pusher = next((c for c in run if c.component == "Pusher"), None)
    pushed = outputs.pushed_model_uri(pusher) if pusher else None
    if not latest.blessed:
        outcome = "model NOT blessed, not pushed"
    elif pushed and outputs.already_serving(pusher):
        outcome = "model blessed, already the serving model (not pushed again)"
    else:
        outcome = "model blessed and pushed"
    lines = [
        f"Test-split {_scores(overall)}; BLEU floor {config.evaluation.bleu_floor}: {outcome}",
        f"  sacreBLEU signatures: BLEU {metrics.SIGNATURES[metrics.BLEU]}; "
        f"chrF {metrics.SIGNATURES[metrics.CHRF]}",
    ]
    if pushed:
        lines.append(f"Serving model: {os.path.abspath(pushed)}")
    return lines
