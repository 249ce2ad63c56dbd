"""Search over the decoder: greedy, sampling and beam search share one `tf.while_loop`.

A search method (`Greedy`, `Sampling`, `BeamSearch`) only chooses the next tokens from
the step's `NextTokens`; `decode` owns the loop: it steps the decoder, reorders states and
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
# `top_k` works in blocks of _BLOCK entries, for vocabularies of _BLOCKWISE_FROM or more.
_BLOCK = 64
_BLOCKWISE_FROM = 16 * _BLOCK
# Special tokens a live hypothesis may never emit ([END] is how it finishes).
_FORBIDDEN_IDS = (words.PAD_ID, words.UNKNOWN_ID, words.START_ID)


class NextTokens(NamedTuple):
    """What a search chooses from at one step, for hypotheses laid out [batch, width].

    logits [batch, width, vocab] float32; finished [batch, width]: a finished hypothesis
    continues with PAD only, at no cost (`best`, `log_probs_of`). The special tokens a live
    hypothesis may not emit score NEG_INF below their log-probability. Searches take a few
    candidates of each hypothesis, not the whole vocabulary.
    """

    logits: tf.Tensor
    finished: tf.Tensor

    @classmethod
    def from_logits(cls, logits, finished) -> NextTokens:
        """logits [batch, width, vocab] (any float dtype), finished [batch, width]."""
        return cls(tf.cast(logits, tf.float32), finished)

    @property
    def log_probs(self):
        """[batch, width, vocab]: the whole log-softmax, the special tokens masked."""
        # Known when traced (the output layer's width), so the mask is a constant.
        vocab = self.logits.shape[-1] or tf.shape(self.logits)[-1]
        forbidden = tf.reduce_sum(tf.one_hot(_FORBIDDEN_IDS, vocab), axis=0) * NEG_INF
        return tf.nn.log_softmax(self.logits) + forbidden

    def log_probs_of(self, tokens):
        """tokens [batch, width, k] -> (their log-probabilities, tokens), each [batch,
        width, k]; a finished hypothesis' are PAD at 0, then PAD at NEG_INF."""
        chosen = tf.gather(self.log_probs, tokens, batch_dims=2)
        return self._continue_finished(chosen, tokens)

    def best(self, k: int):
        """The k most likely next tokens of each hypothesis -> (log-probabilities, tokens),
        each [batch, width, k], most likely first; a finished hypothesis' are PAD at 0,
        then PAD at NEG_INF.

        The k best allowed tokens are among the k + 3 best logits (3 special tokens are
        forbidden), and log p = logit - log-normaliser, where the normaliser is the best
        logit minus the log of its softmax probability (at least 1 / vocab, so it never
        underflows): a fused softmax and a blockwise top-k cost a CPU less than a log-softmax
        and a mask over the whole vocabulary (docs/benchmarks.md, Decoding)."""
        candidates = k + len(_FORBIDDEN_IDS)
        logits, tokens = top_k(self.logits, min(candidates, self.logits.shape[-1] or candidates))
        best_probability = tf.gather(tf.nn.softmax(self.logits), tokens[..., :1], batch_dims=2)
        log_normaliser = logits[..., :1] - tf.math.log(best_probability)
        forbidden = tf.reduce_any(
            tokens[..., tf.newaxis] == tf.constant(_FORBIDDEN_IDS, tokens.dtype), axis=-1
        )
        allowed, positions = tf.math.top_k(tf.where(forbidden, logits + NEG_INF, logits), k=k)
        return self._continue_finished(
            allowed - log_normaliser, tf.gather(tokens, positions, batch_dims=2)
        )

    def _continue_finished(self, log_probs, tokens):
        k = tf.shape(tokens)[-1]
        pad_only = tf.concat([[0.0], tf.fill([k - 1], NEG_INF)], axis=0)
        finished = self.finished[..., tf.newaxis]
        return (
            tf.where(finished, pad_only, log_probs),
            tf.where(finished, tf.constant(words.PAD_ID, tokens.dtype), tokens),
        )


def top_k(values, k: int):
    """`tf.math.top_k(values, k)` over the last axis of values [..., vocab]: the same
    values and indices, ties to the lower index, in two cheap passes for a wide vocabulary.

    TF's CPU top-k keeps a heap entry by entry. Here one vectorised reduction takes the
    maximum of each block of _BLOCK entries, and top-k runs over those maxima and then over
    the k blocks with the highest ones, which hold the k best values.
    """
    vocab = values.shape[-1]
    if vocab is None or vocab < max(_BLOCKWISE_FROM, k * _BLOCK):
        return tf.math.top_k(values, k=k)
    leading = tf.shape(values)[:-1]
    blocks = -(-vocab // _BLOCK)
    flat = tf.reshape(values, [-1, vocab])
    if blocks * _BLOCK > vocab:
        flat = tf.pad(
            flat, [[0, 0], [0, blocks * _BLOCK - vocab]], constant_values=values.dtype.min
        )
    by_block = tf.reshape(flat, [-1, blocks, _BLOCK])
    _, best_blocks = tf.math.top_k(tf.reduce_max(by_block, axis=-1), k=k)
    # In vocabulary order, so that equal values go to the lower index as in tf.math.top_k.
    best_blocks = tf.sort(best_blocks, axis=-1)
    candidates = tf.reshape(tf.gather(by_block, best_blocks, batch_dims=1), [-1, k * _BLOCK])
    best_values, positions = tf.math.top_k(candidates, k=k)
    first_of_block = tf.gather(best_blocks, positions // _BLOCK, batch_dims=1) * _BLOCK
    shape = tf.concat([leading, [k]], axis=0)
    return (
        tf.reshape(best_values, shape),
        tf.reshape(first_of_block + positions % _BLOCK, shape),
    )


@dataclasses.dataclass(frozen=True)
class Greedy:
    """Always the most likely next token."""

    width: int = 1

    def select(self, next_tokens: NextTokens, scores, lengths):
        """next_tokens of [batch, 1] hypotheses, scores/lengths [batch, 1] -> (tokens,
        parents, scores), each [batch, 1]."""
        gained, best = next_tokens.best(1)
        return best[..., 0], tf.zeros_like(best[..., 0]), scores + gained[..., 0]

    def rank(self, scores, lengths):
        return scores


@dataclasses.dataclass(frozen=True)
class Sampling(Greedy):
    """A token drawn from softmax(logits / temperature)."""

    temperature: float = 1.0
    seed: int | None = None

    def select(self, next_tokens: NextTokens, scores, lengths):
        drawn = tf.random.categorical(
            next_tokens.log_probs[:, 0] / self.temperature, 1, dtype=tf.int32, seed=self.seed
        )
        gained, drawn = next_tokens.log_probs_of(drawn[:, tf.newaxis])
        return drawn[..., 0], tf.zeros_like(drawn[..., 0]), scores + gained[..., 0]


@dataclasses.dataclass(frozen=True)
class BeamSearch:
    """Keeps the `width` best hypotheses, ranked by log-probability / length penalty.

    The GNMT length penalty `((5 + length) / 6) ** length_penalty`; 0 disables it.
    """

    width: int = 4
    length_penalty: float = 0.6

    def _penalty(self, lengths):
        return ((5.0 + tf.cast(lengths, tf.float32)) / 6.0) ** self.length_penalty

    def select(self, next_tokens: NextTokens, scores, lengths):
        """next_tokens of [batch, width] hypotheses, scores/lengths [batch, width] ->
        (tokens, parents, scores), each [batch, width].

        A hypothesis' extensions share its length penalty, so the `width` best of all
        [width, vocab] extensions are among the `width` best of each hypothesis: the search
        ranks those [width, width] candidates only."""
        gained, candidates = next_tokens.best(self.width)  # [batch, width, width]
        totals = scores[:, :, tf.newaxis] + gained
        new_lengths = lengths + tf.cast(~next_tokens.finished, lengths.dtype)
        ranking = totals / self._penalty(new_lengths)[:, :, tf.newaxis]
        flat = [tf.shape(ranking)[0], self.width * self.width]
        _, indices = tf.math.top_k(tf.reshape(ranking, flat), k=self.width)
        tokens = tf.gather(tf.reshape(candidates, flat), indices, batch_dims=1)
        new_scores = tf.gather(tf.reshape(totals, flat), indices, batch_dims=1)
        return tokens, indices // self.width, new_scores

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


class Hypotheses(NamedTuple):
    """The best hypothesis per sentence.

    token_ids [batch, steps] (padded with PAD after `[END]`), lengths [batch] (tokens up to
    and including `[END]`), attention [batch, steps, src_len] (zeros after `[END]`),
    scores [batch].
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


StepFn = Callable[[tf.Tensor, object, list], tuple[tf.Tensor, tf.Tensor, list]]


class _LoopState(NamedTuple):
    """What one search step reads and writes. The rows are the b sentences still searched,
    n = b * width hypotheses where flat: a sentence whose hypotheses have all finished
    leaves, its best hypothesis written to `results`, and no later step computes it."""

    step: tf.Tensor  # int32 [], tokens emitted so far
    sentences: tf.Tensor  # int32 [b], each row's index in the batch
    max_lengths: tf.Tensor  # int32 [b]
    memory: object  # what the decoder reads of each hypothesis' sentence, each [n, ...]
    tokens: tf.Tensor  # int32 [n], the last token of each hypothesis
    decoder_state: list  # the decoder's state (RNN state, Transformer cache), each [n, ...]
    scores: tf.Tensor  # float32 [b, width], summed log-probabilities
    finished: tf.Tensor  # bool [b, width]
    lengths: tf.Tensor  # int32 [b, width], tokens up to and including [END]
    sequences: tf.Tensor  # int32 [b, width, step]
    attention: tf.Tensor  # float32 [b, width, step, src_len]
    results: Hypotheses  # of the whole batch, [batch, max steps, ...]: rows that left

    def shape_invariants(self, width: int) -> _LoopState:
        """The shapes that may change from step to step left unknown."""

        def rows_unknown(tensor):
            return tf.TensorShape([None]).concatenate(tensor.shape[1:])

        return _LoopState(
            step=tf.TensorShape([]),
            sentences=tf.TensorShape([None]),
            max_lengths=tf.TensorShape([None]),
            memory=tf.nest.map_structure(rows_unknown, self.memory),
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
            results=tf.nest.map_structure(lambda tensor: tensor.shape, self.results),
        )


def _by_sentence(tensor, width: int):
    """[b * width, ...] -> [b, width, ...]."""
    rows = tf.shape(tensor)[0] // width
    return tf.reshape(tensor, tf.concat([[rows, width], tf.shape(tensor)[1:]], axis=0))


def _by_hypothesis(tensor):
    """[b, width, ...] -> [b * width, ...]."""
    shape = tf.shape(tensor)
    return tf.reshape(tensor, tf.concat([[shape[0] * shape[1]], shape[2:]], axis=0))


def _retire_finished(state: _LoopState, done, search: Search) -> _LoopState:
    """Writes the best hypothesis of each sentence that is `done` [b] (all its hypotheses
    finished) into `results` and drops those sentences' rows from the rest of the state."""
    leaving = tf.where(done)[:, 0]
    best = tf.argmax(search.rank(state.scores, state.lengths), axis=1, output_type=tf.int32)

    def best_of_leaving(tensor):  # [b, width, ...] -> [leaving, ...]
        return tf.gather(tf.gather(tensor, best, batch_dims=1), leaving)

    rows = tf.gather(state.sentences, leaving)[:, tf.newaxis]
    later_steps = tf.shape(state.results.token_ids)[1] - state.step
    found = Hypotheses(
        token_ids=tf.pad(best_of_leaving(state.sequences), [[0, 0], [0, later_steps]]),
        lengths=best_of_leaving(state.lengths),
        attention=tf.pad(best_of_leaving(state.attention), [[0, 0], [0, later_steps], [0, 0]]),
        scores=best_of_leaving(state.scores),
    )
    results = Hypotheses(
        *(
            tf.tensor_scatter_nd_update(all_rows, rows, update)
            for all_rows, update in zip(state.results, found, strict=True)
        )
    )
    staying = ~done
    width = search.width

    def per_sentence(tensor):
        return tf.boolean_mask(tensor, staying)

    def per_hypothesis(tensor):
        return _by_hypothesis(tf.boolean_mask(_by_sentence(tensor, width), staying))

    return _LoopState(
        step=state.step,
        sentences=per_sentence(state.sentences),
        max_lengths=per_sentence(state.max_lengths),
        memory=tf.nest.map_structure(per_hypothesis, state.memory),
        tokens=per_hypothesis(state.tokens),
        decoder_state=[per_hypothesis(s) for s in state.decoder_state],
        scores=per_sentence(state.scores),
        finished=per_sentence(state.finished),
        lengths=per_sentence(state.lengths),
        sequences=per_sentence(state.sequences),
        attention=per_sentence(state.attention),
        results=results,
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
    output. A sentence stops costing steps once its hypotheses have all finished
    (`_retire_finished`), as in JoeyNMT's and OpenNMT's searches.
    """
    width = search.width
    batch = tf.shape(source_mask)[0]
    src_len = tf.shape(source_mask)[1]
    max_lengths = tf.cast(max_lengths, tf.int32)
    max_steps = tf.reduce_max(tf.concat([max_lengths, [0]], axis=0))

    def body(state: _LoopState) -> tuple[_LoopState]:
        logits, weights, decoder_state = step_fn(state.tokens, state.memory, state.decoder_state)
        next_tokens = NextTokens.from_logits(_by_sentence(logits, width), state.finished)
        new_tokens, parents, scores = search.select(next_tokens, state.scores, state.lengths)

        def reorder(tensor):  # [b, width, ...] by parent; a lone hypothesis is its own
            return tensor if width == 1 else _reorder(tensor, parents)

        finished = reorder(state.finished)
        lengths = reorder(state.lengths) + tf.cast(~finished, tf.int32)
        step_weights = reorder(_by_sentence(tf.cast(weights, tf.float32), width))
        stepped = state._replace(
            step=state.step + 1,
            tokens=_by_hypothesis(new_tokens),
            decoder_state=decoder_state
            if width == 1
            else [_by_hypothesis(reorder(_by_sentence(s, width))) for s in decoder_state],
            scores=scores,
            finished=finished
            | (new_tokens == words.END_ID)
            | (state.step + 1 >= state.max_lengths[:, tf.newaxis]),
            lengths=lengths,
            sequences=tf.concat([reorder(state.sequences), new_tokens[..., None]], axis=2),
            attention=tf.concat([reorder(state.attention), step_weights[:, :, None]], axis=2),
        )
        done = tf.reduce_all(stepped.finished, axis=1)  # [b]
        return (
            tf.cond(
                tf.reduce_any(done),
                lambda: _retire_finished(stepped, done, search),
                lambda: stepped,
            ),
        )

    initial = _LoopState(
        step=tf.constant(0),
        sentences=tf.range(batch),
        max_lengths=max_lengths,
        memory=tf.nest.map_structure(lambda tensor: tile_hypotheses(tensor, width), memory),
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
        results=Hypotheses(
            token_ids=tf.fill([batch, max_steps], tf.constant(words.PAD_ID, tf.int32)),
            lengths=tf.zeros([batch], tf.int32),
            attention=tf.zeros([batch, max_steps, src_len], tf.float32),
            scores=tf.zeros([batch], tf.float32),
        ),
    )
    (final,) = tf.while_loop(
        lambda state: tf.size(state.sentences) > 0,
        body,
        (initial,),
        shape_invariants=(initial.shape_invariants(width),),
    )
    return final.results._replace(
        token_ids=final.results.token_ids[:, : final.step],
        attention=final.results.attention[:, : final.step],
    )
