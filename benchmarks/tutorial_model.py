"""The classic TensorFlow "NMT with attention" tutorial model, re-implemented as the
baseline: GRU encoder, Bahdanau attention, a decoder called once per target token inside
the gradient tape (train step) and an eager per-token Python loop (translation).

Faithful to the tutorial's code (TF 2.0 era): context concatenated to the embedded input
before the decoder GRU, loss summed over time steps with padding masked, Adam.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

START_ID = 2  # the tutorial's '<start>' index; any fixed id works for timing


def tutorial_gru(units: int) -> keras.layers.GRU:
    """The tutorial's GRU: Keras' own layer, whole sequence and final state returned."""
    return keras.layers.GRU(
        units, return_sequences=True, return_state=True, recurrent_initializer="glorot_uniform"
    )


class Encoder(keras.Model):
    def __init__(self, vocab_size: int, embedding_dim: int, units: int):
        super().__init__()
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.gru = tutorial_gru(units)

    def call(self, x, hidden):
        """x [batch, src_len] -> (output [batch, src_len, units], state [batch, units])."""
        return self.gru(self.embedding(x), initial_state=hidden)


class BahdanauAttention(keras.layers.Layer):
    def __init__(self, units: int):
        super().__init__()
        self.W1 = keras.layers.Dense(units)
        self.W2 = keras.layers.Dense(units)
        self.V = keras.layers.Dense(1)

    def call(self, query, values):
        """query [batch, units], values [batch, src_len, units] -> (context, weights)."""
        score = self.V(tf.nn.tanh(self.W1(values) + self.W2(query[:, tf.newaxis, :])))
        weights = tf.nn.softmax(score, axis=1)
        return tf.reduce_sum(weights * values, axis=1), weights


class Decoder(keras.Model):
    def __init__(self, vocab_size: int, embedding_dim: int, units: int):
        super().__init__()
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.gru = tutorial_gru(units)
        self.fc = keras.layers.Dense(vocab_size)
        self.attention = BahdanauAttention(units)

    def call(self, x, hidden, enc_output):
        """One step: x [batch, 1] -> (logits [batch, vocab], state, attention weights)."""
        context, weights = self.attention(hidden, enc_output)
        x = tf.concat([context[:, tf.newaxis, :], self.embedding(x)], axis=-1)
        output, state = self.gru(x)
        return self.fc(tf.reshape(output, (-1, output.shape[2]))), state, weights


class TutorialSeq2Seq:
    """Encoder + decoder with the tutorial's `train_step` and `evaluate` loops."""

    def __init__(self, vocab_size: int, embedding_dim: int, units: int):
        self.units = units
        self.encoder = Encoder(vocab_size, embedding_dim, units)
        self.decoder = Decoder(vocab_size, embedding_dim, units)
        self.optimizer = keras.optimizers.Adam()
        self._loss_object = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="none"
        )

    def _loss(self, real, pred):
        mask = tf.cast(tf.math.logical_not(tf.math.equal(real, 0)), pred.dtype)
        return tf.reduce_mean(self._loss_object(real, pred) * mask)

    @tf.function
    def train_step(self, inp, targ):
        """inp [batch, src_len], targ [batch, tgt_len] (with start/end) -> batch loss."""
        loss = 0.0
        with tf.GradientTape() as tape:
            hidden = tf.zeros((tf.shape(inp)[0], self.units))
            enc_output, dec_hidden = self.encoder(inp, hidden)
            dec_input = tf.fill([tf.shape(inp)[0], 1], tf.constant(START_ID, targ.dtype))
            for t in range(1, targ.shape[1]):  # the per-token loop, unrolled when traced
                predictions, dec_hidden, _ = self.decoder(dec_input, dec_hidden, enc_output)
                loss += self._loss(targ[:, t], predictions)
                dec_input = targ[:, t : t + 1]
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss / int(targ.shape[1])


def eager_greedy_translate(step, encode, source_ids, max_length: int, end_id: int):
    """The tutorial's `evaluate`: an eager Python loop, one decoder call per token.

    `encode(source_ids)` -> decoder context; `step(token_ids, context)` -> (logits,
    context). Stops at `end_id` (per sentence) or after `max_length` tokens.
    """
    context = encode(source_ids)
    tokens = tf.fill([tf.shape(source_ids)[0]], tf.constant(START_ID, tf.int64))
    result, finished = [], tf.zeros_like(tokens, dtype=tf.bool)
    for _ in range(max_length):
        logits, context = step(tokens, context)
        tokens = tf.argmax(logits, axis=-1)
        result.append(tokens)
        finished |= tokens == end_id
        if bool(tf.reduce_all(finished)):
            break
    return tf.stack(result, axis=1)
