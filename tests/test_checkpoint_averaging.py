"""Checkpoint averaging: the element-wise mean of saved weights, and the callback that saves
them during training and keeps their mean only when it evaluates better."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from modules.model.rnn import RNNWithAttention
from modules.training.checkpoint_averaging import (
    CheckpointAveraging,
    average_checkpoints,
    set_trainable_weights,
    trainable_weights,
    weights_checkpoint,
)
from tests.helpers import TOY_VOCAB as VOCAB
from tests.helpers import toy_batch


def toy_model(built: bool = True) -> RNNWithAttention:
    """A compiled toy model; unless `built`, without variables until its first batch (as
    the Trainer's model is when fit begins)."""
    model = RNNWithAttention(VOCAB, VOCAB, embedding_dim=8, units=8)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    if built:
        model(toy_batch()[0])
    return model


def test_the_average_is_the_element_wise_mean_of_the_checkpoints(tmp_path):
    model = toy_model()
    rng = np.random.default_rng(0)
    saved, paths = [], []
    checkpoint = weights_checkpoint(model)
    for _ in range(3):
        weights = [rng.normal(size=w.shape).astype(w.dtype) for w in trainable_weights(model)]
        set_trainable_weights(model, weights)
        saved.append(weights)
        # save(), as CheckpointManager does: with the checkpoint's save counter.
        paths.append(checkpoint.save(str(tmp_path / "ckpt")))

    averaged = average_checkpoints(model, paths)

    assert len(averaged) == len(saved[0]) > 0
    for index, mean in enumerate(averaged):
        expected = (saved[0][index] + saved[1][index] + saved[2][index]) / 3
        assert mean.dtype == saved[0][index].dtype
        np.testing.assert_allclose(mean, expected, rtol=1e-6, atol=1e-7)


def test_a_checkpoint_without_the_weights_is_refused_not_averaged(tmp_path):
    model = toy_model()
    # A checkpoint of model and optimizer (EpochCheckpoint's) holds them at other paths.
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt-other"))

    with pytest.raises(AssertionError):
        average_checkpoints(model, [path])


class HeldWeights(keras.callbacks.Callback):
    """Records the weights the model holds when training ends (where EarlyStopping would
    have restored the best epoch's); with `zeroed`, first replaces them with zeros, a
    model that predicts a uniform distribution."""

    def __init__(self, zeroed: bool):
        super().__init__()
        self.zeroed = zeroed

    def on_train_end(self, logs=None):
        if self.zeroed:
            set_trainable_weights(
                self.model, [np.zeros_like(w) for w in trainable_weights(self.model)]
            )
        self.values = trainable_weights(self.model)


@pytest.mark.parametrize("zeroed", [False, True], ids=["last-weights-held", "zeros-held"])
def test_training_saves_the_newest_checkpoints_and_keeps_the_better_weights(tmp_path, zeroed):
    tf.keras.utils.set_random_seed(5)
    batch = tf.data.Dataset.from_tensors(toy_batch())
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = toy_model(built=False)
    held = HeldWeights(zeroed)
    averaging = CheckpointAveraging(str(tmp_path), count=3, every_steps=4, eval_data=batch)

    model.fit(batch.repeat(), steps_per_epoch=14, callbacks=[held, averaging], verbose=0)

    paths = list(tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths)
    assert [int(path.rsplit("-", 1)[1]) for path in paths] == [4, 8, 12]
    probe = toy_model()
    averaged = average_checkpoints(probe, paths)
    losses = {}
    for name, weights in (("held", held.values), ("average", averaged)):
        set_trainable_weights(probe, weights)
        losses[name] = probe.evaluate(batch, verbose=0, return_dict=True)["loss"]
    # On the batch it trains on, the last weights beat the mean of older ones; zeros do not.
    expected = "average" if zeroed else "held"
    assert min(losses, key=losses.get) == expected
    kept = averaged if zeroed else held.values
    for actual, wanted in zip(trainable_weights(model), kept, strict=True):
        np.testing.assert_array_equal(actual, wanted)
