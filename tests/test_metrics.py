"""The TFMA metrics' combiners score exactly what sacreBLEU scores."""

import math

import numpy as np
import pytest
import sacrebleu
from tensorflow_model_analysis.metrics import metric_types

from modules import metrics, signatures

HYPOTHESES = ["the cat sat on the mat.", "i am hungry.", "where is he?", "it's cold here"]
REFERENCES = ["The cat sat on the mat.", "I'm hungry.", "Where is he?", "It is very cold here."]


def _inputs(hypotheses, references, **extra):
    predictions = {signatures.TRANSLATION: np.array([h.encode() for h in hypotheses])}
    predictions.update(extra)
    return metric_types.StandardMetricInputs(
        labels=np.array([r.encode() for r in references]), predictions=predictions
    )


def _run(combiner, batches):
    """Feeds each batch to its own accumulator, then merges them, as Beam may."""
    accumulators = []
    for batch in batches:
        accumulator = combiner.create_accumulator()
        accumulators.append(combiner.add_input(accumulator, batch))
    return combiner.extract_output(combiner.merge_accumulators(accumulators))


def _computation(metric):
    (computation,) = metric.computations()
    return computation


def test_bleu_equals_sacrebleu_corpus_bleu_on_the_same_sentences():
    computation = _computation(metrics.CorpusBleu())
    batches = [_inputs(HYPOTHESES[:1], REFERENCES[:1]), _inputs(HYPOTHESES[1:], REFERENCES[1:])]
    (score,) = _run(computation.combiner, batches).values()
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], lowercase=True).score
    assert isinstance(score, float)
    assert score == pytest.approx(expected)
    assert 0 < score < 100


def test_bleu_is_case_insensitive_and_100_for_exact_matches():
    computation = _computation(metrics.CorpusBleu())
    (score,) = _run(
        computation.combiner, [_inputs(REFERENCES, [r.upper() for r in REFERENCES])]
    ).values()
    assert score == pytest.approx(100.0)


def test_bleu_key_names_the_model_for_baseline_comparisons():
    computations = metrics.CorpusBleu().computations(model_names=["candidate", "baseline"])
    assert {c.keys[0].model_name for c in computations} == {"candidate", "baseline"}
    assert all(c.keys[0].name == metrics.BLEU for c in computations)


def test_token_loss_is_weighted_by_target_tokens_and_gives_perplexity():
    computation = _computation(metrics.TokenLoss())
    batch = _inputs(
        ["a", "b"],
        ["a", "b"],
        **{
            signatures.LOSS: np.array([1.0, 4.0]),
            signatures.TARGET_TOKENS: np.array([3.0, 1.0]),
        },
    )
    result = {key.name: value for key, value in _run(computation.combiner, [batch]).items()}
    assert result[metrics.LOSS] == pytest.approx((1.0 * 3 + 4.0 * 1) / 4)
    assert result[metrics.PERPLEXITY] == pytest.approx(math.exp(7 / 4))
