"""Learning-rate schedules computed in the training graph from the optimizer's step count."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


class InverseSquareRoot(keras.optimizers.schedules.LearningRateSchedule):
    """The Transformer's schedule (Vaswani et al., 2017), by its peak rate: a linear
    warm-up to `peak` over `warmup_steps`, then decay with 1 / sqrt(step):
    peak * min(step / warmup_steps, sqrt(warmup_steps / step)), steps counted from 1."""

    def __init__(self, peak: float, warmup_steps: int):
        self.peak = peak
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = tf.cast(step, tf.float32) + 1.0
        warmup = tf.cast(self.warmup_steps, tf.float32)
        return self.peak * tf.minimum(step / warmup, tf.sqrt(warmup / step))

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}
