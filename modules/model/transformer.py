"""The Transformer encoder-decoder (`architecture: transformer`)."""

from __future__ import annotations

import tensorflow as tf

from modules.model.transformer_decoder import TransformerDecoder, TransformerMemory
from modules.model.transformer_encoder import TransformerEncoder
from modules.model.transformer_layers import TokenEmbedding
from modules.model.translation_model import TranslationModel, require_one_vocabulary
from modules.text import words


class Transformer(TranslationModel):
    """Pre-layer-norm Transformer (modules/model/transformer_*.py) with tied target
    embeddings and, with `shared_embeddings` (one joint vocabulary), one embedding matrix
    for both languages; the training steps are `TranslationModel`'s."""

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        *,
        layers: int,
        model_width: int,
        heads: int,
        feed_forward_width: int,
        dropout: float = 0.0,
        shared_embeddings: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if shared_embeddings:
            require_one_vocabulary(source_vocab_size, target_vocab_size)
        sizes = {
            "layers": layers,
            "width": model_width,
            "heads": heads,
            "feed_forward_width": feed_forward_width,
            "dropout": dropout,
        }
        target_embedding = TokenEmbedding(target_vocab_size, model_width, name="target_embedding")
        source_embedding = (
            target_embedding
            if shared_embeddings
            else TokenEmbedding(source_vocab_size, model_width, name="source_embedding")
        )
        self.encoder = TransformerEncoder(source_embedding, **sizes)
        self.decoder = TransformerDecoder(target_embedding, **sizes)

    def encode(self, source_ids, training=None) -> tuple[TransformerMemory, list]:
        """source_ids [batch, src_len] -> (each decoder layer's cross-attention keys and
        values, computed once; the empty self-attention cache)."""
        source_mask = source_ids != words.PAD_ID
        outputs = self.encoder(source_ids, source_mask, training=training)
        return self.decoder.memory(outputs, source_mask), self.decoder.initial_state(
            tf.shape(source_ids)[0]
        )
