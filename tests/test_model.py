"""The model learns: it overfits one small batch and greedy decoding reproduces it."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from modules.model.config import ModelConfig
from modules.model.losses import smoothed_token_losses
from modules.model.rnn import RNNWithAttention
from modules.serving import decoding
from modules.text import words
from modules.training import trainer
from modules.training.config import TrainingConfig
from tests.helpers import TOY_VOCAB as VOCAB
from tests.helpers import fit_until_memorised, greedy_words, toy_batch

SMALL_RNN = ModelConfig(architecture="rnn", embedding_dim=16, units=32, dropout=0.0)


@pytest.mark.parametrize(
    "options",
    [
        {"attention": "bahdanau"},
        {"attention": "luong_general", "cell": "lstm"},
        {"attention": "luong_dot", "bidirectional": True, "encoder_layers": 2},
        {"tied_embeddings": True, "shared_embeddings": True, "bidirectional": True},
    ],
)
def test_overfits_one_batch_and_greedy_decoding_reproduces_the_targets(options):
    tf.keras.utils.set_random_seed(1)
    inputs, target_out = toy_batch()
    model = RNNWithAttention(VOCAB, VOCAB, embedding_dim=16, units=32, **options)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = fit_until_memorised(model, inputs, target_out)
    assert history["loss"][0] > 2.0
    assert history["loss"][-1] < 0.05
    assert history["accuracy"][-1] == 1.0


def test_tied_embeddings_are_one_matrix_that_embeds_both_languages_and_makes_the_logits():
    tf.keras.utils.set_random_seed(3)
    inputs, _ = toy_batch()
    model = RNNWithAttention(
        VOCAB, VOCAB, embedding_dim=16, units=32, tied_embeddings=True, shared_embeddings=True
    )
    model(inputs)
    (matrix,) = [weight for weight in model.weights if weight.shape == (VOCAB, 16)]
    assert model.encoder.embedding is model.decoder.embedding
    vectors = tf.random.normal([3, 16])
    output = model.decoder.output_layer
    expected = tf.matmul(vectors, matrix, transpose_b=True) + output.bias
    np.testing.assert_allclose(output(vectors).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    # Without one joint vocabulary only the decoder's output is tied to its embeddings.
    separate = RNNWithAttention(VOCAB, VOCAB, embedding_dim=16, units=32, tied_embeddings=True)
    separate(inputs)
    assert len([weight for weight in separate.weights if weight.shape == (VOCAB, 16)]) == 2
    with pytest.raises(ValueError, match="one vocabulary: 30 source and 31 target ids"):
        RNNWithAttention(
            30, 31, embedding_dim=16, units=32, tied_embeddings=True, shared_embeddings=True
        )


def test_loss_ignores_padding():
    tf.keras.utils.set_random_seed(2)
    inputs, target_out = toy_batch(batch=4)
    model = RNNWithAttention(VOCAB, VOCAB, embedding_dim=8, units=8)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    padded = {k: np.pad(v, [(0, 0), (0, 5)]) for k, v in inputs.items()}
    loss = model.evaluate(inputs, target_out, verbose=0)[0]
    padded_loss = model.evaluate(padded, np.pad(target_out, [(0, 0), (0, 5)]), verbose=0)[0]
    assert padded_loss == pytest.approx(loss, rel=1e-5)


def test_training_logits_are_the_full_logits_at_the_real_target_tokens():
    tf.keras.utils.set_random_seed(4)
    inputs, target_out = toy_batch()
    model = RNNWithAttention(VOCAB, VOCAB, embedding_dim=8, units=8)
    targets, logits = model.targets_and_logits(inputs, target_out, training=False)
    real = target_out != words.PAD_ID
    np.testing.assert_array_equal(targets.numpy(), target_out[real])
    np.testing.assert_allclose(logits.numpy(), model(inputs).numpy()[real], atol=1e-5)


def mixed_precision_model(precision: str, model_config: ModelConfig = SMALL_RNN):
    """A small RNN compiled in `precision`, seeded, on one joint vocabulary."""
    tf.keras.utils.set_random_seed(1)
    training = TrainingConfig(learning_rate=0.02, precision=precision)
    return trainer.build_model(model_config, training, VOCAB, VOCAB, ids_shared=True)


@pytest.mark.parametrize(
    ("precision", "compute_dtype"), [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")]
)
def test_a_mixed_precision_model_keeps_float32_weights_and_overfits_one_batch(
    precision, compute_dtype
):
    inputs, target_out = toy_batch()
    model = mixed_precision_model(precision)
    # Only float16's narrow range needs the loss scaled.
    scaled = isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")
    history = fit_until_memorised(model, inputs, target_out)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert model.decoder.output_layer.compute_dtype == compute_dtype
    assert {weight.dtype for weight in model.weights} == {tf.float32}
    assert history["loss"][-1] < 0.1


def searched(model, source_ids, search) -> tuple[np.ndarray, np.ndarray]:
    """(token ids [batch, steps], scores [batch]) of `search` by `model`."""
    memory, state = model.encode(tf.constant(source_ids))
    max_lengths = tf.fill([source_ids.shape[0]], 12)
    hyps = decoding.decode(model.decoder.step, memory, memory.mask, state, max_lengths, search)
    return hyps.token_ids.numpy(), hyps.scores.numpy()


@pytest.mark.parametrize(
    ("precision", "compute_dtype", "model_config"),
    [
        ("mixed_bfloat16", tf.bfloat16, SMALL_RNN),
        ("mixed_float16", tf.float16, SMALL_RNN),
        ("mixed_bfloat16", tf.bfloat16, dataclasses.replace(SMALL_RNN, tied_embeddings=True)),
    ],
    ids=["bfloat16", "float16", "bfloat16 tied"],
)
def test_the_serving_copy_of_a_mixed_model_stores_16_bit_weights_and_computes_the_same(
    precision, compute_dtype, model_config
):
    inputs, target_out = toy_batch()
    model = mixed_precision_model(precision, model_config)
    model.fit(inputs, target_out, batch_size=8, epochs=30, verbose=0)
    copy = trainer.serving_model(model, model_config, VOCAB, VOCAB, ids_shared=True)
    assert {weight.dtype for weight in copy.weights} == {compute_dtype}
    assert {weight.dtype for weight in model.weights} == {tf.float32}
    for stored, trained in zip(copy.weights, model.weights, strict=True):
        np.testing.assert_array_equal(stored.numpy(), tf.cast(trained, compute_dtype).numpy())
    source = inputs["source_ids"]
    for search in (decoding.Greedy(), decoding.BeamSearch(width=3)):
        expected_ids, expected_scores = searched(model, source, search)
        ids, scores = searched(copy, source, search)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_array_equal(scores, expected_scores)
    # And teacher-forced logits, bit for bit.
    np.testing.assert_array_equal(
        copy(inputs, training=False).numpy(), model(inputs, training=False).numpy()
    )


def test_a_float32_model_and_a_transformer_are_exported_as_trained():
    tf.keras.utils.set_random_seed(1)
    float32_model = mixed_precision_model("float32")
    assert trainer.serving_model(float32_model, SMALL_RNN, VOCAB, VOCAB) is float32_model
    tiny_transformer = ModelConfig(
        architecture="transformer", layers=1, model_width=16, heads=2, feed_forward_width=32
    )
    transformer = trainer.build_model(
        tiny_transformer, TrainingConfig(precision="mixed_bfloat16"), VOCAB, VOCAB
    )
    # Its LayerNormalization computes in float32 under a mixed policy, in bfloat16 in a copy.
    assert trainer.serving_model(transformer, tiny_transformer, VOCAB, VOCAB) is transformer


def test_a_float16_step_whose_gradients_overflow_is_skipped_and_the_scale_comes_down():
    inputs, target_out = toy_batch()
    model = mixed_precision_model("mixed_float16")
    model.train_on_batch(inputs, target_out)  # builds the weights and the optimizer's slots
    # The scaled gradients overflow float16 (and float32) at this scale.
    model.optimizer._loss_scale.current_loss_scale.assign(2.0**40)
    before = [weight.numpy() for weight in model.trainable_weights]
    model.train_on_batch(inputs, target_out)
    assert float(model.optimizer.loss_scale) == 2.0**39
    for weight, old in zip(model.trainable_weights, before, strict=True):
        np.testing.assert_array_equal(weight.numpy(), old)
    # Each overflowing step halves the scale, until the gradients fit and a step applies.
    for _ in range(60):
        model.train_on_batch(inputs, target_out)
        if any(
            not np.array_equal(weight.numpy(), old)
            for weight, old in zip(model.trainable_weights, before, strict=True)
        ):
            break
    else:
        pytest.fail("no step applied after 60 halvings of the loss scale")
    assert float(model.optimizer.loss_scale) < 2.0**39


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.3])
def test_label_smoothed_objective_is_keras_smoothed_cross_entropy(label_smoothing):
    rng = np.random.default_rng(5)
    logits = tf.constant(rng.normal(size=(9, VOCAB)) * 3, tf.float32)
    targets = tf.constant(rng.integers(0, VOCAB, size=9))
    objective, cross_entropy = smoothed_token_losses(targets, logits, label_smoothing)
    expected = keras.losses.categorical_crossentropy(
        tf.one_hot(targets, VOCAB), logits, from_logits=True, label_smoothing=label_smoothing
    )
    np.testing.assert_allclose(objective.numpy(), expected.numpy(), rtol=1e-5)
    plain = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    np.testing.assert_allclose(cross_entropy.numpy(), plain.numpy(), rtol=1e-5)


def test_overfits_one_batch_with_label_smoothing_and_gradient_clipping():
    tf.keras.utils.set_random_seed(1)
    inputs, target_out = toy_batch()
    model = trainer.build_model(
        ModelConfig(architecture="rnn", embedding_dim=16, units=32, dropout=0.0),
        TrainingConfig(
            learning_rate=0.02, label_smoothing=0.1, gradient_clip_norm=1.0, precision="float32"
        ),
        VOCAB,
        VOCAB,
    )
    assert model.optimizer.global_clipnorm == 1.0
    history = fit_until_memorised(model, inputs, target_out)
    # `loss` is the plain cross-entropy: smoothing keeps it from reaching 0.
    assert 0.05 < history["loss"][-1] < 0.5
    assert history["accuracy"][-1] == 1.0


def test_a_model_trained_in_one_implementation_translates_identically_in_the_other(tmp_path):
    """Trained with the packed loop; its checkpoint loaded into a Keras-implementation twin
    gives the same greedy translations, also from a SavedModel; and five training steps of
    each from the same start end at the same weights."""
    inputs, target_out = toy_batch(seed=3, batch=8)

    def model(implementation):
        built = RNNWithAttention(
            VOCAB,
            VOCAB,
            embedding_dim=16,
            units=32,
            bidirectional=True,
            recurrent_implementation=implementation,
        )
        built(inputs)
        return built

    keras.utils.set_random_seed(0)
    trained = model("packed")
    trained.compile(optimizer=keras.optimizers.Adam(0.02))
    trained.fit(inputs, target_out, batch_size=8, epochs=40, verbose=0)
    tf.train.Checkpoint(model=trained).write(str(tmp_path / "ckpt"))
    twin = model("keras")
    restored = tf.train.Checkpoint(model=twin).read(str(tmp_path / "ckpt"))
    restored.expect_partial().assert_existing_objects_matched()  # all but the optimizer
    translations = greedy_words(trained, inputs["source_ids"])
    assert greedy_words(twin, inputs["source_ids"]) == translations
    assert sum(map(len, translations)) > 0

    def real_keys(model, ids):  # the attention keys at the real tokens ([batch, len, units])
        memory = model.encode(ids)[0]
        return memory.keys * tf.cast(memory.mask, tf.float32)[..., tf.newaxis]

    module = tf.Module()
    module.model = twin
    module.keys = tf.function(
        lambda ids: real_keys(twin, ids), input_signature=[tf.TensorSpec([None, None], tf.int32)]
    )
    tf.saved_model.save(module, str(tmp_path / "saved"))
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(
        reloaded.keys(inputs["source_ids"]), real_keys(trained, inputs["source_ids"]), atol=1e-5
    )

    start = trained.get_weights()
    stepped = []
    for implementation in ("packed", "keras"):
        fresh = model(implementation)
        fresh.set_weights(start)
        fresh.compile(optimizer=keras.optimizers.Adam(0.01))
        fresh.fit(inputs, target_out, batch_size=8, epochs=5, verbose=0, shuffle=False)
        stepped.append(fresh.get_weights())
    for packed_weight, keras_weight in zip(*stepped, strict=True):
        np.testing.assert_allclose(keras_weight, packed_weight, atol=1e-4)
