"""Encoder: source word ids -> contextual vectors and a summary state."""

import tf_keras as keras

from modules import text
from modules.model.config import CELLS


def recurrent_layer(cell: str, units: int, **kwargs) -> keras.layers.Layer:
    """A GRU or LSTM layer that returns its whole sequence and its final state."""
    layer_class = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}.get(cell)
    if layer_class is None:
        raise ValueError(f"cell {cell!r} is not one of {CELLS}")
    return layer_class(
        units,
        return_sequences=True,
        return_state=True,
        recurrent_initializer="glorot_uniform",
        **kwargs,
    )


class Encoder(keras.layers.Layer):
    """Embedding + stacked (optionally bidirectional) GRU/LSTM.

    call(source_ids [batch, src_len]) -> (outputs [batch, src_len, units], state), where
    state is `[h]` for a GRU and `[h, c]` for an LSTM, each `[batch, units]`: the final
    state of the last layer, ready to initialise the decoder. A bidirectional layer runs
    `units / 2` per direction and concatenates them.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)
        self.dropout = keras.layers.Dropout(dropout)
        direction_units = units // 2 if bidirectional else units
        self.rnns = []
        for _ in range(num_layers):
            rnn = recurrent_layer(cell, direction_units)
            self.rnns.append(keras.layers.Bidirectional(rnn) if bidirectional else rnn)
        self.bidirectional = bidirectional

    def call(self, source_ids, training=None):
        mask = source_ids != text.PAD_ID
        outputs = self.dropout(self.embedding(source_ids), training=training)
        for rnn in self.rnns:
            outputs, *state = rnn(outputs, mask=mask, training=training)
        if self.bidirectional:
            # [h_fw, (c_fw,) h_bw, (c_bw)] -> [[h_fw; h_bw], ([c_fw; c_bw])]
            half = len(state) // 2
            state = [
                keras.layers.concatenate([forward, backward])
                for forward, backward in zip(state[:half], state[half:], strict=True)
            ]
        return outputs, state
