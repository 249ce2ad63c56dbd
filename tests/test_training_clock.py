"""The training clock: a time budget stops training between steps, and the learning rate
anneals over the budget or the epochs (or their last share)."""

import time

import pytest
import tensorflow as tf
import tf_keras as keras

from modules.model.rnn import RNNWithAttention
from modules.training.callbacks import TrainingClock
from tests.helpers import TOY_VOCAB as VOCAB
from tests.helpers import toy_batch

BASE_RATE = 0.01


class SlowEpochEnd(keras.callbacks.Callback):
    """Stands for an epoch's slow evaluation: sleeps at each epoch's end."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds)


class FakeTime:
    """A monotonic clock that the `Elapse` callback moves: `TrainingClock(now=...)`."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self):
        return self.seconds


class Elapse(keras.callbacks.Callback):
    """Moves a FakeTime on: each step takes `step_seconds`, epoch e's end
    `epoch_end_seconds[e]`."""

    def __init__(self, fake_time, step_seconds, epoch_end_seconds):
        super().__init__()
        self.fake_time = fake_time
        self.step_seconds = step_seconds
        self.epoch_end_seconds = epoch_end_seconds

    def on_train_batch_end(self, batch, logs=None):
        self.fake_time.seconds += self.step_seconds

    def on_epoch_end(self, epoch, logs=None):
        self.fake_time.seconds += self.epoch_end_seconds[epoch]


def fit(clock, epochs, steps_per_epoch=1, before_clock=()):
    """Fits a tiny model under a MirroredStrategy, as the Trainer does, on the toy batch
    (one step per epoch unless `steps_per_epoch`), its training step traced beforehand so
    that the clock times training steps."""
    tf.keras.utils.set_random_seed(3)
    inputs, target_out = toy_batch()
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = RNNWithAttention(VOCAB, VOCAB, embedding_dim=8, units=8)
        model.compile(optimizer=keras.optimizers.Adam(BASE_RATE))
    dataset = tf.data.Dataset.from_tensors((inputs, target_out)).repeat()
    model.fit(dataset, steps_per_epoch=1, verbose=0)
    history = model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[*before_clock, clock],
        verbose=0,
    )
    return model, history.history


def test_the_budget_stops_training_between_steps_and_the_rate_reaches_zero():
    clock = TrainingClock(budget_seconds=3.0, base_learning_rate=BASE_RATE, decay_fraction=1.0)
    model, history = fit(clock, epochs=100_000)
    assert clock.elapsed_seconds == pytest.approx(3.0, abs=0.5)
    assert 1 < len(history["loss"]) < 100_000
    assert float(model.optimizer.learning_rate.numpy()) == 0.0
    rates = history["learning_rate"]
    assert rates == sorted(rates, reverse=True) and rates[0] < BASE_RATE


def test_a_budget_spent_at_an_epochs_end_stops_before_the_next_epoch_at_rate_zero():
    clock = TrainingClock(budget_seconds=1.0, base_learning_rate=BASE_RATE, decay_fraction=1.0)
    model, history = fit(clock, epochs=5, before_clock=[SlowEpochEnd(seconds=1.5)])
    assert clock.elapsed_seconds >= 1.0
    assert len(history["loss"]) == 1
    assert history["learning_rate"] == [0.0]
    assert float(model.optimizer.learning_rate.numpy()) == 0.0


def test_the_budget_keeps_the_longest_epoch_ends_duration_for_the_partial_epochs_end():
    fake_time = FakeTime()
    clock = TrainingClock(
        budget_seconds=30.0, base_learning_rate=BASE_RATE, decay_fraction=1.0, now=fake_time
    )
    elapse = Elapse(fake_time, step_seconds=1.0, epoch_end_seconds=[8.0, 3.0, 8.0])
    model, history = fit(clock, epochs=3, steps_per_epoch=4, before_clock=[elapse])
    # Epochs of 4 one-second steps, closed by 8, 3 and 8 seconds of evaluation: epochs 1
    # and 2 end at 12 and 19 s; epoch 3 stops after its third step (22 s), keeping 8 s for
    # its end, which finishes at the budget. Keeping the last end's 3 s would have run all
    # 4 steps and ended at 31 s.
    assert clock.epoch_ends_seconds == [8.0, 3.0, 8.0]
    assert clock.epoch_end_seconds == 8.0
    assert clock.elapsed_seconds == 30.0
    assert len(history["loss"]) == 3
    assert float(model.optimizer.learning_rate.numpy()) == 0.0
    # The rate anneals by the time used and kept: (elapsed + 8 s) / 30 s at epochs' ends.
    assert history["learning_rate"] == pytest.approx(
        [BASE_RATE * (1 - 20 / 30), BASE_RATE * (1 - 27 / 30), 0.0], abs=1e-7
    )


def test_without_a_budget_the_rate_anneals_linearly_over_the_epochs():
    clock = TrainingClock(budget_seconds=0.0, base_learning_rate=BASE_RATE, decay_fraction=1.0)
    _, history = fit(clock, epochs=4, steps_per_epoch=5)
    # After epoch e of 4 (5 steps each), the next step's rate is BASE_RATE * (1 - e / 4).
    assert history["learning_rate"] == pytest.approx(
        [BASE_RATE * (1 - e / 4) for e in (1, 2, 3, 4)], abs=1e-7
    )


def test_a_decay_fraction_keeps_the_rate_until_that_last_share_of_the_run():
    clock = TrainingClock(budget_seconds=0.0, base_learning_rate=BASE_RATE, decay_fraction=0.5)
    _, history = fit(clock, epochs=4, steps_per_epoch=5)
    # Constant over the first half of the 4 epochs, then linearly down to 0 at the end.
    assert history["learning_rate"] == pytest.approx(
        [BASE_RATE, BASE_RATE, BASE_RATE / 2, 0.0], abs=1e-7
    )


def test_the_steps_per_epoch_are_counted_in_the_first_epoch_when_not_given():
    clock = TrainingClock(budget_seconds=0.0, base_learning_rate=BASE_RATE, decay_fraction=1.0)
    tf.keras.utils.set_random_seed(3)
    inputs, target_out = toy_batch()
    model = RNNWithAttention(VOCAB, VOCAB, embedding_dim=8, units=8)
    model.compile(optimizer=keras.optimizers.Adam(BASE_RATE))
    # 8 sentences in batches of 2: 4 steps an epoch, unknown to Keras in advance.
    dataset = tf.data.Dataset.from_tensor_slices((inputs, target_out)).batch(2)
    dataset = dataset.filter(lambda inputs, target: True)
    history = model.fit(dataset, epochs=2, callbacks=[clock], verbose=0).history
    # Epoch 1 runs at the base rate, its 4 steps counted at its end, where the rate for
    # epoch 2 is set to half; epoch 2 anneals by its 4 counted steps, to 0 at its end.
    assert history["learning_rate"] == pytest.approx([BASE_RATE / 2, 0.0], abs=1e-7)


def test_constant_schedule_keeps_the_rate():
    clock = TrainingClock(budget_seconds=0.0, base_learning_rate=BASE_RATE, decay_fraction=0.0)
    _, history = fit(clock, epochs=3)
    assert history["learning_rate"] == pytest.approx([BASE_RATE] * 3)
