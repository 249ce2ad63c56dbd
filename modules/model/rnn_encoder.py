"""Encoder: source token ids -> contextual vectors and a summary state."""

import tensorflow as tf
import tf_keras as keras

from modules.model.recurrent import ProjectedRNN
from modules.text import words


def sequence_lengths(token_ids):
    """token_ids [batch, len], right-padded with PAD -> lengths [batch] int32."""
    return tf.reduce_sum(tf.cast(token_ids != words.PAD_ID, tf.int32), axis=1)


class Encoder(keras.layers.Layer):
    """Embedding + stacked (optionally bidirectional) GRU/LSTM.

    call(source_ids [batch, src_len]) -> (outputs [batch, src_len, units], state), where
    state is `[h]` for a GRU and `[h, c]` for an LSTM, each `[batch, units]`: the final
    state of the last layer, ready to initialise the decoder. A bidirectional layer runs
    `units / 2` per direction and concatenates them (outputs and each state), forward first.
    Outputs at padded positions are undefined: attention masks them.
    `recurrent_implementation`: how the layers run (ProjectedRNN's `implementation`);
    `embedding`: an Embedding layer to read the source ids with (one shared with the
    decoder) instead of its own.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        *,
        cell: str = "gru",
        bidirectional: bool = False,
        num_layers: int = 1,
        dropout: float = 0.0,
        recurrent_implementation: str = "auto",
        embedding: keras.layers.Embedding | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embedding = embedding or keras.layers.Embedding(vocab_size, embedding_dim)
        self.dropout = keras.layers.Dropout(dropout)
        directions = (False, True) if bidirectional else (False,)
        direction_units = units // len(directions)
        self.rnn_layers = [
            [
                ProjectedRNN(
                    cell, direction_units, reverse=reverse, implementation=recurrent_implementation
                )
                for reverse in directions
            ]
            for _ in range(num_layers)
        ]

    def call(self, source_ids, training=None):
        lengths = sequence_lengths(source_ids)
        outputs = self.dropout(self.embedding(source_ids), training=training)
        for directions in self.rnn_layers:
            results = [rnn(outputs, lengths) for rnn in directions]
            outputs = tf.concat([result[0] for result in results], axis=-1)
            state = [
                tf.concat(parts, axis=-1) for parts in zip(*(r[1] for r in results), strict=True)
            ]
        return outputs, state
