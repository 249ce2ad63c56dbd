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
def tiny_pipeline_run(tmp_path_factory):
    """Runs the real pipeline once on a tiny synthetic corpus, through the TFX CLI
    (`tfx pipeline create` + `tfx run create --engine=local`, see test_tfx_cli.py).

    Returns (config, {component: ComponentOutputs}) of that run.
    """
    from pipeline import outputs
    from tests.helpers import run_with_tfx_cli, synthetic_pipeline_config

    root = tmp_path_factory.mktemp("tiny_pipeline")
    config = synthetic_pipeline_config(
        root, embedding_dim=32, units=64, epochs=25, learning_rate=0.01, bleu_floor=10.0
    )
    run_with_tfx_cli(config, root)
    return config, {c.component: c for c in outputs.latest_run(config)}


@pytest.fixture(scope="session")
def pushed_digest_before_rerun(tiny_pipeline_run):
    """Digest of the serving directory after the first run, taken before any re-run."""
    from tests.helpers import directory_digest

    return directory_digest(Path(tiny_pipeline_run[0].serving_model_dir))


@pytest.fixture(scope="session")
def untrained_rerun(tiny_pipeline_run, pushed_digest_before_rerun):
    """Re-runs the tiny pipeline with zero training epochs: a deliberately worse model."""
    from pipeline import local_runner, outputs

    config = tiny_pipeline_run[0].replace(epochs=0)
    local_runner.run(config)
    return config, {c.component: c for c in outputs.latest_run(config)}
