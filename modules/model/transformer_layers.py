"""The Transformer's building blocks: token embeddings with sinusoidal positions (tied to
the output layer), multi-head attention whose keys and values are projected once, the
feed-forward block."""

from __future__ import annotations

import math

import tensorflow as tf
import tf_keras as keras


def sinusoidal_positions(first: tf.Tensor, length: tf.Tensor, width: int) -> tf.Tensor:
    """Positions first .. first + length - 1 -> [length, width] float32: sines of the
    positions at geometric frequencies in the first half, cosines in the second."""
    positions = tf.cast(tf.range(first, first + length), tf.float32)[:, tf.newaxis]
    half = (width + 1) // 2
    frequencies = tf.exp(-math.log(10_000.0) * tf.range(half, dtype=tf.float32) / half)
    angles = positions * frequencies[tf.newaxis]
    return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)[:, :width]


class TokenEmbedding(keras.layers.Layer):
    """call(ids [batch, len], first_position) -> embeddings * sqrt(width) + positions
    [batch, len, width]; `logits(vectors [..., width])` -> [..., vocab] by the same
    matrix, transposed (tied input and output embeddings)."""

    def __init__(self, vocab_size: int, width: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.width = width

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            "embeddings",
            shape=[self.vocab_size, self.width],
            initializer=keras.initializers.RandomNormal(stddev=self.width**-0.5),
        )
        super().build(input_shape)

    def call(self, ids, first_position=0):
        embedded = tf.gather(self.embeddings, ids) * math.sqrt(self.width)
        positions = sinusoidal_positions(first_position, tf.shape(ids)[1], self.width)
        return embedded + tf.cast(positions, embedded.dtype)

    def logits(self, vectors):
        return tf.matmul(vectors, tf.cast(self.embeddings, vectors.dtype), transpose_b=True)


class KeyValueAttention(keras.layers.MultiHeadAttention):
    """Keras' multi-head attention, in two parts so that keys and values are projected once
    per sentence (cross-attention) or once per token (the decoder's self-attention cache):

    project(inputs [batch, len, width]) -> (keys, values), each [batch, len, heads, width/heads];
    attend(query [batch, q_len, width], keys, values, mask [batch or 1, q_len or 1, len] bool)
      -> (outputs [batch, q_len, width], weights [batch, heads, q_len, len]).
    """

    def __init__(self, width: int, heads: int, dropout: float = 0.0, **kwargs):
        super().__init__(num_heads=heads, key_dim=width // heads, dropout=dropout, **kwargs)
        self._build_from_signature(query=[None, None, width], value=[None, None, width])

    def project(self, inputs):
        return self._key_dense(inputs), self._value_dense(inputs)

    def attend(self, query, keys, values, mask=None, training=None):
        outputs, weights = self._compute_attention(
            self._query_dense(query), keys, values, mask, training
        )
        return self._output_dense(outputs), weights


class FeedForward(keras.layers.Layer):
    """[..., width] -> ReLU(x W1 + b1) W2 + b2 [..., width], dropout on the inner layer."""

    def __init__(self, width: int, inner_width: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(inner_width, activation="relu")
        self.dropout = keras.layers.Dropout(dropout)
        self.outer = keras.layers.Dense(width)

    def call(self, inputs, training=None):
        return self.outer(self.dropout(self.inner(inputs), training=training))


class TransformerStack(keras.layers.Layer):
    """What the encoder and decoder share: the token embedding with dropout, `layers`
    blocks of the subclass's `block` class, and a final layer norm (pre-layer-norm blocks
    leave their sum un-normed)."""

    block: type[keras.layers.Layer]

    def __init__(
        self,
        embedding: TokenEmbedding,
        *,
        layers: int,
        width: int,
        heads: int,
        feed_forward_width: int,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.dropout = keras.layers.Dropout(dropout)
        self.blocks = [self.block(width, heads, feed_forward_width, dropout) for _ in range(layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6)
