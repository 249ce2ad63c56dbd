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
            self.score = keras.layers.AdditiveAttention()
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
