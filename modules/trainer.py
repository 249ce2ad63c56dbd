"""TFX Trainer `run_fn`: train the attention model under a distribution strategy, export it."""

from __future__ import annotations

import hashlib
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from modules import callbacks, data, distribution, export, transform
from modules.model.seq2seq import Seq2Seq
from pipeline.config import ConfigError, PipelineConfig

# The PipelineConfig fields that run_fn reads (training, the model, the exported model's
# text handling and searches, and where to keep resumable state): the pipeline passes only
# these, so that changing, say, the BLEU floor reuses the cached Trainer output.
CONFIG_FIELDS = (
    "embedding_dim",
    "units",
    "attention",
    "cell",
    "bidirectional",
    "encoder_layers",
    "dropout",
    "epochs",
    "steps_per_epoch",
    "batch_size",
    "learning_rate",
    "early_stopping_patience",
    "precision",
    "decoding",
    "beam_width",
    "length_penalty",
    "temperature",
    "eval_decoding",
    "max_source_tokens",
    "max_target_tokens",
    "keep_accents",
    "output_root",
)


def build_model(config: PipelineConfig, source_vocab_size: int, target_vocab_size: int):
    """The compiled model in `config.precision`; call inside the strategy's scope."""
    # Keras layers take the global dtype policy when they are constructed; keep it local.
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        model = Seq2Seq(
            source_vocab_size,
            target_vocab_size,
            embedding_dim=config.embedding_dim,
            units=config.units,
            attention=config.attention,
            cell=config.cell,
            bidirectional=config.bidirectional,
            encoder_layers=config.encoder_layers,
            dropout=config.dropout,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    return model


def backup_directory(config: PipelineConfig, fn_args: FnArgs) -> str:
    """Where BackupAndRestore keeps its state: stable across re-runs of the same training
    (same config and inputs), so a killed Trainer resumes instead of starting over."""
    identity = "\n".join([config.to_json(), fn_args.transform_output, *fn_args.train_files])
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
    return os.path.join(config.pipeline_root, "trainer_backup", digest)


def run_fn(fn_args: FnArgs) -> None:
    """Trains on Transform's output as `fn_args.custom_config` says, then exports the
    string-in/string-out SavedModel to `fn_args.serving_model_dir`."""
    # A MultiWorkerMirroredStrategy must exist before TensorFlow runs its first op.
    strategy = distribution.choose_strategy()
    config = PipelineConfig.from_dict({name: fn_args.custom_config[name] for name in CONFIG_FIELDS})
    model, tft_output = train(config, fn_args, strategy)
    export_trained(model, tft_output, config, fn_args)


def train(config: PipelineConfig, fn_args: FnArgs, strategy: tf.distribute.Strategy):
    """Builds and fits the model under `strategy`; returns (model, TFTransformOutput)."""
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size < replicas:
        raise ConfigError(
            f"batch_size={config.batch_size} is smaller than the {replicas} replicas in "
            "sync: give each replica at least one example"
        )
    feature_spec = tft_output.transformed_feature_spec()
    repeat = config.steps_per_epoch > 0
    train_batches = data.make_dataset(
        fn_args.train_files, feature_spec, config.batch_size, shuffle=True, repeat=repeat
    )
    eval_batches = data.make_dataset(
        fn_args.eval_files, feature_spec, config.batch_size, shuffle=False
    )
    vocab_sizes = [
        tft_output.vocabulary_size_by_name(name)
        for name in (transform.SOURCE_VOCABULARY, transform.TARGET_VOCABULARY)
    ]
    logging.info("Vocabulary sizes (source, target): %s; %d replica(s)", vocab_sizes, replicas)
    with strategy.scope():
        model = build_model(config, *vocab_sizes)

    model.fit(
        train_batches,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch or None,
        validation_data=eval_batches,
        callbacks=training_callbacks(config, fn_args),
        verbose=2,
    )
    if config.epochs == 0:
        # Build the variables of an untrained model so that it can still be exported.
        model(next(iter(train_batches))[0], training=False)
    return model, tft_output


def training_callbacks(config: PipelineConfig, fn_args: FnArgs) -> list:
    """Resume-after-kill, throughput lines, per-epoch checkpoints, TensorBoard, early stop."""
    run_dir = distribution.output_directory(fn_args.model_run_dir)
    chosen = [
        keras.callbacks.BackupAndRestore(backup_directory(config, fn_args)),
        callbacks.Throughput(),
        callbacks.EpochCheckpoint(os.path.join(run_dir, "checkpoints")),
        keras.callbacks.TensorBoard(log_dir=run_dir, update_freq="epoch"),
    ]
    if config.early_stopping_patience:
        chosen.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=config.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    return chosen


def export_trained(model, tft_output, config: PipelineConfig, fn_args: FnArgs) -> None:
    """Exports the SavedModel; on a non-chief worker to scratch space, then removed."""
    export_dir = distribution.output_directory(fn_args.serving_model_dir)
    export.save(model, tft_output, config, export_dir)
    if distribution.is_chief():
        logging.info("Exported the translation SavedModel to %s", export_dir)
        return
    for scratch in (export_dir, distribution.output_directory(fn_args.model_run_dir)):
        if tf.io.gfile.exists(scratch):
            tf.io.gfile.rmtree(scratch)
