"""The TFMA EvalConfig: BLEU, chrF and loss overall and by source length, and the blessing
rules (on the cased BLEU, and a finite loss)."""

from __future__ import annotations

import json
import sys

import tensorflow_model_analysis as tfma

from modules import metrics, signatures
from pipeline import fingerprint
from pipeline.config import EvaluationConfig

METRICS_MODULE = metrics.__name__


def create_eval_config(config: EvaluationConfig) -> tfma.EvalConfig:
    """A model is blessed when its BLEU is at least `bleu_floor`, once a blessed model exists
    at most `max_bleu_regression` BLEU below that baseline, and its test-split loss is a
    finite number (TFMA fails a bound for NaN, so a model computing NaN is never blessed,
    whatever the floor)."""
    bleu_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.bleu_floor}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.max_bleu_regression},
        ),
    )
    finite_loss = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(upper_bound={"value": sys.float_info.max})
    )
    overall = [tfma.SlicingSpec()]
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=signatures.EVALUATE,
                label_key=signatures.TARGET_FEATURE,
                preprocessing_function_names=[signatures.SLICE_FEATURES],
            )
        ],
        slicing_specs=[
            tfma.SlicingSpec(),
            tfma.SlicingSpec(feature_keys=[signatures.SOURCE_LENGTH_BUCKET]),
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(
                        class_name=metrics.CorpusScores.__name__,
                        module=METRICS_MODULE,
                        config=json.dumps(
                            {fingerprint.SETTING_NAME: fingerprint.code_fingerprint(METRICS_MODULE)}
                        ),
                        # Only the overall BLEU decides; slices are for reading.
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=overall, threshold=bleu_threshold
                            )
                        ],
                    ),
                    tfma.MetricConfig(
                        class_name=metrics.TokenLoss.__name__,
                        module=METRICS_MODULE,
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=overall, threshold=finite_loss
                            )
                        ],
                    ),
                    tfma.MetricConfig(class_name="ExampleCount"),
                ]
            )
        ],
    )
