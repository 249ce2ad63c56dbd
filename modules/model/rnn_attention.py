"""Attention scores over the encoder outputs: additive (Bahdanau) or multiplicative (Luong)."""

from typing import NamedTuple

import tensorflow as tf
import tf_keras as keras

from modules.model.config import ATTENTION_KINDS


class AttentionMemory(NamedTuple):
    """What the decoder attends to, set up once per sentence (`Attention.memory`).

    values [batch, src_len, units] (the encoder outputs), keys [batch, src_len, units]
    (the values as the scores see them: projected, or the values themselves for
    `luong_dot`), mask [batch, src_len] bool (false on padding).
    """

    values: tf.Tensor
    keys: tf.Tensor
    mask: tf.Tensor


class Attention(keras.layers.Layer):
    """Scores each source position for each decoder position.

    memory(values [batch, src_len, units], source_mask [batch, src_len] bool)
      -> AttentionMemory, once per sentence: the key projection does not depend on the
         decoder, so a search computes it once rather than at every step.
    call(query [batch, tgt_len, units], memory)
      -> (context [batch, tgt_len, units], weights [batch, tgt_len, src_len])

    - `bahdanau`:      score(h, s) = v^T tanh(W1 h + W2 s)   (Keras AdditiveAttention)
    - `luong_general`: score(h, s) = h^T W s                 (Keras Attention on W s)
    - `luong_dot`:     score(h, s) = h^T s
    Padded source positions get zero weight; each row of `weights` sums to 1.
    """

    def __init__(self, units: int, kind: str = "bahdanau", **kwargs):
        super().__init__(**kwargs)
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"attention kind {kind!r} is not one of {ATTENTION_KINDS}")
        self.kind = kind
        if kind == "bahdanau":
            self.query_projection = keras.layers.Dense(units, use_bias=False)
            self.key_projection = keras.layers.Dense(units, use_bias=False)
            self.score = AdditiveAttention()
        else:
            self.query_projection = None
            self.key_projection = (
                keras.layers.Dense(units, use_bias=False) if kind == "luong_general" else None
            )
            self.score = keras.layers.Attention()

    def memory(self, values, source_mask) -> AttentionMemory:
        keys = self.key_projection(values) if self.key_projection is not None else values
        return AttentionMemory(values=values, keys=keys, mask=source_mask)

    def call(self, query, memory: AttentionMemory):
        if self.query_projection is not None:
            query = self.query_projection(query)
        context, weights = self.score(
            [query, memory.values, memory.keys],
            mask=[None, memory.mask],
            return_attention_scores=True,
        )
        return context, weights


class AdditiveAttention(keras.layers.AdditiveAttention):
    """Keras' `AdditiveAttention` (same weights, masks and outputs) with the scores'
    gradient written out: `additive_scores`."""

    def _calculate_scores(self, query, key):
        return additive_scores(query, key, tf.convert_to_tensor(self.scale))


@tf.custom_gradient
def additive_scores(query, keys, scale):
    """score(h, s) = scale . tanh(h + s) for every pair of positions.

    query [batch, tgt_len, units], keys [batch, src_len, units], scale [units]
      -> scores [batch, tgt_len, src_len].

    The [batch, tgt_len, src_len, units] tanh is the attention's largest tensor. Autodiff
    through Keras' broadcast-multiply-sum walks it about twice as often as this gradient
    does: one fused tanh derivative, two sums for the query and keys, and one matmul each
    for the scale's gradient and the scores (5.4 against 9.4 ms forward and backward at
    [64, 11, 16, 256] on 2 cores of an AMD EPYC).
    """
    hidden = tf.tanh(query[:, :, tf.newaxis] + keys[:, tf.newaxis])
    units = tf.shape(hidden)[-1]
    flat_hidden = tf.reshape(hidden, [-1, units])  # [batch * tgt_len * src_len, units]
    scores = tf.reshape(tf.matmul(flat_hidden, scale[:, tf.newaxis]), tf.shape(hidden)[:-1])

    def gradient(d_scores):
        d_inside = tf.raw_ops.TanhGrad(y=hidden, dy=d_scores[..., tf.newaxis] * scale)
        d_scale = tf.matmul(tf.reshape(d_scores, [1, -1]), flat_hidden)[0]
        return tf.reduce_sum(d_inside, axis=2), tf.reduce_sum(d_inside, axis=1), d_scale

    return scores, gradient
