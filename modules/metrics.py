"""TFMA metrics for translation: corpus BLEU (sacreBLEU) and token-weighted loss.

Both read the outputs of the model's `evaluate` signature (`translation`, `loss`,
`target_tokens`) and the raw `target` sentence as label.

BLEU is sacreBLEU's corpus BLEU of the detokenised model output against the raw reference
sentence (one reference per source), with sacreBLEU's default `13a` tokenizer and
`lowercase=True`: the model writes lower-cased text, so case is not scored. Scores are on
sacreBLEU's 0-100 scale. The combiner gathers the sentences of its slice and calls
sacreBLEU once, so the score is exactly `sacrebleu.corpus_bleu(hyps, [refs], lowercase=True)`.
"""

from __future__ import annotations

import dataclasses
import math

import apache_beam as beam
import numpy as np
import sacrebleu
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

from modules import signatures

BLEU = "bleu"
LOSS = "token_loss"
PERPLEXITY = "perplexity"


def _strings(values) -> list[str]:
    return [
        v.decode("utf-8") if isinstance(v, bytes) else str(v)
        for v in np.asarray(values, dtype=object).reshape(-1)
    ]


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """The BLEU this module reports, for any list of sentence pairs."""
    return float(sacrebleu.corpus_bleu(hypotheses, [references], lowercase=True).score)


def sentence_bleu(hypothesis: str, reference: str) -> float:
    return float(sacrebleu.sentence_bleu(hypothesis, [reference], lowercase=True).score)


class _BleuCombiner(beam.CombineFn):
    """Gathers (hypothesis, reference) pairs, then scores them with sacreBLEU once."""

    def __init__(self, key: metric_types.MetricKey, model_name: str):
        self._key = key
        self._model_name = model_name

    def create_accumulator(self):
        return [], []

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        hypotheses, references = accumulator
        hypotheses += _strings(element.get_predictions(self._model_name, signatures.TRANSLATION))
        references += _strings(element.get_labels(self._model_name))
        if len(hypotheses) != len(references):
            raise ValueError(
                f"BLEU needs one reference per translation, got {len(references)} for "
                f"{len(hypotheses)}: is the EvalConfig's label_key the raw 'target'?"
            )
        return accumulator

    def merge_accumulators(self, accumulators):
        hypotheses, references = [], []
        for more_hypotheses, more_references in accumulators:
            hypotheses += more_hypotheses
            references += more_references
        return hypotheses, references

    def extract_output(self, accumulator):
        hypotheses, references = accumulator
        return {self._key: corpus_bleu(hypotheses, references)}


def _bleu_computations(name: str, model_name: str = "", output_name: str = ""):
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name)
    return [
        metric_types.MetricComputation(
            keys=[key], preprocessors=None, combiner=_BleuCombiner(key, model_name)
        )
    ]


class CorpusBleu(tfma.metrics.Metric):
    """Corpus BLEU of the `translation` output against the raw `target` (see module doc).

    `code_fingerprint` is not used in the computation: the pipeline sets it to a digest of
    this module, so that the EvalConfig, and with it TFX's cache key of the Evaluator,
    changes when this code does.
    """

    def __init__(self, name: str = BLEU, code_fingerprint: str = ""):
        del code_fingerprint  # part of the EvalConfig only
        super().__init__(metric_util.merge_per_key_computations(_bleu_computations), name=name)


@dataclasses.dataclass
class _LossAccumulator:
    loss_sum: float = 0.0
    tokens: float = 0.0


class _TokenLossCombiner(beam.CombineFn):
    def __init__(self, loss_key, perplexity_key, model_name: str):
        self._loss_key = loss_key
        self._perplexity_key = perplexity_key
        self._model_name = model_name

    def create_accumulator(self):
        return _LossAccumulator()

    def add_input(self, accumulator, element):
        predictions = element.get_predictions
        losses = np.asarray(predictions(self._model_name, signatures.LOSS), float)
        tokens = np.asarray(predictions(self._model_name, signatures.TARGET_TOKENS), float)
        accumulator.loss_sum += float(np.sum(losses.reshape(-1) * tokens.reshape(-1)))
        accumulator.tokens += float(np.sum(tokens))
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = _LossAccumulator()
        for accumulator in accumulators:
            merged.loss_sum += accumulator.loss_sum
            merged.tokens += accumulator.tokens
        return merged

    def extract_output(self, accumulator):
        loss = accumulator.loss_sum / accumulator.tokens if accumulator.tokens else math.nan
        return {self._loss_key: loss, self._perplexity_key: math.exp(loss)}


def _loss_computations(name: str, model_name: str = "", output_name: str = ""):
    loss_key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name)
    perplexity_key = metric_types.MetricKey(
        name=PERPLEXITY, model_name=model_name, output_name=output_name
    )
    return [
        metric_types.MetricComputation(
            keys=[loss_key, perplexity_key],
            preprocessors=None,
            combiner=_TokenLossCombiner(loss_key, perplexity_key, model_name),
        )
    ]


class TokenLoss(tfma.metrics.Metric):
    """Cross-entropy per target token over the slice (as in training), and perplexity."""

    def __init__(self, name: str = LOSS):
        super().__init__(metric_util.merge_per_key_computations(_loss_computations), name=name)


metric_types.register_metric(CorpusBleu)
metric_types.register_metric(TokenLoss)
