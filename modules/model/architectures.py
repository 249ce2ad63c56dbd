"""The model a `ModelConfig` names: the RNN with attention or the Transformer."""

from __future__ import annotations

from modules.model.config import ModelConfig
from modules.model.rnn import RNNWithAttention
from modules.model.transformer import Transformer
from modules.model.translation_model import TranslationModel


def build(
    config: ModelConfig,
    source_vocab_size: int,
    target_vocab_size: int,
    *,
    ids_shared: bool = False,
) -> TranslationModel:
    """The untrained model; `ids_shared`: source and target ids name the same pieces, so
    the Transformer (and the RNN with tied embeddings) shares one embedding matrix
    between them."""
    options = config.architecture_options()
    if config.architecture == "transformer":
        return Transformer(
            source_vocab_size, target_vocab_size, shared_embeddings=ids_shared, **options
        )
    return RNNWithAttention(
        source_vocab_size, target_vocab_size, shared_embeddings=ids_shared, **options
    )
