"""`TrainingConfig`: how the Trainer (modules/training/trainer.py) fits the model."""

from __future__ import annotations

import dataclasses

from modules.settings import ConfigError, Settings, setting

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
LEARNING_RATE_SCHEDULES = ("auto", "constant", "linear_decay", "inverse_sqrt")


@dataclasses.dataclass(frozen=True)
class TrainingConfig(Settings):
    """How the Trainer fits the model: epochs and budget, batches, the optimizer and its
    schedule, checkpoints, seed and precision."""

    epochs: int = setting(20, "training epochs (0 exports an untrained model)")
    steps_per_epoch: int = setting(0, "batches per epoch; 0 means one pass over the train split")
    batch_size: int = setting(64, "sentences per global batch, split over all replicas")
    batch_tokens: int = setting(
        0,
        "batch by size instead: at most this many padded token ids per global batch (longer "
        "side of each pair), so that batches of short sentences hold more (0: batch_size)",
    )
    learning_rate: float = setting(
        0.0,
        "learning rate of the Adam optimizer (the peak rate of inverse_sqrt); 0: auto, 3e-3 "
        "for the rnn (with linear_decay over the last fifth: 0.4 and 1.6 BLEU more than a "
        "constant 2e-3 in two 12-minute runs, docs/benchmarks.md), 2e-3 for the transformer",
    )
    learning_rate_schedule: str = setting(
        "auto",
        "auto: linear_decay for the rnn, inverse_sqrt for the transformer; constant keeps "
        "learning_rate; linear_decay keeps it, then anneals it linearly to 0 over the last "
        "decay_fraction of the run (the time budget or the epochs, whichever ends it first); "
        "inverse_sqrt warms up linearly for warmup_steps, then decays with 1/sqrt(step) (the "
        "Transformer's schedule)",
        LEARNING_RATE_SCHEDULES,
    )
    decay_fraction: float = setting(
        0.2,
        "linear_decay: the last share of the run (time budget or epochs) over which the rate "
        "falls linearly to 0, constant before it (1: the whole run, 20 BLEU worse in a "
        "10-minute budget, docs/benchmarks.md, 8)",
    )
    warmup_steps: int = setting(1000, "inverse_sqrt: steps of linear warm-up to learning_rate")
    label_smoothing: float = setting(
        0.0, "share of each target's probability spread over the vocabulary in the loss"
    )
    subword_sampling: float = setting(
        0.0,
        "subword regularisation: train on a SentencePiece segmentation of each pair sampled "
        "anew every time it is read, with this smoothing alpha (0.1 samples widely, 1 follows "
        "the model's probabilities; 0: Transform's most likely pieces); sentencepiece only, "
        "and unseeded; evaluation and serving keep the most likely pieces",
    )
    gradient_clip_norm: float = setting(
        1.0, "rescale each step's gradients to at most this global norm (0: no clipping)"
    )
    average_last_checkpoints: int = setting(
        8,
        "export the element-wise mean of the weights saved at the last this many multiples "
        "of save_checkpoints_steps, when its eval loss is lower than the best epoch's (0: "
        "off); 8 gave 2 BLEU more in a 10-minute budget (docs/benchmarks.md, 11)",
    )
    save_checkpoints_steps: int = setting(
        100, "steps between the checkpoints that average_last_checkpoints averages"
    )
    train_minutes: float = setting(
        0.0,
        "wall-clock training budget in minutes, epochs' evaluations included: stop between "
        "steps in time for the partial epoch's evaluation, keep the best weights by eval "
        "loss, export (0: no budget, only epochs and early stopping)",
    )
    early_stopping_patience: int = setting(
        3,
        "stop after this many epochs without a better eval loss (0: never); the weights "
        "with the best eval loss are kept either way",
    )
    seed: int = setting(
        1,
        "seed of the initial weights, the shuffling and dropout: training the same "
        "Transform output again on the same machine starts alike (docs/architecture.md, Trainer)",
    )
    precision: str = setting(
        "auto",
        "compute precision: mixed_bfloat16 and mixed_float16 compute in 16 bits with float32 "
        "weights (mixed_float16 with dynamic loss scaling; the exported RNN stores them in "
        "16 bits); auto picks mixed_bfloat16 on GPUs of compute capability 8.0 and up and "
        "on CPUs with AVX-512 BF16 or AMX, mixed_float16 on GPUs of 7.x, float32 elsewhere "
        "(docs/gpu-and-cluster.md)",
        PRECISIONS,
    )

    def validate(self) -> None:
        self.require_at_least(1, ("batch_size",))
        self.require_at_least(0, ("epochs", "steps_per_epoch", "early_stopping_patience", "seed"))
        self.require_at_least(1, ("warmup_steps", "save_checkpoints_steps"))
        self.require_at_least(
            0,
            (
                "learning_rate",
                "batch_tokens",
                "train_minutes",
                "gradient_clip_norm",
                "average_last_checkpoints",
                "subword_sampling",
            ),
        )
        if self.seed >= 2**32:
            raise ConfigError(f"seed={self.seed}: must be less than 2**32")
        if not 0.0 < self.decay_fraction <= 1.0:
            raise ConfigError(f"decay_fraction={self.decay_fraction}: must be in (0, 1]")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing={self.label_smoothing}: must be in [0, 1)")

    def schedule_for(self, architecture: str) -> LearningRateSchedule:
        """The rate and schedule that `auto` (and a learning_rate of 0) stand for with
        `architecture`: 3e-3 with linear_decay for the rnn, 2e-3 with inverse_sqrt for the
        transformer."""
        name = self.learning_rate_schedule
        if name == "auto":
            name = "inverse_sqrt" if architecture == "transformer" else "linear_decay"
        rate = self.learning_rate or (2e-3 if architecture == "transformer" else 3e-3)
        return LearningRateSchedule(
            name=name,
            rate=rate,
            decay_fraction=self.decay_fraction if name == "linear_decay" else 0.0,
            warmup_steps=self.warmup_steps if name == "inverse_sqrt" else 0,
        )


@dataclasses.dataclass(frozen=True)
class LearningRateSchedule:
    """A resolved learning-rate schedule: `name` is constant, linear_decay or inverse_sqrt;
    `rate` its constant rate or peak; `decay_fraction` the last share of the run over which
    linear_decay anneals (0 for the others); `warmup_steps` inverse_sqrt's warm-up (0 for
    the others)."""

    name: str
    rate: float
    decay_fraction: float
    warmup_steps: int

    def describe(self) -> str:
        """In words, e.g. "0.003 until the last 0.2 of the run, then linear decay to 0"."""
        if self.name == "linear_decay":
            return (
                f"{self.rate:g} until the last {self.decay_fraction:g} of the run, "
                "then linear decay to 0"
            )
        if self.name == "inverse_sqrt":
            return (
                f"linear warm-up to {self.rate:g} over {self.warmup_steps} steps, "
                "then inverse square root decay"
            )
        return f"{self.rate:g}, constant"
