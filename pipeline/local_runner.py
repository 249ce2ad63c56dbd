"""Runs the pipeline on this machine: LocalDagRunner, SQLite metadata, Beam DirectRunner."""

from __future__ import annotations

from tfx import v1 as tfx

from modules import distribution
from pipeline import outputs
from pipeline.config import ConfigError, PipelineConfig
from pipeline.pipeline import create_pipeline


def preflight(config: PipelineConfig) -> None:
    """Fails before any component runs when the data, output root or batch size won't do."""
    config.check_paths()
    replicas = len(distribution.local_devices())
    if config.batch_size < replicas:
        raise ConfigError(
            f"batch_size={config.batch_size} is smaller than the {replicas} local replicas "
            "(one per GPU): give each replica at least one example"
        )


def run(config: PipelineConfig) -> None:
    """Checks the config against this machine, then runs every component (cached ones are
    reused)."""
    preflight(config)
    connection = outputs.metadata_connection(config)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config, connection))
