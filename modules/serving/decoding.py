"""Search over the decoder: greedy, sampling and beam search share one `tf.while_loop`.

A search method (`Greedy`, `Sampling`, `BeamSearch`) only chooses the next tokens from
log-probabilities; `decode` owns the loop: it steps the decoder, reorders states and
histories by each hypothesis' parent, marks hypotheses that emitted `[END]` or reached
their length limit as finished, and stops as soon as all are finished. Hypotheses are
laid out `[batch, width]` (width 1 for greedy and sampling); the decoder sees them
flattened to `n = batch * width` rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

from modules.serving.config import SEARCHES, DecodingConfig
from modules.text import words

NEG_INF = -1e9
# Special tokens a live hypothesis may never emit ([END] is how it finishes).
_FORBIDDEN_IDS = (words.PAD_ID, words.UNKNOWN_ID, words.START_ID)


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


# A search method; named so, not "strategy", to keep it apart from tf.distribute.Strategy.
Search = Greedy | Sampling | BeamSearch


def search_from_config(config: DecodingConfig, name: str) -> Search:
    """The search called `name` (one of decoding_config.SEARCHES) with `config`'s settings."""
    if name == "beam":
        return BeamSearch(config.beam_width, config.length_penalty)
    if name == "sampling":
        return Sampling(temperature=config.temperature)
    if name == "greedy":
        return Greedy()
    raise ValueError(f"search {name!r} is not one of {SEARCHES}")


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
    pad_only = (1.0 - tf.one_hot(words.PAD_ID, vocab)) * NEG_INF
    return tf.where(finished[:, :, tf.newaxis], pad_only, log_probs + forbidden)


StepFn = Callable[[tf.Tensor, object, list], tuple[tf.Tensor, tf.Tensor, list]]


class _LoopState(NamedTuple):
    """What one search step reads and writes; n = batch * width rows where flat."""

    step: tf.Tensor  # int32 [], tokens emitted so far
    tokens: tf.Tensor  # int32 [n], the last token of each hypothesis
    decoder_state: list  # the decoder's state (RNN state, Transformer cache), each [n, ...]
    scores: tf.Tensor  # float32 [batch, width], summed log-probabilities
    finished: tf.Tensor  # bool [batch, width]
    lengths: tf.Tensor  # int32 [batch, width], tokens up to and including [END]
    sequences: tf.Tensor  # int32 [batch, width, step]
    attention: tf.Tensor  # float32 [batch, width, step, src_len]

    def shape_invariants(self, width: int) -> _LoopState:
        """The shapes that may change from step to step left unknown."""
        return _LoopState(
            step=tf.TensorShape([]),
            tokens=tf.TensorShape([None]),
            # A Transformer's cache grows by a position each step: only the last size is fixed.
            decoder_state=[
                tf.TensorShape([None] * (s.shape.rank - 1) + [s.shape[-1]])
                for s in self.decoder_state
            ],
            scores=tf.TensorShape([None, width]),
            finished=tf.TensorShape([None, width]),
            lengths=tf.TensorShape([None, width]),
            sequences=tf.TensorShape([None, width, None]),
            attention=tf.TensorShape([None, width, None, None]),
        )


def decode(
    step_fn: StepFn,
    memory,
    source_mask: tf.Tensor,
    decoder_state: list,
    max_lengths: tf.Tensor,
    search: Search,
) -> Hypotheses:
    """Runs `search` from `[START]` until every hypothesis is finished.

    step_fn(token_ids [n], memory, decoder_state) -> (logits [n, vocab], attention
    [n, src_len], decoder_state). memory: what the decoder reads of each sentence, set up
    once (e.g. `AttentionMemory`), a nest of [batch, ...] tensors that `decode` repeats for
    each hypothesis; source_mask [batch, src_len] sizes the attention history;
    decoder_state: list of [batch, ...] tensors that `decode` reorders with the hypotheses
    (an RNN's state, a Transformer's key/value cache); max_lengths [batch] int32 bounds each
    output.
    """
    width = search.width
    batch = tf.shape(source_mask)[0]
    src_len = tf.shape(source_mask)[1]
    memory = tf.nest.map_structure(lambda tensor: tile_hypotheses(tensor, width), memory)
    max_lengths = tf.cast(max_lengths, tf.int32)

    def unflatten(tensor):
        return tf.reshape(tensor, tf.concat([[batch, width], tf.shape(tensor)[1:]], axis=0))

    def flatten(tensor):
        return tf.reshape(tensor, tf.concat([[batch * width], tf.shape(tensor)[2:]], axis=0))

    def not_done(state: _LoopState):
        return tf.logical_and(
            state.step < tf.reduce_max(max_lengths), ~tf.reduce_all(state.finished)
        )

    def body(state: _LoopState) -> tuple[_LoopState]:
        logits, weights, decoder_state = step_fn(state.tokens, memory, state.decoder_state)
        log_probs = unflatten(tf.nn.log_softmax(tf.cast(logits, tf.float32)))
        log_probs = _restrict_special_tokens(log_probs, state.finished)
        new_tokens, parents, scores = search.select(
            log_probs, state.scores, state.lengths, state.finished
        )
        finished = _reorder(state.finished, parents)
        lengths = _reorder(state.lengths, parents) + tf.cast(~finished, tf.int32)
        step_weights = _reorder(unflatten(tf.cast(weights, tf.float32)), parents)
        next_state = _LoopState(
            step=state.step + 1,
            tokens=flatten(new_tokens),
            decoder_state=[flatten(_reorder(unflatten(s), parents)) for s in decoder_state],
            scores=scores,
            finished=finished
            | (new_tokens == words.END_ID)
            | (state.step + 1 >= max_lengths[:, tf.newaxis]),
            lengths=lengths,
            sequences=tf.concat(
                [_reorder(state.sequences, parents), new_tokens[..., None]], axis=2
            ),
            attention=tf.concat(
                [_reorder(state.attention, parents), step_weights[:, :, None]], axis=2
            ),
        )
        return (next_state,)  # while_loop's variables: a 1-tuple of the named state

    initial = _LoopState(
        step=tf.constant(0),
        tokens=tf.fill([batch * width], tf.constant(words.START_ID, tf.int32)),
        decoder_state=[tile_hypotheses(s, width) for s in decoder_state],
        # Only the first hypothesis is live at the start, so beams do not all pick one token.
        scores=tf.tile(
            tf.concat([[0.0], tf.fill([width - 1], NEG_INF)], axis=0)[tf.newaxis], [batch, 1]
        ),
        finished=tf.zeros([batch, width], tf.bool),
        lengths=tf.zeros([batch, width], tf.int32),
        sequences=tf.zeros([batch, width, 0], tf.int32),
        attention=tf.zeros([batch, width, 0, src_len], tf.float32),
    )
    (final,) = tf.while_loop(
        not_done, body, (initial,), shape_invariants=(initial.shape_invariants(width),)
    )
    best = tf.argmax(search.rank(final.scores, final.lengths), axis=1, output_type=tf.int32)
    return Hypotheses(
        token_ids=tf.gather(final.sequences, best, batch_dims=1),
        lengths=tf.gather(final.lengths, best, batch_dims=1),
        attention=tf.gather(final.attention, best, batch_dims=1),
        scores=tf.gather(final.scores, best, batch_dims=1),
    )
