"""Keras callbacks for the Trainer: per-epoch checkpoints and throughput."""

from __future__ import annotations

import time

import tensorflow as tf
import tf_keras as keras
from absl import logging

from modules import progress


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model and optimizer at the end of every epoch, keeping the newest `keep`."""

    def __init__(self, directory: str, keep: int = 3):
        super().__init__()
        self._directory = directory
        self._keep = keep
        self._manager = None

    def on_epoch_end(self, epoch, logs=None):
        if self._manager is None:
            checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer)
            self._manager = tf.train.CheckpointManager(
                checkpoint, self._directory, max_to_keep=self._keep
            )
        path = self._manager.save(checkpoint_number=epoch + 1)
        logging.info("Saved checkpoint %s", path)


class Throughput(keras.callbacks.Callback):
    """Adds `examples_per_second` and `target_tokens_per_second` to each epoch's logs, read
    from the model's `examples_seen` / `target_tokens_seen` counters, and reports a line
    per epoch with them and the losses (`modules.progress`)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._examples = float(self.model.examples_seen.result())
        self._tokens = float(self.model.target_tokens_seen.result())

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        examples = float(self.model.examples_seen.result()) - self._examples
        tokens = float(self.model.target_tokens_seen.result()) - self._tokens
        logs = logs if logs is not None else {}
        logs["examples_per_second"] = examples / seconds
        logs["target_tokens_per_second"] = tokens / seconds
        losses = "".join(
            f"{label} {logs[key]:.3f}, "
            for key, label in (("loss", "loss"), ("val_loss", "eval loss"))
            if key in logs
        )
        progress.report(
            f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}: {losses}"
            f"{examples:,.0f} examples in {seconds:.1f} s ({examples / seconds:,.0f} "
            f"examples/s, {tokens / seconds:,.0f} target tokens/s)",
            epoch=epoch + 1,
        )
