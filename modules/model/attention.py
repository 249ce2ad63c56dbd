"""Attention scores over the encoder outputs: additive (Bahdanau) or multiplicative (Luong)."""

import tf_keras as keras

from modules.model.config import ATTENTION_KINDS


class Attention(keras.layers.Layer):
    """Scores each source position for each decoder position.

    call(query [batch, tgt_len, units], values [batch, src_len, units],
         source_mask [batch, src_len] bool)
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

    def call(self, query, values, source_mask):
        if self.query_projection is not None:
            query = self.query_projection(query)
        keys = self.key_projection(values) if self.key_projection is not None else values
        context, weights = self.score(
            [query, values, keys], mask=[None, source_mask], return_attention_scores=True
        )
        return context, weights
