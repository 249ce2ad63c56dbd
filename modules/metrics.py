"""TFMA metrics for translation: sacreBLEU's BLEU and chrF, and token-weighted loss.

They read the outputs of the model's `evaluate` signature (`translation`, `loss`,
`target_tokens`) and the raw `target` sentence as label.

Scores are the field's standard, on sacreBLEU's 0-100 scale: the detokenised model output
against the raw reference sentence (one reference per source), `bleu` with sacreBLEU's
default signature (cased, `13a` tokenizer), `bleu_lowercase` the same lower-cased, and
`chrf` sacreBLEU's default chrF. The combiner gathers the sentences of its slice and calls
sacreBLEU once, so `bleu` is exactly `sacrebleu.corpus_bleu(hypotheses, [references])`.
`SIGNATURES` says so in sacreBLEU's own words, for reports.
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
BLEU_LOWERCASE = "bleu_lowercase"
CHRF = "chrf"
LOSS = "token_loss"
PERPLEXITY = "perplexity"

_SCORERS = {
    BLEU: sacrebleu.BLEU(),
    BLEU_LOWERCASE: sacrebleu.BLEU(lowercase=True),
    CHRF: sacrebleu.CHRF(),
}


def _signature(name: str) -> str:
    # A scorer's signature is complete once it has scored something.
    scorer = _SCORERS[name]
    scorer.corpus_score(["a"], [["a"]])
    return str(scorer.get_signature())


SIGNATURES = {name: _signature(name) for name in _SCORERS}


def _strings(values) -> list[str]:
    return [
        v.decode("utf-8") if isinstance(v, bytes) else str(v)
        for v in np.asarray(values, dtype=object).reshape(-1)
    ]


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """{`bleu`, `bleu_lowercase`, `chrf`} of any list of sentence pairs."""
    return {
        name: float(scorer.corpus_score(hypotheses, [references]).score)
        for name, scorer in _SCORERS.items()
    }


def sentence_bleu(hypothesis: str, reference: str) -> float:
    """Cased sentence BLEU (sacreBLEU's smoothed default), for ranking single translations."""
    return float(sacrebleu.sentence_bleu(hypothesis, [reference]).score)


class _ScoresCombiner(beam.CombineFn):
    """Gathers (hypothesis, reference) pairs, then scores them with sacreBLEU once."""

    def __init__(self, keys: dict[str, metric_types.MetricKey], model_name: str):
        self._keys = keys
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
        scores = corpus_scores(*accumulator)
        return {key: scores[name] for name, key in self._keys.items()}


def _score_computations(name: str, model_name: str = "", output_name: str = ""):
    keys = {
        score: metric_types.MetricKey(
            name=name if score == BLEU else score, model_name=model_name, output_name=output_name
        )
        for score in _SCORERS
    }
    return [
        metric_types.MetricComputation(
            keys=list(keys.values()),
            preprocessors=None,
            combiner=_ScoresCombiner(keys, model_name),
        )
    ]


class CorpusScores(tfma.metrics.Metric):
    """Corpus `bleu` (named `name`), `bleu_lowercase` and `chrf` of the `translation`
    output against the raw `target` (see the module doc). A threshold on this metric
    applies to `bleu`.

    `code_fingerprint` is not used in the computation: the pipeline sets it to a digest of
    this module, so that the EvalConfig, and with it TFX's cache key of the Evaluator,
    changes when this code does.
    """

    def __init__(self, name: str = BLEU, code_fingerprint: str = ""):
        del code_fingerprint  # part of the EvalConfig only
        super().__init__(metric_util.merge_per_key_computations(_score_computations), name=name)


# math.exp overflows (OverflowError) above log(sys.float_info.max) = 709.78...
_LARGEST_EXP_ARGUMENT = 709.0


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
        perplexity = math.exp(loss) if loss < _LARGEST_EXP_ARGUMENT else math.inf
        return {self._loss_key: loss, self._perplexity_key: perplexity}


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


metric_types.register_metric(CorpusScores)
metric_types.register_metric(TokenLoss)
