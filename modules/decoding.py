"""Search over the decoder: greedy, sampling and beam search share one `tf.while_loop`.

A strategy only chooses the next tokens from log-probabilities; `decode` owns the loop:
it steps the decoder, reorders states and histories by each hypothesis' parent, marks
hypotheses that emitted `[END]` or reached their length limit as finished, and stops as
soon as all are finished. Hypotheses are laid out `[batch, width]` (width 1 for greedy and
sampling); the decoder sees them flattened to `n = batch * width` rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from modules import text

NEG_INF = -1e9
# Special tokens a live hypothesis may never emit ([END] is how it finishes).
_FORBIDDEN_IDS = (text.PAD_ID, text.UNKNOWN_ID, text.START_ID)


@dataclasses.dataclass(frozen=True)
class Greedy:
    """Always the most likely next token."""

    width: int = 1

    def select(self, log_probs, scores, lengths, finished):
        """log_probs [batch, 1, vocab] -> (tokens, parents, scores), each [batch, 1]."""
        best = tf.argmax(log_probs[:, 0], axis=-1, output_type=tf.int32)
        gained = tf.gather(log_probs[:, 0], best, batch_dims=1)
        return best[:, tf.newaxis], tf.zeros_like(best)[:, tf.newaxis], scores + gained[:, None]

    def rank(self, scores, lengths):
        return scores


@dataclasses.dataclass(frozen=True)
class Sampling(Greedy):
    """A token drawn from softmax(logits / temperature)."""

    temperature: float = 1.0
    seed: int | None = None

    def select(self, log_probs, scores, lengths, finished):
        drawn = tf.random.categorical(
            log_probs[:, 0] / self.temperature, 1, dtype=tf.int32, seed=self.seed
        )[:, 0]
        gained = tf.gather(log_probs[:, 0], drawn, batch_dims=1)
        return drawn[:, tf.newaxis], tf.zeros_like(drawn)[:, tf.newaxis], scores + gained[:, None]


@dataclasses.dataclass(frozen=True)
class BeamSearch:
    """Keeps the `width` best hypotheses, ranked by log-probability / length penalty.

    The GNMT length penalty `((5 + length) / 6) ** length_penalty`; 0 disables it.
    """

    width: int = 4
    length_penalty: float = 0.6

    def _penalty(self, lengths):
        return ((5.0 + tf.cast(lengths, tf.float32)) / 6.0) ** self.length_penalty

    def select(self, log_probs, scores, lengths, finished):
        """log_probs [batch, width, vocab], scores/lengths/finished [batch, width]
        -> (tokens, parents, scores), each [batch, width]."""
        vocab = tf.shape(log_probs)[-1]
        totals = scores[:, :, tf.newaxis] + log_probs
        new_lengths = lengths + tf.cast(~finished, lengths.dtype)
        ranking = totals / self._penalty(new_lengths)[:, :, tf.newaxis]
        flat = tf.reshape(ranking, [tf.shape(ranking)[0], -1])
        _, indices = tf.math.top_k(flat, k=self.width)
        new_scores = tf.gather(tf.reshape(totals, tf.shape(flat)), indices, batch_dims=1)
        return indices % vocab, indices // vocab, new_scores

    def rank(self, scores, lengths):
        return scores / self._penalty(lengths)


Strategy = Greedy | Sampling | BeamSearch


@dataclasses.dataclass(frozen=True)
class Hypotheses:
    """The best hypothesis per sentence.

    token_ids [batch, steps] (padded with PAD after `[END]`), lengths [batch] (tokens up to
    and including `[END]`), attention [batch, steps, src_len], scores [batch].
    """

    token_ids: tf.Tensor
    lengths: tf.Tensor
    attention: tf.Tensor
    scores: tf.Tensor


def tile_hypotheses(tensor: tf.Tensor, width: int) -> tf.Tensor:
    """[batch, ...] -> [batch * width, ...], each row repeated `width` times in place."""
    return tf.repeat(tensor, width, axis=0)


def _reorder(tensor, parents):
    """Gathers hypotheses [batch, width, ...] by parent index [batch, width]."""
    return tf.gather(tensor, parents, batch_dims=1)


def _restrict_special_tokens(log_probs, finished):
    """Live hypotheses may not emit PAD/UNK/START; finished ones emit only PAD, at no cost."""
    vocab = tf.shape(log_probs)[-1]
    forbidden = tf.reduce_sum(tf.one_hot(_FORBIDDEN_IDS, vocab), axis=0) * NEG_INF
    pad_only = (1.0 - tf.one_hot(text.PAD_ID, vocab)) * NEG_INF
    return tf.where(finished[:, :, tf.newaxis], pad_only, log_probs + forbidden)


StepFn = Callable[[tf.Tensor, tf.Tensor, tf.Tensor, list], tuple[tf.Tensor, tf.Tensor, list]]


def decode(
    step_fn: StepFn,
    encoder_outputs: tf.Tensor,
    source_mask: tf.Tensor,
    state: list,
    max_lengths: tf.Tensor,
    strategy: Strategy,
) -> Hypotheses:
    """Runs `strategy` from `[START]` until every hypothesis is finished.

    step_fn(token_ids [n], encoder_outputs [n, src_len, units], source_mask [n, src_len],
    state) -> (logits [n, vocab], attention [n, src_len], state).
    encoder_outputs [batch, src_len, units], source_mask [batch, src_len], state: list of
    [batch, units]; max_lengths [batch] int32 bounds each sentence's output.
    """
    width = strategy.width
    batch = tf.shape(encoder_outputs)[0]
    src_len = tf.shape(encoder_outputs)[1]
    encoder_outputs = tile_hypotheses(encoder_outputs, width)
    source_mask = tile_hypotheses(source_mask, width)
    state = [tile_hypotheses(s, width) for s in state]

    def unflatten(tensor):
        return tf.reshape(tensor, tf.concat([[batch, width], tf.shape(tensor)[1:]], axis=0))

    def flatten(tensor):
        return tf.reshape(tensor, tf.concat([[batch * width], tf.shape(tensor)[2:]], axis=0))

    # Only the first hypothesis is live at the start, so beams do not all pick one token.
    initial_scores = tf.tile(
        tf.concat([[0.0], tf.fill([width - 1], NEG_INF)], axis=0)[tf.newaxis], [batch, 1]
    )
    max_lengths = tf.cast(max_lengths, tf.int32)

    def not_done(step, tokens, state, scores, finished, lengths, sequences, attention):
        return tf.logical_and(step < tf.reduce_max(max_lengths), ~tf.reduce_all(finished))

    def body(step, tokens, state, scores, finished, lengths, sequences, attention):
        logits, weights, state = step_fn(tokens, encoder_outputs, source_mask, state)
        log_probs = unflatten(tf.nn.log_softmax(tf.cast(logits, tf.float32)))
        log_probs = _restrict_special_tokens(log_probs, finished)
        new_tokens, parents, scores = strategy.select(log_probs, scores, lengths, finished)
        finished, lengths = _reorder(finished, parents), _reorder(lengths, parents)
        state = [flatten(_reorder(unflatten(s), parents)) for s in state]
        sequences = tf.concat([_reorder(sequences, parents), new_tokens[..., None]], axis=2)
        step_weights = _reorder(unflatten(tf.cast(weights, tf.float32)), parents)
        attention = tf.concat([_reorder(attention, parents), step_weights[:, :, None]], axis=2)
        lengths += tf.cast(~finished, tf.int32)
        finished = finished | (new_tokens == text.END_ID) | (step + 1 >= max_lengths[:, tf.newaxis])
        return step + 1, flatten(new_tokens), state, scores, finished, lengths, sequences, attention

    loop_vars = (
        tf.constant(0),
        tf.fill([batch * width], tf.constant(text.START_ID, tf.int32)),
        state,
        initial_scores,
        tf.zeros([batch, width], tf.bool),
        tf.zeros([batch, width], tf.int32),
        tf.zeros([batch, width, 0], tf.int32),
        tf.zeros([batch, width, 0, src_len], tf.float32),
    )
    invariants = (
        tf.TensorShape([]),
        tf.TensorShape([None]),
        [tf.TensorShape([None, s.shape[-1]]) for s in state],
        tf.TensorShape([None, width]),
        tf.TensorShape([None, width]),
        tf.TensorShape([None, width]),
        tf.TensorShape([None, width, None]),
        tf.TensorShape([None, width, None, None]),
    )
    _, _, _, scores, _, lengths, sequences, attention = tf.while_loop(
        not_done, body, loop_vars, shape_invariants=invariants
    )
    best = tf.argmax(strategy.rank(scores, lengths), axis=1, output_type=tf.int32)
    return Hypotheses(
        token_ids=tf.gather(sequences, best, batch_dims=1),
        lengths=tf.gather(lengths, best, batch_dims=1),
        attention=tf.gather(attention, best, batch_dims=1),
        scores=tf.gather(scores, best, batch_dims=1),
    )
