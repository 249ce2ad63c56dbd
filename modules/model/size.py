"""How large a model of a `ModelConfig` is, and what training it needs in memory, computed
from the sizes alone (no TensorFlow), so that an impossible size is refused before a run
(pipeline/local_runner.py) instead of ending in an out-of-memory error."""

from __future__ import annotations

from modules.model.config import ModelConfig

# float32 weights, their gradients and Adam's two moments.
_TRAINING_BYTES_PER_PARAMETER = 16
# A float32 activation is kept for the backward pass and meets its gradient there.
_BYTES_PER_ACTIVATION = 3 * 4
_GATES = {"gru": 3, "lstm": 4}


def _rnn_layer(cell: str, inputs: int, units: int) -> int:
    """A GRU (reset_after: two bias rows) or LSTM layer's weights."""
    gates = _GATES[cell]
    biases = 2 * gates * units if cell == "gru" else gates * units
    return gates * (inputs + units) * units + biases


def parameter_count(
    config: ModelConfig, source_vocab: int, target_vocab: int, *, ids_shared: bool = False
) -> int:
    """About how many weights `modules.model.architectures.build` makes for `config`
    (`ids_shared` as it takes it)."""
    if config.architecture == "transformer":
        width, inner, layers = config.model_width, config.feed_forward_width, config.layers
        feed_forward = 2 * width * inner + inner + width
        attention = 4 * width * width + 4 * width
        norms = 2 * width
        encoder = layers * (attention + feed_forward + 2 * norms)
        decoder = layers * (2 * attention + feed_forward + 3 * norms)
        embeddings = (source_vocab + target_vocab) * width  # the output layer is tied
        return encoder + decoder + embeddings + target_vocab
    units, embedding = config.units, config.embedding_dim
    directions = 2 if config.bidirectional else 1
    per_direction = units // directions
    encoder = 0
    for layer in range(config.encoder_layers):
        inputs = embedding if layer == 0 else units
        encoder += directions * _rnn_layer(config.cell, inputs, per_direction)
    attention = {"bahdanau": 2 * units * units + units, "luong_general": units * units}.get(
        config.attention, 0
    )
    decoder = _rnn_layer(config.cell, embedding, units) + attention
    if not config.tied_embeddings:
        decoder += 2 * units * units + units * target_vocab  # attention vector, output layer
        embeddings = (source_vocab + target_vocab) * embedding
    else:  # the output layer is the target embeddings; with ids_shared, the source's too
        decoder += 2 * units * embedding
        embeddings = (target_vocab if ids_shared else source_vocab + target_vocab) * embedding
    return embeddings + encoder + decoder + target_vocab


def training_bytes(
    config: ModelConfig, source_vocab: int, target_vocab: int, sentences: int, tokens: int
) -> int:
    """About the memory that training needs: the weights' share (parameter_count) and the
    largest activations of a batch of `sentences` of up to `tokens` tokens each (the
    logits; the additive attention's [batch, target, source, units] tanh)."""
    weights = _TRAINING_BYTES_PER_PARAMETER * parameter_count(config, source_vocab, target_vocab)
    width = config.model_width if config.architecture == "transformer" else config.units
    positions = sentences * tokens
    activations = positions * (target_vocab + 4 * width)
    if config.architecture == "rnn" and config.attention == "bahdanau":
        activations += positions * tokens * width
    return weights + _BYTES_PER_ACTIVATION * activations
