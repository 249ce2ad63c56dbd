"""`create_pipeline(config)`: the TFX pipeline definition, independent of any runner.

(Named `definition`, not `pipeline`, so that the runner files beside it, run as scripts,
can import the `pipeline` package.)"""

from __future__ import annotations

import glob
import os

from tfx import v1 as tfx
from tfx.orchestration import pipeline as tfx_pipeline

from components.pusher import Pusher
from components.tsv_example_gen import TsvExampleGen, parsing
from components.tsv_example_gen import executor as example_gen_executor
from modules.text import transform
from modules.training import trainer as trainer_module
from pipeline import fingerprint
from pipeline.config import PipelineConfig
from pipeline.evaluation import create_eval_config

TRANSFORM_FN = "modules.text.transform.preprocessing_fn"
TRAINER_FN = "modules.training.trainer.run_fn"


def data_input(data_root: str) -> tuple[str, str]:
    """(input_base, file_pattern) for a directory, a file or a glob of files.

    A path that is neither a glob nor a corpus file name is a directory, also where it
    cannot be checked from here (`gs://bucket/corpora/spa-eng`, a path inside the image).
    """
    name = os.path.basename(data_root.rstrip("/"))
    if os.path.isdir(data_root) or not (glob.has_magic(name) or parsing.is_supported_file(name)):
        return data_root, "*"
    return os.path.dirname(data_root) or ".", name


def _with_fingerprint(custom_config: dict, entry_module: str) -> dict:
    """A step's `custom_config` (its own settings only) with the fingerprint of its code."""
    return {**custom_config, fingerprint.SETTING_NAME: fingerprint.code_fingerprint(entry_module)}


def trainer_config(config: PipelineConfig) -> trainer_module.TrainerConfig:
    """The parts of `config` that the Trainer reads."""
    return trainer_module.TrainerConfig(
        model=config.model,
        training=config.training,
        decoding=config.decoding,
        text=config.transform,
        backup_root=os.path.join(config.pipeline_root, "trainer_backup"),
    )


def create_components(config: PipelineConfig) -> list:
    """The pipeline's components, in dependency order.

    Each custom step gets only the settings it reads and a fingerprint of its code, so TFX
    re-runs exactly the steps whose code or settings changed (and those downstream).
    """
    data = config.data
    input_base, file_pattern = data_input(data.data_root)
    example_gen = TsvExampleGen(
        input_base,
        file_pattern=file_pattern,
        direction=data.direction,
        split_buckets=data.split_buckets,
        max_line_chars=data.max_line_chars,
        max_rejected_fraction=data.max_rejected_fraction,
        code_fingerprint=fingerprint.code_fingerprint(example_gen_executor.__name__),
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
    )
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    transform_component = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=TRANSFORM_FN,
        custom_config=_with_fingerprint(
            {transform.CUSTOM_CONFIG_KEY: config.transform.to_dict()}, transform.__name__
        ),
        splits_config=tfx.proto.SplitsConfig(
            analyze=["train"], transform=["train", "eval", "test"]
        ),
    )
    trainer = tfx.components.Trainer(
        run_fn=TRAINER_FN,
        examples=transform_component.outputs["transformed_examples"],
        transform_graph=transform_component.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        custom_config=_with_fingerprint(
            trainer_config(config).to_custom_config(), trainer_module.__name__
        ),
    )
    latest_blessed_model = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=latest_blessed_model.outputs["model"],
        eval_config=create_eval_config(config.evaluation),
        example_splits=["test"],
    )
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.serving_model_dir)
        ),
    )
    return [
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        transform_component,
        trainer,
        latest_blessed_model,
        evaluator,
        pusher,
    ]


def create_pipeline(
    config: PipelineConfig, metadata_connection_config=None, until: str | None = None
) -> tfx_pipeline.Pipeline:
    """The whole pipeline for `config`; runners add orchestration, nothing else.

    `until` names a component id (e.g. "Transform") to stop after, for benchmarks and
    partial runs: the components before it in dependency order are kept.
    """
    components = create_components(config)
    if until is not None:
        ids = [component.id for component in components]
        if until not in ids:
            raise ValueError(f"until={until!r}: choose one of {ids}")
        components = components[: ids.index(until) + 1]
    return tfx.dsl.Pipeline(
        pipeline_name=config.runtime.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.runtime.beam_pipeline_args),
    )
