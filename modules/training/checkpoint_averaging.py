"""Checkpoint averaging (OpenNMT-tf's `average_checkpoints`): the model's weights saved every
`every_steps` steps, and their element-wise mean exported when it has the lower eval loss."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl import logging

from modules.training import progress


def trainable_weights(model: keras.Model) -> list[np.ndarray]:
    """The values of the model's trainable variables (not its metrics' counters)."""
    return [variable.numpy() for variable in model.trainable_variables]


def set_trainable_weights(model: keras.Model, weights: list[np.ndarray]) -> None:
    for variable, value in zip(model.trainable_variables, weights, strict=True):
        variable.assign(value)


def weights_checkpoint(model: keras.Model) -> tf.train.Checkpoint:
    """A checkpoint of the model's trainable variables only: a third of one with the
    optimizer's moments too (19 against 58 MB for the default RNN)."""
    return tf.train.Checkpoint(trainable_weights=model.trainable_variables)


def average_checkpoints(model: keras.Model, paths: list[str]) -> list[np.ndarray]:
    """The element-wise mean of `trainable_weights(model)` over the checkpoints at `paths`
    (each written by `weights_checkpoint(model)`), summed in float64. Leaves `model`
    holding the last checkpoint's weights."""
    checkpoint = weights_checkpoint(model)
    total = None
    for path in paths:
        checkpoint.restore(path).assert_existing_objects_matched()
        weights = [np.asarray(w, np.float64) for w in trainable_weights(model)]
        total = weights if total is None else [t + w for t, w in zip(total, weights, strict=True)]
    dtypes = [variable.dtype.as_numpy_dtype for variable in model.trainable_variables]
    return [(t / len(paths)).astype(dtype) for t, dtype in zip(total, dtypes, strict=True)]


class CheckpointAveraging(keras.callbacks.Callback):
    """Saves the model's trainable weights to `directory` every `every_steps` training
    steps, keeping the newest `count`. At the end of training (after EarlyStopping has
    restored the best epoch's weights) it evaluates their mean on `eval_data` and keeps it
    only when its eval loss is lower than that of the weights the model holds."""

    def __init__(self, directory: str, count: int, every_steps: int, eval_data: tf.data.Dataset):
        super().__init__()
        self._directory = directory
        self._count = count
        self._every_steps = every_steps
        self._eval_data = eval_data

    def on_train_begin(self, logs=None):
        self._checkpoints = None
        self._step = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self._every_steps == 0:
            self._manager().save(checkpoint_number=self._step)

    def on_train_end(self, logs=None):
        if not self.model.trainable_variables:
            logging.info("Checkpoint averaging skipped: the model has no weights")
            return
        paths = self._manager().checkpoints
        if len(paths) < 2:
            logging.info("Checkpoint averaging skipped: %d checkpoint(s) saved", len(paths))
            return
        held = trainable_weights(self.model)
        held_loss = self._eval_loss()
        set_trainable_weights(self.model, average_checkpoints(self.model, paths))
        averaged_loss = self._eval_loss()
        steps = f"steps {paths[0].rsplit('-', 1)[1]}-{paths[-1].rsplit('-', 1)[1]}"
        keep = averaged_loss < held_loss
        if not keep:
            set_trainable_weights(self.model, held)
        progress.report(
            f"Average of the last {len(paths)} checkpoints ({steps}): eval loss "
            f"{averaged_loss:.3f} against {held_loss:.3f} for the best epoch's weights; "
            f"keeping {'the average' if keep else 'the best epoch'}"
        )

    def _manager(self) -> tf.train.CheckpointManager:
        """The checkpoints, made once the model has its variables (after its first step):
        reopening the directory keeps those of a run resumed after a kill."""
        if self._checkpoints is None:
            self._checkpoints = tf.train.CheckpointManager(
                weights_checkpoint(self.model), self._directory, max_to_keep=self._count
            )
        return self._checkpoints

    def _eval_loss(self) -> float:
        return float(self.model.evaluate(self._eval_data, verbose=0, return_dict=True)["loss"])
