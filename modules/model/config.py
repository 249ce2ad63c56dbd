"""`ModelConfig`: the sizes and kinds of the attention encoder-decoder (modules/model/)."""

from __future__ import annotations

import dataclasses

from modules.settings import ConfigError, Settings, setting

ATTENTION_KINDS = ("bahdanau", "luong_general", "luong_dot")
CELLS = ("gru", "lstm")


@dataclasses.dataclass(frozen=True)
class ModelConfig(Settings):
    """Keyword arguments of `Seq2Seq` (`Seq2Seq(source_vocab, target_vocab, **to_dict())`)."""

    embedding_dim: int = setting(128, "size of the word embeddings")
    units: int = setting(256, "recurrent units of the encoder and decoder")
    attention: str = setting(
        "bahdanau",
        "attention over the encoder outputs: additive (Bahdanau) or Luong's",
        ATTENTION_KINDS,
    )
    cell: str = setting("gru", "recurrent cell of the encoder and the decoder", CELLS)
    bidirectional: bool = setting(False, "bidirectional encoder (units split over both)")
    encoder_layers: int = setting(1, "stacked encoder RNN layers")
    dropout: float = setting(0.1, "dropout on embeddings and attention vectors, in [0, 1)")

    def validate(self) -> None:
        self.require_at_least(1, ("embedding_dim", "units", "encoder_layers"))
        if self.bidirectional and self.units % 2:
            raise ConfigError(
                f"units={self.units}: a bidirectional encoder splits units over two "
                "directions, so give an even number"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout}: must be in [0, 1)")
