"""The hand-written gradients of the step's largest tensors equal what autodiff gives
through TensorFlow's and Keras' own ops, and the fused Adam makes Keras' Adam updates
(on random inputs)."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from modules.model.losses import sparse_cross_entropy
from modules.model.rnn_attention import AdditiveAttention
from modules.training.fused_adam import FusedAdam


@pytest.mark.parametrize("logit_scale", [1.0, 30.0, 300.0])
def test_sparse_cross_entropy_is_tensorflows_with_the_same_gradient(logit_scale):
    rng = np.random.default_rng(3)
    logits = tf.constant(rng.normal(size=(37, 50)) * logit_scale, tf.float32)
    targets = tf.constant(rng.integers(0, 50, size=37))
    weights = tf.constant(rng.normal(size=37), tf.float32)  # an arbitrary upstream gradient
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        mine = sparse_cross_entropy(targets, logits)
        reference = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
        mine_total, reference_total = (tf.reduce_sum(weights * x) for x in (mine, reference))
    np.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(
        tape.gradient(mine_total, logits).numpy(),
        tape.gradient(reference_total, logits).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_sparse_cross_entropy_of_no_tokens_is_empty_with_an_empty_gradient():
    """A worker's share of a batch may hold no target tokens."""
    logits = tf.zeros([0, 5])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        empty = sparse_cross_entropy(tf.zeros([0], tf.int64), logits)
        total = tf.reduce_sum(empty)
    assert empty.shape == (0,)
    assert tape.gradient(total, logits).shape == (0, 5)


def test_additive_attention_is_keras_with_the_same_gradients():
    rng = np.random.default_rng(4)
    query, value, key = (
        tf.constant(rng.normal(size=(3, length, 8)), tf.float32) for length in (4, 6, 6)
    )
    value_mask = tf.constant(np.arange(6)[np.newaxis] < np.array([[6], [2], [1]]))
    mine, reference = AdditiveAttention(), keras.layers.AdditiveAttention()
    inputs = [query, value, key]
    for layer in (mine, reference):
        layer(inputs, mask=[None, value_mask])
    reference.set_weights([rng.normal(size=8).astype("float32")])
    mine.set_weights(reference.get_weights())
    upstream = [tf.constant(rng.normal(size=shape), tf.float32) for shape in [(3, 4, 8), (3, 4, 6)]]

    def outputs_and_gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, mask=[None, value_mask], return_attention_scores=True)
            total = sum(tf.reduce_sum(o * u) for o, u in zip(outputs, upstream, strict=True))
        return outputs, tape.gradient(total, [*inputs, layer.scale])

    (mine_outputs, mine_gradients), (reference_outputs, reference_gradients) = (
        outputs_and_gradients(layer) for layer in (mine, reference)
    )
    for got, expected in zip(
        [*mine_outputs, *mine_gradients], [*reference_outputs, *reference_gradients], strict=True
    ):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("global_clipnorm", [None, 0.5])
def test_fused_adam_makes_kerass_adam_updates(global_clipnorm):
    rng = np.random.default_rng(6)
    start = [rng.normal(size=shape).astype("float32") for shape in [(7, 3), (3,), (5, 2)]]
    gradients = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(4)]

    def trained(optimizer):
        weights = [tf.Variable(w) for w in start]
        for step_gradients in gradients:
            # The last variable gets a sparse gradient (an embedding's): Keras' own path.
            step = [tf.constant(g) for g in step_gradients[:-1]]
            step.append(tf.IndexedSlices(tf.constant(step_gradients[-1][:2]), tf.constant([4, 1])))
            optimizer.apply_gradients(zip(step, weights, strict=True))
        return [w.numpy() for w in [*weights, *optimizer.variables]]

    arguments = {"learning_rate": 0.01, "global_clipnorm": global_clipnorm}
    fused = trained(FusedAdam(**arguments))
    reference = trained(keras.optimizers.Adam(**arguments))
    assert len(fused) == len(reference) == 1 + 3 + 2 * 3  # weights, iterations, m and v
    for got, expected in zip(fused, reference, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)  # rounding order
    assert not np.allclose(fused[0], start[0])
