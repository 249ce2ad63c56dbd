"""Runs the pipeline on this machine: LocalDagRunner, SQLite metadata, Beam DirectRunner."""

from __future__ import annotations

from tfx import v1 as tfx

from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline


def run(config: PipelineConfig) -> None:
    """Validates the paths, then runs every component (cached ones are reused)."""
    config.check_paths()
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config, metadata))
