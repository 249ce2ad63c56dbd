"""The recurrent encoder-decoder with attention (the tutorial's model, `architecture: rnn`)."""

from __future__ import annotations

import tf_keras as keras

from modules.model.rnn_attention import AttentionMemory
from modules.model.rnn_decoder import Decoder
from modules.model.rnn_encoder import Encoder
from modules.model.translation_model import TranslationModel, require_one_vocabulary
from modules.text import words


class RNNWithAttention(TranslationModel):
    """GRU/LSTM encoder, attention decoder (modules/model/rnn_encoder.py, decoder.py); the
    training steps are `TranslationModel`'s."""

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        *,
        embedding_dim: int,
        units: int,
        attention: str = "bahdanau",
        cell: str = "gru",
        bidirectional: bool = False,
        encoder_layers: int = 1,
        tied_embeddings: bool = False,
        shared_embeddings: bool = False,
        dropout: float = 0.0,
        recurrent_implementation: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        # With tied embeddings and one joint vocabulary, one matrix embeds both languages
        # and gives the logits.
        shared = None
        if tied_embeddings and shared_embeddings:
            require_one_vocabulary(source_vocab_size, target_vocab_size)
            shared = keras.layers.Embedding(target_vocab_size, embedding_dim)
        self.encoder = Encoder(
            source_vocab_size,
            embedding_dim,
            units,
            cell=cell,
            bidirectional=bidirectional,
            num_layers=encoder_layers,
            dropout=dropout,
            recurrent_implementation=recurrent_implementation,
            embedding=shared,
        )
        self.decoder = Decoder(
            target_vocab_size,
            embedding_dim,
            units,
            cell=cell,
            attention=attention,
            dropout=dropout,
            recurrent_implementation=recurrent_implementation,
            tied_output=tied_embeddings,
            embedding=shared,
        )

    def encode(self, source_ids, training=None) -> tuple[AttentionMemory, list]:
        """source_ids [batch, src_len] -> (the decoder's memory of the sentence, with its
        attention keys computed once; the decoder's initial state, each [batch, units])."""
        outputs, state = self.encoder(source_ids, training=training)
        return self.decoder.memory(outputs, source_ids != words.PAD_ID), state
