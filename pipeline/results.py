"""Reads evaluation results, blessings and pushes of a pipeline run."""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.writers import eval_config_writer

OVERALL = "overall"


def slice_name(slice_key) -> str:
    """TFMA slice key -> "overall" or "source_length_bucket=06-10"."""
    return ", ".join(f"{feature}={value}" for feature, value in slice_key) or OVERALL


def metrics_by_slice(evaluation_uri: str, model_name: str = "") -> dict[str, dict[str, float]]:
    """{slice name: {metric name: value}} of one model in an Evaluator output."""
    result = tfma.load_eval_result(evaluation_uri, model_name=model_name or None)
    table = {}
    for slice_key, by_output in result.slicing_metrics:
        values = by_output[""][""]
        table[slice_name(slice_key)] = {
            name: value["doubleValue"] for name, value in values.items() if "doubleValue" in value
        }
    return dict(sorted(table.items(), key=lambda item: (item[0] != OVERALL, item[0])))


def candidate_model_name(evaluation_uri: str) -> str:
    """TFMA's name of the evaluated model: "" alone, "candidate" beside a baseline."""
    eval_config, *_ = eval_config_writer.load_eval_run(evaluation_uri)
    if len(eval_config.model_specs) < 2:
        return ""
    (candidate,) = [spec.name for spec in eval_config.model_specs if not spec.is_baseline]
    return candidate


def candidate_metrics(evaluation_uri: str) -> dict[str, dict[str, float]]:
    """Metrics of the evaluated (candidate) model, with or without a baseline beside it."""
    return metrics_by_slice(evaluation_uri, candidate_model_name(evaluation_uri))


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The candidate model's metrics over the whole evaluated split (empty if none)."""
    return candidate_metrics(evaluation_uri).get(OVERALL, {})
