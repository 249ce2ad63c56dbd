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


def _scores(batches) -> dict[str, float]:
    computation = _computation(metrics.CorpusScores())
    return {key.name: value for key, value in _run(computation.combiner, batches).items()}


def test_scores_equal_sacrebleus_defaults_on_the_same_sentences():
    scores = _scores(
        [_inputs(HYPOTHESES[:1], REFERENCES[:1]), _inputs(HYPOTHESES[1:], REFERENCES[1:])]
    )
    expected = {
        metrics.BLEU: sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score,
        metrics.BLEU_LOWERCASE: sacrebleu.corpus_bleu(
            HYPOTHESES, [REFERENCES], lowercase=True
        ).score,
        metrics.CHRF: sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score,
    }
    assert scores == pytest.approx(expected)
    assert all(isinstance(score, float) and 0 < score < 100 for score in scores.values())
    # The hypotheses are lower-case: case costs the cased BLEU points.
    assert scores[metrics.BLEU] < scores[metrics.BLEU_LOWERCASE]


def test_cased_bleu_scores_case_and_lowercase_bleu_ignores_it():
    scores = _scores([_inputs([r.upper() for r in REFERENCES], REFERENCES)])
    assert scores[metrics.BLEU_LOWERCASE] == pytest.approx(100.0)
    assert scores[metrics.BLEU] < 10.0
    assert _scores([_inputs(REFERENCES, REFERENCES)])[metrics.BLEU] == pytest.approx(100.0)


def test_signatures_are_sacrebleus_default_ones():
    assert metrics.SIGNATURES[metrics.BLEU].startswith("nrefs:1|case:mixed|eff:no|tok:13a|")
    assert "case:lc" in metrics.SIGNATURES[metrics.BLEU_LOWERCASE]
    assert metrics.SIGNATURES[metrics.CHRF].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|")


def test_score_keys_name_the_model_for_baseline_comparisons():
    computations = metrics.CorpusScores().computations(model_names=["candidate", "baseline"])
    assert {c.keys[0].model_name for c in computations} == {"candidate", "baseline"}
    assert all(
        {key.name for key in c.keys} == {metrics.BLEU, metrics.BLEU_LOWERCASE, metrics.CHRF}
        for c in computations
    )


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


def test_a_huge_loss_gives_an_infinite_perplexity_not_an_overflow():
    computation = _computation(metrics.TokenLoss())
    batch = _inputs(
        ["a"],
        ["a"],
        **{signatures.LOSS: np.array([1e4]), signatures.TARGET_TOKENS: np.array([2.0])},
    )
    result = {key.name: value for key, value in _run(computation.combiner, [batch]).items()}
    assert result[metrics.LOSS] == 1e4 and result[metrics.PERPLEXITY] == math.inf


@pytest.mark.parametrize(
    ("bleu", "loss", "blessed"),
    [
        (0.0, 2.5, True),  # the floor is 0: any finite model passes it
        (0.0, math.nan, False),  # a model computing NaN, whatever the floor
        (30.0, math.inf, False),
        (30.0, -math.inf, True),  # (no cross-entropy is negative; only NaN and +inf fail)
    ],
)
def test_tfmas_validator_blesses_only_a_finite_loss_whatever_the_floor(bleu, loss, blessed):
    from tensorflow_model_analysis.evaluators import metrics_validator

    from pipeline.config import EvaluationConfig
    from pipeline.evaluation import create_eval_config

    eval_config = create_eval_config(EvaluationConfig(bleu_floor=0.0))
    sliced_metrics = (
        (),  # the overall slice
        {
            metric_types.MetricKey(name=metrics.BLEU): bleu,
            metric_types.MetricKey(name=metrics.BLEU, is_diff=True): 0.0,  # against a baseline
            metric_types.MetricKey(name=metrics.LOSS): loss,
        },
    )
    result = metrics_validator.validate_metrics(sliced_metrics, eval_config)
    assert result.validation_ok == blessed, result
