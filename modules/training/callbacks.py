"""Keras callbacks for the Trainer: the training clock (budget and learning rate),
per-epoch checkpoints, throughput, and the stop on a diverged loss."""

from __future__ import annotations

import math
import time

import tensorflow as tf
import tf_keras as keras
from absl import logging

from modules.training import progress


class TrainingDivergedError(RuntimeError):
    """The training or eval loss is no longer a finite number: nothing is exported."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises TrainingDivergedError after the first step whose training loss, or the first
    epoch whose eval loss, is NaN or infinite, so that the Trainer fails with what to change
    instead of exporting (and the pipeline pushing) a model that computes NaN. Put it first:
    no later callback then checkpoints or backs up the diverged weights."""

    def __init__(self, learning_rate: float, gradient_clip_norm: float):
        super().__init__()
        self._settings = (
            f"learning_rate={learning_rate:g}, gradient_clip_norm={gradient_clip_norm:g}"
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check((logs or {}).get("loss"), f"the training loss at step {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check((logs or {}).get("val_loss"), "the eval loss at its end")

    def _check(self, loss, what: str) -> None:
        if loss is None or math.isfinite(float(loss)):
            return
        raise TrainingDivergedError(
            f"training diverged: {what} of epoch {self._epoch + 1} is {float(loss)} "
            f"({self._settings}); lower learning_rate or set gradient_clip_norm, and "
            "check the corpus. Nothing was exported."
        )


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


class TrainingClock(keras.callbacks.Callback):
    """The run's progress in [0, 1], agreed by every replica after every step. Once
    `budget_seconds` (0: none) are spent, it stops training between steps or at an
    epoch's end, and, with `decay_fraction` (0: a constant rate), sets the next step's
    learning rate to `base_learning_rate * min(1, (1 - progress) / decay_fraction)`: constant
    until the last `decay_fraction` of the run, then linearly down to 0 (1: over the whole
    run).

    The budget covers the epochs' ends too (each epoch's evaluation, and the callbacks
    before the clock): training stops after the first step from which the longest epoch
    end so far would reach the budget, so that the partial epoch's evaluation ends within
    it (epoch ends vary: 11 to 21 s in one run of the default model).

    progress = max((elapsed + the longest epoch end's duration) / budget, epochs done /
    epochs), never decreasing, where the current epoch counts by its steps once the steps
    per epoch are known (given, or counted in the first epoch). The elapsed time is the mean
    over all replicas (an all-reduce), so that the workers of a MultiWorkerMirroredStrategy
    stop at the same step with the same learning rate; with neither a budget nor annealing
    there is nothing to agree on, and no step pays for it. `now`: seconds on a monotonic
    clock.
    """

    def __init__(
        self,
        budget_seconds: float,
        base_learning_rate: float,
        decay_fraction: float = 0.0,
        now=time.monotonic,
    ):
        super().__init__()
        if not 0.0 <= decay_fraction <= 1.0:
            raise ValueError(f"decay_fraction={decay_fraction}: must be in [0, 1]")
        self.budget_seconds = budget_seconds
        self._base_learning_rate = base_learning_rate
        self._decay_fraction = decay_fraction
        self._now = now
        self.elapsed_seconds = 0.0
        self.epoch_ends_seconds: list[float] = []  # each epoch end's, measured with a budget

    def on_train_begin(self, logs=None):
        strategy = self.model.distribute_strategy

        @tf.function
        def mean_over_replicas(value):
            per_replica = strategy.run(tf.identity, args=(value,))
            return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

        self._mean_over_replicas = mean_over_replicas
        self._start = self._now()
        self._steps_per_epoch = self.params.get("steps")
        self._progress = 0.0
        self._set_learning_rate(0.0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._steps_this_epoch = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps_this_epoch += 1
        if not (self.budget_seconds or self._decay_fraction):
            return
        self._read_clock()
        self._stop_if_spent("stopping after this step")
        self._set_learning_rate(self._advance_progress())

    def on_epoch_end(self, epoch, logs=None):
        self._steps_per_epoch = self._steps_per_epoch or self._steps_this_epoch
        if self.budget_seconds:
            last_step = self.elapsed_seconds
            self._read_clock()
            if self._steps_this_epoch:
                self.epoch_ends_seconds.append(self.elapsed_seconds - last_step)
            # Another epoch's end would not fit in the budget: stop here, not after one
            # more step and one more evaluation.
            self._stop_if_spent("stopping at its end")
        # The next step's rate, now that this epoch's steps are counted and its end timed
        # (the rate is 0 once the budget is spent, whichever of the two spent it).
        self._set_learning_rate(self._advance_progress())
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate.numpy())

    @property
    def epoch_end_seconds(self) -> float:
        """The longest epoch end's duration so far (0 before the first)."""
        return max(self.epoch_ends_seconds, default=0.0)

    def _read_clock(self) -> None:
        """Updates `elapsed_seconds`, agreed by all replicas."""
        self.elapsed_seconds = float(
            self._mean_over_replicas(tf.constant(self._now() - self._start))
        )

    def _stop_if_spent(self, stopping: str) -> None:
        """Stops training once the elapsed time and an epoch end reach the budget, saying
        so once (`stopping`: when)."""
        spent = self.elapsed_seconds + self.epoch_end_seconds
        if not self.budget_seconds or spent < self.budget_seconds or self.model.stop_training:
            return
        progress.report(
            f"Training budget of {self.budget_seconds / 60:g} min spent in epoch "
            f"{self._epoch + 1} ({self.elapsed_seconds / 60:.1f} min used, "
            f"{self.epoch_end_seconds / 60:.1f} kept for an epoch's end): {stopping}"
        )
        self.model.stop_training = True

    def _advance_progress(self) -> float:
        """How much of the run is done, in [0, 1], never less than before (a shorter epoch
        end than the last one would otherwise move it back)."""
        this_epoch = (
            self._steps_this_epoch / self._steps_per_epoch if self._steps_per_epoch else 0.0
        )
        done = [(self._epoch + this_epoch) / self.params["epochs"], self._progress]
        if self.budget_seconds:
            done.append((self.elapsed_seconds + self.epoch_end_seconds) / self.budget_seconds)
        self._progress = min(max(done), 1.0)
        return self._progress

    def _set_learning_rate(self, progress_done: float) -> None:
        if self._decay_fraction:
            share_left = min((1.0 - progress_done) / self._decay_fraction, 1.0)
            self.model.optimizer.learning_rate.assign(self._base_learning_rate * share_left)


class Throughput(keras.callbacks.Callback):
    """Adds `examples_per_second` and `target_tokens_per_second` to each epoch's logs, read
    from the model's `examples_seen` / `target_tokens_seen` counters, and reports a line
    per epoch with them, the losses and, with a `clock` that has a budget, the time used
    and left (`modules.training.progress`)."""

    def __init__(self, clock: TrainingClock | None = None):
        super().__init__()
        self._clock = clock

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
            f"examples/s, {tokens / seconds:,.0f} target tokens/s){self._time_left()}",
            epoch=epoch + 1,
        )

    def _time_left(self) -> str:
        if self._clock is None or not self._clock.budget_seconds:
            return ""
        used = self._clock.elapsed_seconds
        left = max(self._clock.budget_seconds - used, 0.0)
        budget = self._clock.budget_seconds / 60
        end = (
            f" (its end, the evaluation and backup, {self._clock.epoch_ends_seconds[-1]:.0f} s)"
            if self._clock.epoch_ends_seconds
            else ""
        )
        return f"{end}; {used / 60:.1f} of {budget:g} min used, {left / 60:.1f} min left"
