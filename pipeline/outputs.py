"""Reads what a pipeline run produced from ML Metadata, for people and for tests."""

from __future__ import annotations

import dataclasses
import os

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.orchestration import metadata

from components.pusher.executor import ALREADY_SERVING_KEY
from pipeline.config import PipelineConfig

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.CANCELED: "interrupted",
}


@dataclasses.dataclass(frozen=True)
class ComponentOutputs:
    component: str
    state: str
    artifacts: dict[str, list[str]]  # output key -> artifact URIs
    seconds: float  # from the execution's creation to its last update in ML Metadata
    # artifact URI -> its custom properties (e.g. the Pusher's `pushed`, ExampleGen's counts)
    properties: dict[str, dict[str, object]] = dataclasses.field(default_factory=dict)

    def single_uri(self, key: str) -> str:
        (uri,) = self.artifacts[key]
        return uri


def metadata_connection(config: PipelineConfig):
    """The ML Metadata (SQLite) connection config of the pipeline's runs."""
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)


def _latest_run_context(store, pipeline_name: str):
    runs = [
        context
        for context in store.get_contexts_by_type("pipeline_run")
        if _belongs_to(store, context, pipeline_name)
    ]
    return max(runs, key=lambda context: context.create_time_since_epoch, default=None)


def latest_run_id(config: PipelineConfig) -> int | None:
    """The ML Metadata id of the pipeline's most recent run, None before the first."""
    if not os.path.exists(config.metadata_path):
        return None
    with metadata.Metadata(metadata_connection(config)) as store_handle:
        run = _latest_run_context(store_handle.store, config.runtime.pipeline_name)
        return run.id if run else None


def latest_run(config: PipelineConfig) -> list[ComponentOutputs]:
    """The components of the pipeline's most recent run, with their output artifacts."""
    with metadata.Metadata(metadata_connection(config)) as store_handle:
        store = store_handle.store
        run = _latest_run_context(store, config.runtime.pipeline_name)
        if run is None:
            return []
        executions = sorted(
            store.get_executions_by_context(run.id), key=lambda e: e.create_time_since_epoch
        )
        return [_component_outputs(store, execution) for execution in executions]


def _belongs_to(store, run_context, pipeline_name: str) -> bool:
    parents = store.get_parent_contexts_by_context(run_context.id)
    return any(parent.name == pipeline_name for parent in parents)


def _node_name(store, execution) -> str:
    """The component id an execution ran, e.g. "Trainer"."""
    return next(
        context.name.split(".", 1)[-1]
        for context in store.get_contexts_by_execution(execution.id)
        if context.type == "node"
    )


def _component_outputs(store, execution) -> ComponentOutputs:
    node = _node_name(store, execution)
    events = [
        event
        for event in store.get_events_by_execution_ids([execution.id])
        if event.type == metadata_store_pb2.Event.OUTPUT
    ]
    by_id = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    artifacts: dict[str, list[str]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else "output"
        artifacts.setdefault(key, []).append(by_id[event.artifact_id].uri)
    properties = {
        artifact.uri: {
            name: getattr(value, value.WhichOneof("value"))
            for name, value in artifact.custom_properties.items()
            if value.WhichOneof("value") in ("int_value", "double_value", "string_value")
        }
        for artifact in by_id.values()
    }
    state = _STATES.get(execution.last_known_state, "unknown")
    seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1e3
    return ComponentOutputs(node, state, artifacts, seconds, properties)


def pushed_model_uri(pusher: ComponentOutputs) -> str | None:
    """Where the Pusher copied the model, None when it pushed nothing (not blessed)."""
    for uri in pusher.artifacts.get("pushed_model", []):
        if pusher.properties.get(uri, {}).get("pushed"):
            return str(pusher.properties[uri].get("pushed_destination", uri))
    return None


def already_serving(pusher: ComponentOutputs) -> bool:
    """Whether the Pusher found its blessed model already serving (nothing copied)."""
    return any(properties.get(ALREADY_SERVING_KEY) for properties in pusher.properties.values())


def describe_latest_run(config: PipelineConfig) -> str:
    """Where the latest run's outputs are; a Pusher that pushed nothing lists no model."""
    lines = [f"Pipeline {config.runtime.pipeline_name!r}: metadata in {config.metadata_path}"]
    for component in latest_run(config):
        lines.append(f"  {component.component} ({component.state}, {component.seconds:.0f} s)")
        for key, uris in sorted(component.artifacts.items()):
            if key == "pushed_model" and pushed_model_uri(component) is None:
                lines.append(f"    {key}: nothing pushed (the model was not blessed)")
                continue
            lines.extend(f"    {key}: {uri}" for uri in uris)
    return "\n".join(lines)


def cancel_unfinished_executions(config: PipelineConfig) -> list[str]:
    """Marks the pipeline's executions still RUNNING in ML Metadata as CANCELED and removes
    their output folders; returns the components concerned.

    For a run stopped by Ctrl-C or killed: TFX records a failure, and removes the outputs,
    only when an executor raises an ordinary error, so such a run would stay RUNNING for
    ever and leave empty output folders. Called after an interrupt and before every run
    (one pipeline at a time per output root).
    """
    if not os.path.exists(config.metadata_path):
        return []
    cancelled = []
    with metadata.Metadata(metadata_connection(config)) as store_handle:
        store = store_handle.store
        pipeline = store.get_context_by_type_and_name("pipeline", config.runtime.pipeline_name)
        if pipeline is None:
            return []
        for execution in store.get_executions_by_context(pipeline.id):
            if execution.last_known_state != metadata_store_pb2.Execution.RUNNING:
                continue
            component = _node_name(store, execution)
            execution.last_known_state = metadata_store_pb2.Execution.CANCELED
            store.put_executions([execution])
            pattern = os.path.join(config.pipeline_root, component, "*", str(execution.id))
            for output_dir in fileio.glob(pattern):
                fileio.rmtree(output_dir)
            cancelled.append(component)
    return cancelled


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One Evaluator execution: when, where its results are, and whether it blessed."""

    time_ms: int
    evaluation_uri: str
    blessed: bool


def evaluation_history(config: PipelineConfig) -> list[Evaluation]:
    """Every Evaluator execution of the pipeline, oldest first (cached re-runs once)."""
    history = {}
    with metadata.Metadata(metadata_connection(config)) as store_handle:
        store = store_handle.store
        for execution in store.get_executions():
            component = _component_outputs(store, execution)
            if component.component != "Evaluator" or component.state != "ran":
                continue
            evaluation = _evaluation(component, execution.create_time_since_epoch)
            history[evaluation.evaluation_uri] = evaluation
    return sorted(history.values(), key=lambda evaluation: evaluation.time_ms)


def _evaluation(evaluator: ComponentOutputs, time_ms: int) -> Evaluation:
    (evaluation_uri,) = evaluator.artifacts["evaluation"]
    (blessing_uri,) = evaluator.artifacts["blessing"]
    blessed = os.path.exists(os.path.join(blessing_uri, "BLESSED"))
    return Evaluation(time_ms=time_ms, evaluation_uri=evaluation_uri, blessed=blessed)


def latest_evaluation(run: list[ComponentOutputs]) -> Evaluation | None:
    """The evaluation in a run's outputs (cached or not), None when it has none."""
    for component in run:
        if component.component == "Evaluator" and component.artifacts:
            return _evaluation(component, time_ms=0)
    return None
