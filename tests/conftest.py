"""Shared fixtures. TF_USE_LEGACY_KERAS must be set before TensorFlow is imported."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SAMPLE_CORPUS = Path(__file__).resolve().parent.parent / "data" / "spa-eng" / "spa-sample.txt"


@pytest.fixture(scope="session")
def sample_lines() -> list[str]:
    return SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def tiny_pipeline_run(tmp_path_factory, sample_lines):
    """Runs the real pipeline once on a tiny corpus; returns (config, latest run outputs)."""
    from pipeline import local_runner, outputs
    from pipeline.config import PipelineConfig
    from tests.helpers import write_corpus

    root = tmp_path_factory.mktemp("tiny_pipeline")
    corpus = write_corpus(root / "data" / "tiny.txt", sample_lines[:240])
    config = PipelineConfig(
        data_root=str(corpus.parent),
        output_root=str(root / "outputs"),
        vocab_size=60,
        max_source_tokens=12,
        max_target_tokens=12,
        embedding_dim=16,
        units=32,
        epochs=2,
        batch_size=16,
    )
    local_runner.run(config)
    return config, {c.component: c for c in outputs.latest_run(config)}
