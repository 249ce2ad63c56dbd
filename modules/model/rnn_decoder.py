"""Decoder: one attention step, or a whole teacher-forced target sequence at once."""

import tensorflow as tf
import tf_keras as keras

from modules.model.recurrent import ProjectedRNN
from modules.model.rnn_attention import Attention, AttentionMemory
from modules.model.rnn_encoder import sequence_lengths
from modules.text import words


class TiedOutput(keras.layers.Layer):
    """vectors [..., embedding_dim] -> logits [..., vocab]: the embedding matrix, transposed,
    and a bias of its own (Press and Wolf, 2017)."""

    def __init__(self, embedding: keras.layers.Embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding

    def build(self, input_shape):
        self.bias = self.add_weight("bias", shape=[self.embedding.input_dim], initializer="zeros")
        super().build(input_shape)

    def call(self, vectors):
        # An Embedding's variables are not cast by mixed precision: cast them here.
        embeddings = tf.cast(self.embedding.embeddings, vectors.dtype)
        return tf.tensordot(vectors, embeddings, [[-1], [1]]) + self.bias


class Decoder(keras.layers.Layer):
    """Embedding + GRU/LSTM, attention over the encoder outputs, Luong's attention vector
    `a_t = tanh(W_c [c_t; h_t])` (eq. 3) and logits over the target vocabulary: a layer of
    its own, or with `tied_output` the embeddings transposed (`TiedOutput`, an attention
    vector of embedding_dim). `embedding`: an Embedding layer to use (one shared with the
    encoder) instead of its own.

    The decoder knows only how to run a sequence of known inputs; search (greedy, sampling,
    beam) lives in `modules.serving.decoding` and calls `step` one token at a time.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        *,
        cell: str = "gru",
        attention: str = "bahdanau",
        dropout: float = 0.0,
        recurrent_implementation: str = "auto",
        tied_output: bool = False,
        embedding: keras.layers.Embedding | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embedding = embedding or keras.layers.Embedding(vocab_size, embedding_dim)
        self.rnn = ProjectedRNN(cell, units, implementation=recurrent_implementation)
        self.attention = Attention(units, attention)
        self.attention_vector = keras.layers.Dense(
            embedding_dim if tied_output else units, activation="tanh", use_bias=False
        )
        self.dropout = keras.layers.Dropout(dropout)
        self.output_layer = (
            TiedOutput(self.embedding) if tied_output else keras.layers.Dense(vocab_size)
        )

    def memory(self, encoder_outputs, source_mask) -> AttentionMemory:
        """What the decoder attends to, once per sentence: encoder_outputs [batch, src_len,
        units] and source_mask [batch, src_len] with their attention keys."""
        return self.attention.memory(encoder_outputs, source_mask)

    def call(self, target_in, memory: AttentionMemory, state, training=None):
        """Teacher-forced pass over a whole sequence, no per-token loop.

        target_in [batch, tgt_len] -> (logits [batch, tgt_len, vocab],
        attention weights [batch, tgt_len, src_len], new state); target_in [n]: one
        decoding step (`step`).
        """
        if target_in.shape.rank == 1:
            return self._one_step(target_in, memory, state)
        vectors, weights, state = self.output_vectors(target_in, memory, state, training)
        return self.logits(vectors, training), weights, state

    def output_vectors(self, target_in, memory: AttentionMemory, state, training=None):
        """What `call` computes before its per-token layers: target_in [batch, tgt_len] ->
        ([context; decoder output] [batch, tgt_len, 2 * units], weights [batch, tgt_len,
        src_len], new state). The vectors at padded positions are undefined."""
        embedded = self.dropout(self.embedding(target_in), training=training)
        outputs, state = self.rnn(embedded, sequence_lengths(target_in), initial_state=state)
        context, weights = self.attention(outputs, memory)
        return tf.concat([context, outputs], axis=-1), weights, state

    def logits(self, vectors, training=None):
        """[context; decoder output] [..., 2 * units] -> logits [..., vocab], through the
        attention vector [..., units, or embedding_dim when tied]. Token by token, so
        training runs it on real tokens only."""
        attention_vectors = self.attention_vector(vectors)
        return self.output_layer(self.dropout(attention_vectors, training=training))

    def step(self, token_ids, memory: AttentionMemory, state):
        """One decoding step: token_ids [n] -> (logits [n, vocab], weights [n, src_len], state)."""
        return self(token_ids, memory, state, training=False)

    def _one_step(self, token_ids, memory: AttentionMemory, state):
        """`step`'s computation, inside `call` so that mixed precision casts the weights: the
        teacher-forced pass's equations for one position, without its sequence bookkeeping
        (lengths, packing, masks). A PAD token (a finished hypothesis) keeps its state, as a
        padded position does; its logits and weights are undefined."""
        new_state = self.rnn.step(self.embedding(token_ids), state)
        running = (token_ids != words.PAD_ID)[:, tf.newaxis]
        state = [tf.where(running, new, old) for new, old in zip(new_state, state, strict=True)]
        outputs = state[0][:, tf.newaxis]  # [n, 1, units]
        context, weights = self.attention(outputs, memory)
        logits = self.logits(tf.concat([context, outputs], axis=-1), training=False)
        return logits[:, 0], weights[:, 0], state
