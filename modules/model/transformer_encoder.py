"""Transformer encoder: pre-layer-norm self-attention blocks over the source."""

from __future__ import annotations

import tf_keras as keras

from modules.model.transformer_layers import FeedForward, KeyValueAttention, TransformerStack


class EncoderLayer(keras.layers.Layer):
    """x + SelfAttention(LayerNorm(x)), then + FeedForward(LayerNorm(.)), dropout on each
    sublayer's output: [batch, src_len, width] -> the same."""

    def __init__(self, width: int, heads: int, feed_forward_width: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.attention = KeyValueAttention(width, heads, dropout)
        self.feed_forward_norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.feed_forward = FeedForward(width, feed_forward_width, dropout)
        self.dropout = keras.layers.Dropout(dropout)

    def call(self, inputs, attention_mask, training=None):
        """attention_mask [batch, 1, src_len] bool: false on padded source positions."""
        normed = self.attention_norm(inputs)
        attended, _ = self.attention.attend(
            normed, *self.attention.project(normed), attention_mask, training
        )
        outputs = inputs + self.dropout(attended, training=training)
        transformed = self.feed_forward(self.feed_forward_norm(outputs), training=training)
        return outputs + self.dropout(transformed, training=training)


class TransformerEncoder(TransformerStack):
    """call(source_ids [batch, src_len], source_mask [batch, src_len] bool) -> outputs
    [batch, src_len, width], layer-normed; undefined at padded positions."""

    block = EncoderLayer

    def call(self, source_ids, source_mask, training=None):
        outputs = self.dropout(self.embedding(source_ids), training=training)
        attention_mask = source_mask[:, None, :]
        for layer in self.blocks:
            outputs = layer(outputs, attention_mask, training=training)
        return self.final_norm(outputs)
