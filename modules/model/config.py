"""`ModelConfig`: the architecture of the encoder-decoder, its sizes and kinds (modules/model/)."""

from __future__ import annotations

import dataclasses

from modules.settings import ConfigError, Settings, setting

ARCHITECTURES = ("rnn", "transformer")
ATTENTION_KINDS = ("bahdanau", "luong_general", "luong_dot")
CELLS = ("gru", "lstm")
RECURRENT_IMPLEMENTATIONS = ("auto", "packed", "keras")
RNN_FIELDS = (
    "embedding_dim",
    "units",
    "attention",
    "cell",
    "bidirectional",
    "encoder_layers",
    "tied_embeddings",
    "recurrent_implementation",
)
TRANSFORMER_FIELDS = ("layers", "model_width", "heads", "feed_forward_width")


@dataclasses.dataclass(frozen=True)
class ModelConfig(Settings):
    """Which model `modules.model.architectures.build` makes, and its sizes: the rnn
    fields (RNN_FIELDS) or the transformer's (TRANSFORMER_FIELDS), and dropout."""

    architecture: str = setting(
        "rnn",
        "rnn: GRU/LSTM encoder-decoder with attention (the tutorial's; the most BLEU per "
        "training minute on a 2-core CPU, docs/benchmarks.md, 9); transformer: pre-layer-norm "
        "Transformer encoder-decoder",
        ARCHITECTURES,
    )
    embedding_dim: int = setting(128, "rnn: size of the word embeddings")
    units: int = setting(256, "rnn: recurrent units of the encoder and decoder")
    attention: str = setting(
        "bahdanau",
        "rnn: attention over the encoder outputs: additive (Bahdanau) or Luong's",
        ATTENTION_KINDS,
    )
    cell: str = setting("gru", "rnn: recurrent cell of the encoder and the decoder", CELLS)
    bidirectional: bool = setting(
        True,
        "rnn: bidirectional encoder (units split over both); two directions of 128 gave 1.6 "
        "BLEU more than one of 256 in a 12-minute budget (docs/benchmarks.md)",
    )
    encoder_layers: int = setting(1, "rnn: stacked encoder RNN layers")
    tied_embeddings: bool = setting(
        False,
        "rnn: the output layer is the target embeddings, transposed (an attention vector of "
        "embedding_dim), and with one joint vocabulary the encoder reads them too; 3.8 BLEU "
        "less in a 12-minute budget at 1.2x the examples/s (docs/benchmarks.md)",
    )
    recurrent_implementation: str = setting(
        "auto",
        "rnn: how the GRU/LSTM layers run, on the same weights: packed (this project's loop, "
        "the faster on a CPU), keras (Keras' GRU/LSTM: the fused cuDNN kernel on a GPU), auto "
        "(keras where TensorFlow sees a GPU, else packed)",
        RECURRENT_IMPLEMENTATIONS,
    )
    layers: int = setting(3, "transformer: layers of the encoder and of the decoder")
    model_width: int = setting(256, "transformer: width of embeddings and layer outputs")
    heads: int = setting(4, "transformer: attention heads (model_width / heads each)")
    feed_forward_width: int = setting(1024, "transformer: inner width of feed-forward blocks")
    dropout: float = setting(
        0.1, "dropout on embeddings, attention vectors (rnn) or every sublayer (transformer)"
    )

    def validate(self) -> None:
        self.require_at_least(1, ("embedding_dim", "units", "encoder_layers"))
        self.require_at_least(1, ("layers", "model_width", "heads", "feed_forward_width"))
        if self.model_width % self.heads:
            raise ConfigError(
                f"model_width={self.model_width}: must be a multiple of heads={self.heads}"
            )
        if self.bidirectional and self.units % 2:
            raise ConfigError(
                f"units={self.units}: a bidirectional encoder splits units over two "
                "directions, so give an even number"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout}: must be in [0, 1)")

    def architecture_options(self) -> dict:
        """The keyword arguments of the chosen architecture's model class."""
        names = RNN_FIELDS if self.architecture == "rnn" else TRANSFORMER_FIELDS
        return {name: getattr(self, name) for name in (*names, "dropout")}
