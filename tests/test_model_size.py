"""The model's size from its settings (modules/model/size.py) matches the weights Keras
builds, and a model too large for this machine is refused before anything runs."""

import pytest
import tensorflow as tf

from modules.model import architectures, size
from modules.model.config import ModelConfig
from pipeline import local_runner
from pipeline.config import ConfigError, PipelineConfig


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"bidirectional": True, "units": 64},
        {"cell": "lstm", "encoder_layers": 2, "units": 48},
        {"attention": "luong_dot"},
        {"attention": "luong_general", "cell": "lstm"},
        {"architecture": "transformer", "layers": 2, "model_width": 64, "heads": 2},
        {"tied_embeddings": True},
        {"tied_embeddings": True, "ids_shared": True},
    ],
)
def test_the_parameter_count_is_that_of_the_built_model(changes):
    ids_shared = changes.pop("ids_shared", False)
    config = ModelConfig(**changes)
    vocab = (300, 300 if ids_shared else 200)
    model = architectures.build(config, *vocab, ids_shared=ids_shared)
    model({"source_ids": tf.constant([[5, 6, 2]]), "target_in": tf.constant([[1, 7, 8]])})
    estimate = size.parameter_count(config, *vocab, ids_shared=ids_shared)
    assert estimate == pytest.approx(model.count_params(), 0.01)


def test_a_model_too_large_for_the_machine_is_refused_naming_its_sizes(tmp_path):
    fits = PipelineConfig.with_fields(output_root=str(tmp_path / "o"))
    local_runner.preflight(fits)
    too_large = fits.replace(units=100000)
    with pytest.raises(ConfigError) as refused:
        local_runner.preflight(too_large)
    message = str(refused.value)
    assert message.startswith("the model is too large for this machine: units=100000, ")
    assert f"{local_runner.memory_bytes() / 2**30:,.1f} GiB" in message
    assert "lower units, embedding_dim, vocab_size or batch_size" in message
