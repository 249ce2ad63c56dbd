"""TFX Trainer `run_fn`: train the attention model under a distribution strategy, export it."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from modules.model import architectures
from modules.model.config import ModelConfig
from modules.model.recurrent import resolve_implementation
from modules.model.translation_model import TranslationModel
from modules.serving import export
from modules.serving.config import DecodingConfig
from modules.settings import ConfigError
from modules.text import transform
from modules.text.config import TransformConfig
from modules.training import (
    callbacks,
    checkpoint_averaging,
    data,
    distribution,
    precision,
    progress,
    subword_sampling,
)
from modules.training.config import TrainingConfig
from modules.training.fused_adam import FusedAdam
from modules.training.learning_rate import InverseSquareRoot


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """What run_fn reads from `custom_config`, and only that, so that changing, say, the
    BLEU floor reuses the cached Trainer output.

    text: how Transform cut sentences (the exported model cuts requests the same way);
    backup_root: where resumable training state is kept across re-runs.
    """

    model: ModelConfig
    training: TrainingConfig
    decoding: DecodingConfig
    text: TransformConfig
    backup_root: str

    def to_custom_config(self) -> dict:
        return {
            "model": self.model.to_dict(),
            "training": self.training.to_dict(),
            "decoding": self.decoding.to_dict(),
            "text": self.text.to_dict(),
            "backup_root": self.backup_root,
        }

    @classmethod
    def from_custom_config(cls, values: dict) -> TrainerConfig:
        return cls(
            model=ModelConfig.from_dict(values["model"]),
            training=TrainingConfig.from_dict(values["training"]),
            decoding=DecodingConfig.from_dict(values["decoding"]),
            text=TransformConfig.from_dict(values["text"]),
            backup_root=values["backup_root"],
        )


@contextlib.contextmanager
def dtype_policy(policy: str):
    """Keras layers take the global dtype policy when they are constructed: set it for the
    layers built inside only."""
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def build_model(
    model_config: ModelConfig,
    training_config: TrainingConfig,
    source_vocab_size: int,
    target_vocab_size: int,
    *,
    ids_shared: bool = False,
) -> TranslationModel:
    """The compiled model in `training_config.precision` (`auto` resolved for this machine,
    modules/training/precision.py); call inside the strategy's scope. `ids_shared`: one joint
    vocabulary (`TransformConfig.ids_shared`)."""
    policy, reason = precision.for_this_machine(training_config.precision)
    progress.report(f"Precision: {policy} ({reason})")
    if model_config.architecture == "rnn":
        implementation, why = resolve_implementation(model_config.recurrent_implementation)
        progress.report(f"Recurrent layers: {implementation} ({why})")
    with dtype_policy(policy):
        model = architectures.build(
            model_config, source_vocab_size, target_vocab_size, ids_shared=ids_shared
        )
    schedule = training_config.schedule_for(model_config.architecture)
    progress.report(f"Learning rate: {schedule.describe()}")
    learning_rate = schedule.rate
    if schedule.name == "inverse_sqrt":
        learning_rate = InverseSquareRoot(schedule.rate, schedule.warmup_steps)
    optimizer = FusedAdam(learning_rate, global_clipnorm=training_config.gradient_clip_norm or None)
    if policy in precision.LOSS_SCALED:
        # Scales the loss up and the gradients back down, skips a step whose gradients
        # overflow and halves the scale then (doubling it after 2,000 finite steps).
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, label_smoothing=training_config.label_smoothing)
    return model


def backup_directory(config: TrainerConfig, fn_args: FnArgs) -> str:
    """Where BackupAndRestore keeps its state: stable across re-runs of the same training
    (same config and inputs), so a killed Trainer resumes instead of starting over."""
    identity = "\n".join(
        [
            json.dumps(config.to_custom_config(), sort_keys=True),
            fn_args.transform_output,
            *fn_args.train_files,
        ]
    )
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    return os.path.join(config.backup_root, digest)


def vocabulary_sizes(tft_output: tft.TFTransformOutput) -> tuple[int, int]:
    """(source, target) vocabulary sizes of the Transform graph."""
    return tuple(
        tft_output.vocabulary_size_by_name(name)
        for name in (transform.SOURCE_VOCABULARY, transform.TARGET_VOCABULARY)
    )


def run_fn(fn_args: FnArgs) -> None:
    """Trains on Transform's output as `fn_args.custom_config` says, then exports the
    string-in/string-out SavedModel to `fn_args.serving_model_dir`."""
    # A MultiWorkerMirroredStrategy must exist before TensorFlow runs its first op.
    strategy = distribution.choose_strategy()
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    model, tft_output = train(config, fn_args, strategy)
    export_trained(model, tft_output, config, fn_args)


def train(config: TrainerConfig, fn_args: FnArgs, strategy: tf.distribute.Strategy):
    """Builds and fits the model under `strategy`; returns (model, TFTransformOutput)."""
    training = config.training
    keras.utils.set_random_seed(training.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    replicas = strategy.num_replicas_in_sync
    if training.batch_size < replicas:
        raise ConfigError(
            f"batch_size={training.batch_size} is smaller than the {replicas} replicas in "
            "sync: give each replica at least one example"
        )
    feature_spec = tft_output.transformed_feature_spec()
    batching = {
        "batch_tokens": training.batch_tokens,
        "max_length": max(config.text.max_source_tokens, config.text.max_target_tokens),
    }
    steps_per_epoch, segment = training.steps_per_epoch, None
    if training.subword_sampling:
        segment = subword_sampling.SegmentationSampler(
            tft_output, config.text, training.subword_sampling
        )
        # Sampled lengths move pairs between length buckets, so each pass makes a different
        # number of batches; Keras would cut a longer pass than the first short and stop
        # training at a shorter one. An epoch is the batches one pass of Transform's ids
        # makes, from a repeated stream.
        steps_per_epoch = steps_per_epoch or data.batches_per_pass(
            fn_args.train_files, feature_spec, training.batch_size, **batching
        )
        progress.report(f"Subword sampling: {steps_per_epoch:,} steps per epoch")
    train_batches = data.make_dataset(
        fn_args.train_files,
        feature_spec,
        training.batch_size,
        shuffle=True,
        repeat=steps_per_epoch > 0,
        segment=segment,
        **batching,
    )
    eval_batches = data.make_dataset(
        fn_args.eval_files, feature_spec, training.batch_size, shuffle=False, **batching
    )
    vocab_sizes = vocabulary_sizes(tft_output)
    logging.info("Vocabulary sizes (source, target): %s; %d replica(s)", vocab_sizes, replicas)
    with strategy.scope():
        model = build_model(config.model, training, *vocab_sizes, ids_shared=config.text.ids_shared)

    model.fit(
        train_batches,
        epochs=training.epochs,
        steps_per_epoch=steps_per_epoch or None,
        validation_data=eval_batches,
        callbacks=training_callbacks(config, fn_args, eval_batches),
        verbose=2,
    )
    if training.epochs == 0:
        # Build the variables of an untrained model so that it can still be exported.
        model(next(iter(train_batches))[0], training=False)
    return model, tft_output


def training_callbacks(
    config: TrainerConfig, fn_args: FnArgs, eval_batches: tf.data.Dataset
) -> list:
    """The stop on a diverged loss, resume-after-kill, the clock (time budget, learning
    rate), throughput lines, per-epoch checkpoints, TensorBoard, early stop with the best
    weights restored, then (when asked) the average of the last checkpoints if it evaluates
    better."""
    run_dir = distribution.output_directory(fn_args.model_run_dir)
    training = config.training
    schedule = training.schedule_for(config.model.architecture)
    clock = callbacks.TrainingClock(
        budget_seconds=60.0 * training.train_minutes,
        base_learning_rate=schedule.rate,
        decay_fraction=schedule.decay_fraction,
    )
    averaging = []
    if training.average_last_checkpoints:
        averaging.append(
            checkpoint_averaging.CheckpointAveraging(
                os.path.join(run_dir, "averaged_checkpoints"),
                count=training.average_last_checkpoints,
                every_steps=training.save_checkpoints_steps,
                eval_data=eval_batches,
            )
        )
    return [
        callbacks.StopOnNonFiniteLoss(schedule.rate, training.gradient_clip_norm),
        keras.callbacks.BackupAndRestore(backup_directory(config, fn_args)),
        clock,
        callbacks.Throughput(clock),
        callbacks.EpochCheckpoint(os.path.join(run_dir, "checkpoints")),
        keras.callbacks.TensorBoard(log_dir=run_dir, update_freq="epoch"),
        # Patience 0 never stops early but still restores the best weights by eval loss.
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=training.early_stopping_patience or training.epochs + 1,
            restore_best_weights=True,
        ),
        *averaging,
    ]


# Layers whose arithmetic follows their variables' dtype: under a mixed policy they
# compute in float32, so a copy with 16-bit variables would not compute the same.
_VARIABLE_DTYPE_ARITHMETIC = (
    keras.layers.LayerNormalization,
    keras.layers.BatchNormalization,
)


def serving_model(
    model: TranslationModel,
    model_config: ModelConfig,
    source_vocab_size: int,
    target_vocab_size: int,
    *,
    ids_shared: bool = False,
) -> TranslationModel:
    """The model to export. Under a mixed policy, a copy of `model` whose variables are
    stored in its compute dtype, each weight rounded once as every use rounds it: the
    same arithmetic, without a search step casting every weight again (a fifth of a
    greedy step on a CPU, docs/benchmarks.md). `model` itself where nothing is cast, or
    where a layer computes in its variables' dtype (the Transformer's LayerNormalization).
    The other arguments are `model`'s, as `build_model` took them."""
    policy = model.dtype_policy
    if policy.compute_dtype == policy.variable_dtype or any(
        isinstance(layer, _VARIABLE_DTYPE_ARITHMETIC) for layer in model.submodules
    ):
        return model
    with dtype_policy(policy.compute_dtype):
        copy = architectures.build(
            model_config, source_vocab_size, target_vocab_size, ids_shared=ids_shared
        )
    ids = tf.ones([1, 2], tf.int64)
    copy({"source_ids": ids, "target_in": ids}, training=False)
    # Built alike, the two list their weights in one order (their names differ by Keras'
    # unique-name suffixes).
    for stored, trained in zip(copy.weights, model.weights, strict=True):
        if (stored.shape, stored.name.rpartition("/")[2]) != (
            trained.shape,
            trained.name.rpartition("/")[2],
        ):
            raise AssertionError(f"serving copy: {stored.name} does not match {trained.name}")
        stored.assign(tf.cast(trained, stored.dtype))
    return copy


def export_trained(model, tft_output, config: TrainerConfig, fn_args: FnArgs) -> None:
    """Exports the SavedModel (`serving_model`); on a non-chief worker to scratch space,
    then removed."""
    export_dir = distribution.output_directory(fn_args.serving_model_dir)
    exported = serving_model(
        model, config.model, *vocabulary_sizes(tft_output), ids_shared=config.text.ids_shared
    )
    export.save(exported, tft_output, config.text, config.decoding, export_dir)
    if distribution.is_chief():
        logging.info("Exported the translation SavedModel to %s", export_dir)
        return
    for scratch in (export_dir, distribution.output_directory(fn_args.model_run_dir)):
        if tf.io.gfile.exists(scratch):
            tf.io.gfile.rmtree(scratch)
