"""Transformer decoder: causal self-attention with a key/value cache, cross-attention over
the encoder outputs (projected once per sentence), tied output embeddings."""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf
import tf_keras as keras

from modules.model.transformer_layers import (
    FeedForward,
    KeyValueAttention,
    TokenEmbedding,
    TransformerStack,
)


class TransformerMemory(NamedTuple):
    """What the decoder attends to, set up once per sentence (`TransformerDecoder.memory`):
    keys and values per layer, each [batch, src_len, heads, width/heads]; mask
    [batch, src_len] bool (false on padding)."""

    keys: tuple
    values: tuple
    mask: tf.Tensor


class DecoderLayer(keras.layers.Layer):
    """Pre-layer-norm self-attention, cross-attention and feed-forward blocks.

    call(inputs [batch, len, width], cached keys and values [batch, past, heads, head
    width] of the positions before, self_mask [1, len, past + len] or None, memory keys,
    values and memory_mask [batch, 1, src_len]) -> (outputs [batch, len, width],
    cross-attention weights [batch, heads, len, src_len], keys and values of past + len
    positions: the cache for the next call).
    """

    def __init__(self, width: int, heads: int, feed_forward_width: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.self_attention_norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.self_attention = KeyValueAttention(width, heads, dropout)
        self.cross_attention_norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.cross_attention = KeyValueAttention(width, heads, dropout)
        self.feed_forward_norm = keras.layers.LayerNormalization(epsilon=1e-6)
        self.feed_forward = FeedForward(width, feed_forward_width, dropout)
        self.dropout = keras.layers.Dropout(dropout)

    def call(
        self,
        inputs,
        cached_keys,
        cached_values,
        self_mask,
        memory_keys,
        memory_values,
        memory_mask,
        training=None,
    ):
        normed = self.self_attention_norm(inputs)
        new_keys, new_values = self.self_attention.project(normed)
        keys = tf.concat([tf.cast(cached_keys, new_keys.dtype), new_keys], axis=1)
        values = tf.concat([tf.cast(cached_values, new_values.dtype), new_values], axis=1)
        attended, _ = self.self_attention.attend(normed, keys, values, self_mask, training)
        outputs = inputs + self.dropout(attended, training=training)
        attended, weights = self.cross_attention.attend(
            self.cross_attention_norm(outputs), memory_keys, memory_values, memory_mask, training
        )
        outputs = outputs + self.dropout(attended, training=training)
        transformed = self.feed_forward(self.feed_forward_norm(outputs), training=training)
        return outputs + self.dropout(transformed, training=training), weights, keys, values


class TransformerDecoder(TransformerStack):
    """The decoder's state is its self-attention cache: per layer the keys and values of
    the tokens decoded so far, `[k_1, v_1, k_2, v_2, ...]`, each [batch, past, heads,
    width/heads]; `initial_state` is empty (past = 0). A search calls `step` one token at a
    time; training runs `output_vectors` over the whole target with a causal mask."""

    block = DecoderLayer

    def __init__(self, embedding: TokenEmbedding, *, width: int, heads: int, **kwargs):
        super().__init__(embedding, width=width, heads=heads, **kwargs)
        self.heads = heads
        self.head_width = width // heads
        self.output_bias = self.add_weight(
            "output_bias", shape=[embedding.vocab_size], initializer="zeros"
        )

    def memory(self, encoder_outputs, source_mask) -> TransformerMemory:
        """encoder_outputs [batch, src_len, width], source_mask [batch, src_len] -> each
        layer's cross-attention keys and values, computed once per sentence."""
        projected = [block.cross_attention.project(encoder_outputs) for block in self.blocks]
        return TransformerMemory(
            keys=tuple(keys for keys, _ in projected),
            values=tuple(values for _, values in projected),
            mask=source_mask,
        )

    def initial_state(self, batch) -> list:
        empty = tf.zeros([batch, 0, self.heads, self.head_width], self.compute_dtype)
        return [empty] * (2 * len(self.blocks))

    def output_vectors(self, target_ids, memory: TransformerMemory, state, training=None):
        """target_ids [batch, len] following the cached positions in `state` ->
        (vectors [batch, len, width], cross-attention of the last layer averaged over the
        heads [batch, len, src_len], the cache extended by these positions)."""
        past = tf.shape(state[0])[1]
        length = tf.shape(target_ids)[1]
        outputs = self.dropout(self.embedding(target_ids, past), training=training)
        # Position i sees the cached positions and itself and those before it.
        causal = tf.range(past + length)[tf.newaxis, :] <= past + tf.range(length)[:, tf.newaxis]
        memory_mask = memory.mask[:, None, :]
        new_state = []
        for index, layer in enumerate(self.blocks):
            outputs, weights, keys, values = layer(
                outputs,
                state[2 * index],
                state[2 * index + 1],
                causal[tf.newaxis],
                memory.keys[index],
                memory.values[index],
                memory_mask,
                training=training,
            )
            new_state += [keys, values]
        return self.final_norm(outputs), tf.reduce_mean(weights, axis=1), new_state

    def logits(self, vectors, training=None):
        """vectors [..., width] -> logits [..., vocab]."""
        logits = self.embedding.logits(vectors)
        return logits + tf.cast(self.output_bias, logits.dtype)

    def step(self, token_ids, memory: TransformerMemory, state):
        """One decoding step: token_ids [n] -> (logits [n, vocab], weights [n, src_len],
        state with this position cached)."""
        vectors, weights, state = self.output_vectors(token_ids[:, tf.newaxis], memory, state)
        return self.logits(vectors[:, 0]), weights[:, 0], state
