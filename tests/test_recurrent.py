"""ProjectedRNN computes what Keras' masked GRU/LSTM compute, on the same weights."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from modules.model.recurrent import ProjectedRNN, batch_slices, resolve_implementation
from modules.model.rnn_encoder import Encoder

KERAS_LAYERS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
LENGTHS = np.array([7, 3, 1, 5, 0])


def random_inputs(seed=0):
    """inputs [5, 7, 5] float32 with garbage at the padded positions, mask [5, 7] bool."""
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(len(LENGTHS), 7, 5)).astype("float32")
    return inputs, np.arange(7)[np.newaxis] < LENGTHS[:, np.newaxis]


def twin_layers(cell, reverse, initial_state, slices=1):
    """A Keras layer and a ProjectedRNN holding the same random weights."""
    reference = KERAS_LAYERS[cell](
        6, return_sequences=True, return_state=True, go_backwards=reverse
    )
    inputs, mask = random_inputs()
    reference(inputs, mask=tf.constant(mask), initial_state=initial_state)
    projected = ProjectedRNN(cell, 6, reverse=reverse, slices=slices)
    projected(inputs, LENGTHS, initial_state=initial_state)
    projected.set_weights([w + 0.1 * np.ones_like(w) for w in reference.get_weights()])
    reference.set_weights(projected.get_weights())
    return reference, projected


def keras_outputs_in_input_order(outputs, reverse):
    """A Keras backward layer returns its outputs last time step first; `Bidirectional`
    reverses them back the same way."""
    return tf.reverse(outputs, [1]) if reverse else outputs


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("slices", [1, 3])  # 3: loops over 1, 2 and 2 of the 5 sentences
def test_outputs_states_and_gradients_match_keras_masked_layers(cell, reverse, slices):
    rng = np.random.default_rng(1)
    initial_state = [
        tf.constant(rng.normal(size=(len(LENGTHS), 6)).astype("float32"))
        for _ in range(2 if cell == "lstm" else 1)
    ]
    reference, projected = twin_layers(cell, reverse, initial_state, slices)
    inputs, mask = random_inputs()
    inputs = tf.constant(inputs)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([inputs, *initial_state])
        expected, *expected_state = reference(
            inputs, mask=tf.constant(mask), initial_state=initial_state
        )
        expected = keras_outputs_in_input_order(expected, reverse)
        outputs, state = projected(inputs, LENGTHS, initial_state=initial_state)
        # A loss over the real positions and the final state, as the model's uses them.
        weights = tf.constant(rng.normal(size=(6,)).astype("float32"))
        losses = [
            tf.reduce_sum(tf.boolean_mask(out, mask) * weights) + tf.reduce_sum(s[-1] ** 2)
            for out, s in ((expected, expected_state), (outputs, state))
        ]

    np.testing.assert_allclose(outputs.numpy()[mask], expected.numpy()[mask], atol=1e-5)
    for mine, theirs in zip(state, expected_state, strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-5)
    # A sequence of length 0 keeps its initial state.
    for mine, initial in zip(state, initial_state, strict=True):
        np.testing.assert_array_equal(mine.numpy()[-1], initial.numpy()[-1])
    gradients = [
        tape.gradient(loss, [inputs, *initial_state, *layer.trainable_weights])
        for loss, layer in zip(losses, (reference, projected), strict=True)
    ]
    for theirs, mine in zip(*gradients, strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-4)


def test_padding_after_a_sequence_does_not_change_its_outputs_state_or_gradients():
    layer = ProjectedRNN("gru", 4)
    inputs, _ = random_inputs()
    lengths = np.minimum(LENGTHS, 3)  # the longest ends 4 steps before the padded 7
    padded = np.concatenate([inputs[:, :3], 100 * np.ones_like(inputs[:, 3:])], axis=1)
    results = []
    for given in (inputs[:, :3], padded):
        with tf.GradientTape() as tape:
            outputs, state = layer(given, lengths)
            real = tf.boolean_mask(outputs[:, :3], np.arange(3) < lengths[:, np.newaxis])
            loss = tf.reduce_sum(real**2) + tf.reduce_sum(state[0] ** 2)
        results.append((outputs[:, :3], state[0], *tape.gradient(loss, layer.trainable_weights)))
    for short, long in zip(*results, strict=True):
        np.testing.assert_allclose(long.numpy(), short.numpy(), atol=1e-6)


def test_unknown_cell_and_no_slices_are_refused():
    with pytest.raises(ValueError, match="cell 'rnn' is not one of"):
        ProjectedRNN("rnn", 4)
    with pytest.raises(ValueError, match="slices=0: a batch runs in at least 1 slice"):
        ProjectedRNN("gru", 4, slices=0)


def test_batch_slices_run_side_by_side_on_a_cpu_up_to_512_units():
    on_a_cpu = not tf.config.list_physical_devices("GPU")
    expected = (2, 2, 1) if on_a_cpu else (1, 1, 1)
    assert (batch_slices(256), batch_slices(512), batch_slices(1024)) == expected


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("slices", [1, 2])
def test_an_empty_batch_gives_empty_outputs_states_and_zero_gradients(cell, slices):
    # A worker's share of a distributed batch may be empty.
    layer = ProjectedRNN(cell, 4, slices=slices)
    with tf.GradientTape() as tape:
        outputs, state = layer(tf.zeros([0, 5, 3]), tf.zeros([0], tf.int32))
        loss = tf.reduce_sum(outputs) + sum(tf.reduce_sum(s) for s in state)
    assert outputs.shape == (0, 5, 4)
    assert [s.shape for s in state] == [(0, 4)] * (2 if cell == "lstm" else 1)
    for gradient in tape.gradient(loss, layer.trainable_weights):
        np.testing.assert_array_equal(tf.convert_to_tensor(gradient).numpy(), 0.0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_saved_model_of_the_layer_reloads_and_gives_the_same_outputs(cell, tmp_path):
    """The GRU's gradient function is traced along with the layer: a SavedModel refuses one
    that captures a TensorArray."""
    inputs, _ = random_inputs()
    layer = ProjectedRNN(cell, 6)
    expected, _ = layer(inputs, LENGTHS)
    module = tf.Module()
    module.layer = layer
    module.outputs = tf.function(
        lambda inputs, lengths: layer(inputs, lengths)[0],
        input_signature=[
            tf.TensorSpec([None, None, 5], tf.float32),
            tf.TensorSpec([None], tf.int64),
        ],
    )
    tf.saved_model.save(module, str(tmp_path))
    reloaded = tf.saved_model.load(str(tmp_path))
    np.testing.assert_allclose(reloaded.outputs(inputs, LENGTHS), expected, atol=1e-6)


def _twin_implementations(cell, reverse=False):
    """A packed and a Keras-implementation ProjectedRNN holding the same random weights."""
    inputs, _ = random_inputs()
    packed = ProjectedRNN(cell, 6, reverse=reverse, implementation="packed")
    keras_implementation = ProjectedRNN(cell, 6, reverse=reverse, implementation="keras")
    packed(inputs, LENGTHS)
    keras_implementation(inputs, LENGTHS)
    keras_implementation.set_weights([w + 0.1 for w in packed.get_weights()])
    packed.set_weights(keras_implementation.get_weights())
    return packed, keras_implementation


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("in_graph", [False, True])
def test_the_keras_implementation_gives_the_packed_outputs_states_and_gradients(
    cell, reverse, in_graph
):
    """Keras' functions (cuDNN's on a GPU; their own loop here) against the packed loop,
    on right-padded sentences of 7, 3, 1, 5 and 0 tokens."""
    layers = _twin_implementations(cell, reverse)
    inputs = tf.constant(random_inputs()[0])
    rng = np.random.default_rng(2)
    initial_state = [
        tf.constant(rng.normal(size=(len(LENGTHS), 6)).astype("float32"))
        for _ in range(2 if cell == "lstm" else 1)
    ]
    mask = tf.sequence_mask(LENGTHS, 7, dtype=tf.float32)[..., tf.newaxis]
    output_weights = tf.constant(rng.normal(size=(len(LENGTHS), 7, 6)).astype("float32"))

    def run(layer):
        with tf.GradientTape() as tape:
            tape.watch([inputs, *initial_state])
            outputs, state = layer(inputs, LENGTHS, initial_state=initial_state)
            loss = tf.reduce_sum(outputs * mask * output_weights) + sum(
                tf.reduce_sum(part * (index + 1.5)) for index, part in enumerate(state)
            )
        sources = [inputs, *initial_state, *layer.trainable_weights]
        return outputs * mask, state, tape.gradient(loss, sources)

    if in_graph:
        run = tf.function(run)
    (packed_outputs, packed_state, packed_grads), (outputs, state, grads) = map(run, layers)
    np.testing.assert_allclose(outputs, packed_outputs, atol=1e-6)
    for part, packed_part in zip(state, packed_state, strict=True):
        np.testing.assert_allclose(part, packed_part, atol=1e-6)
    np.testing.assert_allclose(state[0][-1], initial_state[0][-1])  # the empty sentence
    for grad, packed_grad in zip(grads, packed_grads, strict=True):
        np.testing.assert_allclose(
            tf.convert_to_tensor(grad), tf.convert_to_tensor(packed_grad), atol=1e-5
        )


def test_auto_runs_the_packed_loop_without_a_gpu_and_a_bad_name_is_refused():
    assert not tf.config.list_physical_devices("GPU")  # the CI machines have none
    assert resolve_implementation("auto")[0] == "packed"
    assert resolve_implementation("keras") == ("keras", "as configured")
    assert ProjectedRNN("gru", 4).implementation == "packed"
    with pytest.raises(ValueError, match="'cudnn' is not one of"):
        ProjectedRNN("gru", 4, implementation="cudnn")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_stacked_bidirectional_encoder_is_the_same_in_both_implementations(cell):
    source_ids = tf.constant([[5, 6, 7, 8, 2], [9, 3, 0, 0, 0], [4, 0, 0, 0, 0]])
    encoders = [
        Encoder(
            12, 8, 10, cell=cell, bidirectional=True, num_layers=2, recurrent_implementation=name
        )
        for name in ("packed", "keras")
    ]
    for encoder in encoders:
        encoder(source_ids)
    encoders[1].set_weights(encoders[0].get_weights())
    (packed_outputs, packed_state), (outputs, state) = (e(source_ids) for e in encoders)
    mask = tf.cast(source_ids != 0, tf.float32)[..., tf.newaxis]
    np.testing.assert_allclose(outputs * mask, packed_outputs * mask, atol=1e-6)
    for part, packed_part in zip(state, packed_state, strict=True):
        np.testing.assert_allclose(part, packed_part, atol=1e-6)
