"""Greedy, sampling and beam search over toy and real decoders."""

import numpy as np
import pytest
import tensorflow as tf

from modules.model.rnn import RNNWithAttention
from modules.model.transformer import Transformer
from modules.serving import decoding
from modules.text import words

A, B = len(words.SPECIAL_TOKENS), len(words.SPECIAL_TOKENS) + 1
VOCAB = B + 1
# Next-token probabilities given the last token; greedy takes A (0.6) then END (0.4),
# total 0.24, while the best sequence is B (0.4) then END (0.99), total 0.396.
NEXT = {
    words.START_ID: {A: 0.6, B: 0.4},
    A: {words.END_ID: 0.4, A: 0.3, B: 0.3},
    B: {words.END_ID: 0.99, A: 0.005, B: 0.005},
}


def toy_step(token_ids, encoder_outputs, state):
    table = np.full((VOCAB, VOCAB), 1e-9, np.float32)
    for last, nexts in NEXT.items():
        for token, p in nexts.items():
            table[last, token] = p
    logits = tf.math.log(tf.gather(tf.constant(table), token_ids))
    weights = tf.ones_like(encoder_outputs[:, :, 0]) / tf.cast(
        tf.shape(encoder_outputs)[1], tf.float32
    )
    return logits, weights, state


def run_toy(search, batch=1, max_length=20):
    encoder_outputs = tf.zeros([batch, 3, 4])
    mask = tf.ones([batch, 3], tf.bool)
    state = [tf.zeros([batch, 4])]
    return decoding.decode(
        toy_step, encoder_outputs, mask, state, tf.fill([batch], max_length), search
    )


def test_greedy_takes_the_locally_best_token_and_stops_at_end():
    hyps = run_toy(decoding.Greedy())
    assert hyps.token_ids.numpy().tolist() == [[A, words.END_ID]]
    assert hyps.lengths.numpy().tolist() == [2]
    assert hyps.scores.numpy()[0] == pytest.approx(np.log(0.24), rel=1e-4)


def test_beam_search_finds_the_better_sequence_greedy_misses():
    hyps = run_toy(decoding.BeamSearch(width=2, length_penalty=0.0))
    assert hyps.token_ids.numpy().tolist() == [[B, words.END_ID]]
    assert hyps.scores.numpy()[0] == pytest.approx(np.log(0.396), rel=1e-4)


def test_sampling_follows_the_distribution_and_low_temperature_is_greedy():
    tf.random.set_seed(0)
    first = run_toy(decoding.Sampling(temperature=1.0), batch=2000).token_ids[:, 0].numpy()
    assert np.mean(first == A) == pytest.approx(0.6, abs=0.05)
    cold = run_toy(decoding.Sampling(temperature=0.01), batch=50).token_ids.numpy()
    assert (cold == [A, words.END_ID]).all()


def test_each_sentence_is_bounded_by_its_max_length():
    never_ends = {**NEXT, A: {A: 0.9, B: 0.1}, B: {A: 0.5, B: 0.5}}
    original = dict(NEXT)
    NEXT.update(never_ends)
    try:
        encoder_outputs = tf.zeros([3, 2, 4])
        hyps = decoding.decode(
            toy_step,
            encoder_outputs,
            tf.ones([3, 2], tf.bool),
            [tf.zeros([3, 4])],
            tf.constant([1, 4, 7]),
            decoding.BeamSearch(width=3),
        )
    finally:
        NEXT.clear()
        NEXT.update(original)
    assert hyps.lengths.numpy().tolist() == [1, 4, 7]
    assert hyps.token_ids.shape[1] == 7


def test_empty_batch_decodes_to_nothing():
    hyps = run_toy(decoding.BeamSearch(width=3), batch=0)
    assert hyps.token_ids.shape[0] == 0 and hyps.lengths.shape == (0,)


def exhaustive_beam_step(logits, scores, lengths, finished, width, length_penalty):
    """The beam step written out over every extension of every hypothesis, in numpy: ->
    the best `width` (tokens, parents, scores), each [batch, width]."""
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    log_probs[..., list(decoding._FORBIDDEN_IDS)] += decoding.NEG_INF
    pad_only = np.full(logits.shape[-1], decoding.NEG_INF, np.float32)
    pad_only[words.PAD_ID] = 0.0
    log_probs = np.where(finished[..., None], pad_only, log_probs)
    totals = scores[..., None] + log_probs
    penalty = ((5.0 + lengths + ~finished) / 6.0) ** length_penalty
    ranking = (totals / penalty[..., None]).reshape(len(logits), -1)
    best = np.argsort(-ranking, axis=1, kind="stable")[:, :width]
    vocab = logits.shape[-1]
    return best % vocab, best // vocab, np.take_along_axis(totals.reshape(len(logits), -1), best, 1)


def test_beam_search_keeps_the_best_extensions_of_the_whole_vocabulary():
    """Ranking each hypothesis' `width` best tokens only gives the same beam as ranking all
    [width, vocab] extensions, finished hypotheses (PAD only) and length penalty included."""
    rng = np.random.default_rng(5)
    batch, width, vocab = 32, 4, 50
    logits = rng.normal(0, 3, size=(batch, width, vocab)).astype(np.float32)
    scores = rng.uniform(-20, 0, size=(batch, width)).astype(np.float32)
    lengths = rng.integers(1, 12, size=(batch, width)).astype(np.int32)
    finished = rng.random((batch, width)) < 0.3
    search = decoding.BeamSearch(width=width, length_penalty=0.6)
    tokens, parents, new_scores = search.select(
        decoding.NextTokens.from_logits(tf.constant(logits), tf.constant(finished)),
        tf.constant(scores),
        tf.constant(lengths),
    )
    expected = exhaustive_beam_step(logits, scores, lengths, finished, width, 0.6)
    np.testing.assert_array_equal(tokens, expected[0])
    np.testing.assert_array_equal(parents, expected[1])
    np.testing.assert_allclose(new_scores, expected[2], rtol=1e-5)
    assert (np.asarray(tokens)[np.take_along_axis(finished, expected[1], 1)] == words.PAD_ID).all()


@pytest.mark.parametrize("vocab", [8000, 4001, 1000])
@pytest.mark.parametrize("k", [1, 4, 9])
@pytest.mark.parametrize("spread", [3.0, 0.02])
def test_top_k_gives_tf_top_k_values_and_indices_ties_included(vocab, k, spread):
    """Blockwise top-k (vocabularies of 1,024 and more; 4,001 is padded to whole blocks)
    equals tf.math.top_k, and so does its choice among equal values: with a spread of 0.02,
    bfloat16 rounding makes many values equal."""
    rng = np.random.default_rng(vocab + k)
    values = tf.cast(rng.normal(0, spread, size=(3, 5, vocab)), tf.bfloat16)
    values = tf.cast(values, tf.float32) + np.where(np.arange(vocab) < 3, decoding.NEG_INF, 0)
    expected_values, expected_indices = tf.math.top_k(values, k=k)
    got_values, got_indices = tf.function(decoding.top_k, reduce_retracing=True)(values, k)
    np.testing.assert_array_equal(got_values, expected_values)
    np.testing.assert_array_equal(got_indices, expected_indices)


@pytest.mark.parametrize("vocab, k", [(8000, 4), (8000, 1), (6, 3)])
def test_best_tokens_are_the_top_of_the_masked_log_softmax(vocab, k):
    """`best` (top-k of the logits, normalised by the best one's softmax probability) gives
    the tokens and log-probabilities of the whole masked log-softmax's top k, also where a
    forbidden token has the highest logit."""
    rng = np.random.default_rng(vocab + k)
    logits = rng.normal(0, 3, size=(8, 4, vocab)).astype(np.float32)
    logits[:4, :, words.UNKNOWN_ID] += 30.0
    finished = rng.random((8, 4)) < 0.3
    next_tokens = decoding.NextTokens.from_logits(tf.constant(logits), tf.constant(finished))
    got_log_probs, got_tokens = next_tokens.best(k)
    expected_log_probs, expected_tokens = tf.math.top_k(next_tokens.log_probs, k=k)
    live = ~finished
    np.testing.assert_array_equal(np.asarray(got_tokens)[live], np.asarray(expected_tokens)[live])
    np.testing.assert_allclose(
        np.asarray(got_log_probs)[live], np.asarray(expected_log_probs)[live], rtol=1e-5
    )
    assert (np.asarray(got_tokens)[finished] == words.PAD_ID).all()


# Untrained models of each architecture and kind, tiny: name -> constructor.
MODELS = {
    "rnn bahdanau": lambda: RNNWithAttention(30, 30, embedding_dim=8, units=16),
    "rnn luong_general lstm": lambda: RNNWithAttention(
        30, 30, embedding_dim=8, units=16, attention="luong_general", cell="lstm"
    ),
    "rnn luong_dot bidirectional": lambda: RNNWithAttention(
        30, 30, embedding_dim=8, units=16, attention="luong_dot", bidirectional=True
    ),
    "transformer": lambda: Transformer(
        30, 30, layers=2, model_width=16, heads=4, feed_forward_width=32
    ),
    "transformer shared embeddings": lambda: Transformer(
        30, 30, layers=1, model_width=8, heads=2, feed_forward_width=16, shared_embeddings=True
    ),
}


def random_source_ids(seed: int, shape=(16, 7)) -> tf.Tensor:
    """Random word ids; the last row is padded after 3 tokens."""
    ids = np.random.default_rng(seed).integers(len(words.SPECIAL_TOKENS), 30, size=shape)
    ids[-1, 3:] = words.PAD_ID
    return tf.constant(ids)


@pytest.fixture(scope="module", params=["rnn bahdanau", "transformer"])
def random_model(request):
    tf.keras.utils.set_random_seed(3)
    model = MODELS[request.param]()
    source_ids = random_source_ids(0)
    model({"source_ids": source_ids, "target_in": source_ids[:, :3]})
    return model, source_ids


def _decode(model, source_ids, search):
    memory, state = model.encode(source_ids)
    max_lengths = tf.fill([source_ids.shape[0]], 10)
    return decoding.decode(model.decoder.step, memory, memory.mask, state, max_lengths, search)


def test_beam_search_with_width_one_equals_greedy(random_model):
    model, source_ids = random_model
    greedy = _decode(model, source_ids, decoding.Greedy())
    beam = _decode(model, source_ids, decoding.BeamSearch(width=1, length_penalty=0.0))
    np.testing.assert_array_equal(beam.token_ids.numpy(), greedy.token_ids.numpy())
    np.testing.assert_allclose(beam.scores.numpy(), greedy.scores.numpy(), rtol=1e-5)


def test_outputs_never_hold_pad_unk_or_start_before_end(random_model):
    model, source_ids = random_model
    for search in (decoding.Greedy(), decoding.Sampling(), decoding.BeamSearch(width=3)):
        hyps = _decode(model, source_ids, search)
        for row, length in zip(hyps.token_ids.numpy(), hyps.lengths.numpy(), strict=True):
            assert not set(row[:length]) & {words.PAD_ID, words.UNKNOWN_ID, words.START_ID}
            assert (row[length:] == words.PAD_ID).all()
        rows = hyps.attention.numpy()
        for weights, length in zip(rows, hyps.lengths.numpy(), strict=True):
            np.testing.assert_allclose(weights[:length].sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", [name for name in MODELS if name.startswith("rnn")])
def test_a_finished_hypothesis_keeps_its_rnn_state(name):
    """A PAD token (a hypothesis past its [END]) leaves its row of the state as it was, as a
    padded position does in training; the other rows step on."""
    tf.keras.utils.set_random_seed(6)
    model = MODELS[name]()
    source_ids = random_source_ids(3, shape=(4, 7))
    memory, state = model.encode(source_ids)
    tokens = tf.constant([A, words.PAD_ID, B, words.PAD_ID])
    _, _, new_state = model.decoder.step(tokens, memory, state)
    for old, new in zip(state, new_state, strict=True):
        np.testing.assert_array_equal(tf.gather(new, [1, 3]), tf.gather(old, [1, 3]))
        assert not np.allclose(tf.gather(new, [0, 2]), tf.gather(old, [0, 2]))


@pytest.mark.parametrize("name", MODELS)
def test_steps_over_the_memory_set_up_once_give_the_teacher_forced_outputs(name):
    """The search's path (attention keys computed once per sentence, one token per step,
    the Transformer's key/value cache) and training's path (the whole target at once)
    give the same logits and attention weights."""
    tf.keras.utils.set_random_seed(4)
    model = MODELS[name]()
    source_ids = random_source_ids(1, shape=(6, 7))
    # No padding in the target: the RNN's outputs after a sentence's end are undefined.
    target_ids = np.random.default_rng(2).integers(len(words.SPECIAL_TOKENS), 30, size=(6, 5))
    target_in = tf.constant(target_ids)
    memory, state = model.encode(source_ids)
    vectors, full_weights, _ = model.decoder.output_vectors(target_in, memory, state)
    full_logits = model.decoder.logits(vectors)
    for position in range(target_in.shape[1]):
        logits, weights, state = model.decoder.step(target_in[:, position], memory, state)
        np.testing.assert_allclose(logits, full_logits[:, position], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(weights, full_weights[:, position], rtol=1e-5, atol=1e-6)
