"""Real text end to end, both directions: SentencePiece learned by the Transform analyzer,
a model of each architecture that overfits a handful of sentences, exported and reloaded in
a fresh process with only TensorFlow and TF Text, gives them back as written."""

import pytest
import tensorflow as tf

from modules.model.config import ModelConfig
from modules.serving import export
from modules.serving.config import DecodingConfig
from modules.text import transform
from modules.text.config import TransformConfig
from modules.training import trainer
from modules.training.config import TrainingConfig
from tests.helpers import (
    REAL_TEXT_PAIRS,
    synthetic_corpus,
    transform_in_memory,
    transformed_batch,
    translate_in_fresh_process,
)

# The synthetic grammar gives SentencePiece enough text to learn 320 pieces from.
FILLER = [tuple(line.split("\t")[::-1]) for line in synthetic_corpus()]
TEXT_CONFIG = TransformConfig(vocab_size=320, max_source_tokens=32, max_target_tokens=32)


# A small model of each architecture and the learning rate that overfits it.
MODELS = {
    "rnn": (ModelConfig(architecture="rnn", embedding_dim=64, units=128, dropout=0.0), 0.01),
    "transformer": (
        ModelConfig(
            architecture="transformer",
            layers=2,
            model_width=64,
            heads=4,
            feed_forward_width=128,
            dropout=0.0,
        ),
        0.003,
    ),
}


@pytest.mark.parametrize(
    ("direction", "architecture"),
    [("spa-eng", "rnn"), ("eng-spa", "rnn"), ("spa-eng", "transformer")],
)
def test_an_overfitted_model_gives_back_case_apostrophes_accents_and_punctuation(
    tmp_path, direction, architecture
):
    pairs = REAL_TEXT_PAIRS if direction == "spa-eng" else [(t, s) for s, t in REAL_TEXT_PAIRS]
    tft_output = transform_in_memory(pairs + FILLER, TEXT_CONFIG, tmp_path / "transform")
    inputs, target_out = transformed_batch(tft_output, pairs)
    vocab_size = tft_output.vocabulary_size_by_name(transform.TARGET_VOCABULARY)
    assert vocab_size == TEXT_CONFIG.vocab_size

    tf.keras.utils.set_random_seed(1)
    model_config, learning_rate = MODELS[architecture]
    model = trainer.build_model(
        model_config,
        TrainingConfig(learning_rate=learning_rate, precision="float32"),
        vocab_size,
        vocab_size,
        ids_shared=TEXT_CONFIG.ids_shared,
    )
    history = model.fit(inputs, target_out, batch_size=len(pairs), epochs=300, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    export.save(model, tft_output, TEXT_CONFIG, DecodingConfig(), str(tmp_path / "model"))

    output = translate_in_fresh_process(tmp_path / "model", [source for source, _ in pairs])
    assert output["foreign_modules"] == []
    expected = [target for _, target in pairs]
    assert output["translations"]["greedy"] == expected
    assert output["translations"]["beam_search"] == expected


def test_a_text_too_small_for_vocab_size_gives_fewer_pieces_and_still_tokenises(tmp_path):
    tft_output = transform_in_memory(FILLER, TEXT_CONFIG.replace(vocab_size=4000), tmp_path)
    pieces = tft_output.vocabulary_size_by_name(transform.TARGET_VOCABULARY)
    assert TEXT_CONFIG.vocab_size < pieces < 4000
    _, target_out = transformed_batch(tft_output, REAL_TEXT_PAIRS)
    assert 0 < int(tf.reduce_max(target_out)) < pieces


def test_a_corpus_empty_after_filtering_fails_transform_naming_the_data(tmp_path):
    with pytest.raises(Exception, match="empty after filtering"):
        transform_in_memory([("", ""), (" ", "\t")], TEXT_CONFIG, tmp_path)
