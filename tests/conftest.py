"""Shared fixtures, and the `slow` marker (the process environment is set by
tests/__init__.py).

`make test` runs every test; `make test-fast` only the unit tests, those not marked `slow`.
A test is marked `slow` here, never by hand: when it needs the session's pipeline run, or
when its module runs real pipelines, Beam jobs, training loops or worker processes.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SLOW_FIXTURES = {"tiny_pipeline_run"}  # and every fixture built on it
SLOW_MODULES = {
    "test_benchmarks",  # benchmark smoke runs: training, SavedModel decoding
    "test_checkpoint_averaging",  # a tiny model trained while checkpoints are saved
    "test_distributed",  # training in 2 replicas and in 2 worker processes
    "test_faults",  # five pipeline runs on a copy of the code
    "test_model",  # models trained until they overfit a batch
    "test_portable_beam",  # a job service and a worker pool in their own processes
    "test_real_text",  # Transform on Beam, a model overfitted, exported, reloaded
    "test_server",  # `nmt-pipeline serve` in its own process
    "test_training_clock",  # tiny models trained against a time budget
    "test_transformer",  # Transformers trained until they overfit a batch
    "test_tsv_example_gen",  # the real executor on the Beam DirectRunner
}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        module = item.module.__name__.rpartition(".")[2]
        uses_the_pipeline_run = bool(SLOW_FIXTURES & set(item.fixturenames))
        if module in SLOW_MODULES or uses_the_pipeline_run:
            item.add_marker(pytest.mark.slow)
        if uses_the_pipeline_run:
            # One worker of `pytest -n` runs the session's pipeline run and every test on it
            # (`--dist loadgroup`); the other workers share out the rest.
            item.add_marker(pytest.mark.xdist_group("tiny_pipeline_run"))


@pytest.fixture(scope="session")
def sample_lines() -> list[str]:
    from tests.helpers import SAMPLE_CORPUS

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
    # Cased BLEU on 23 test sentences spelled in ~12 pieces each: an untrained model
    # scores under 1; one that gets only the subjects right, about 5. By the 40th epoch a
    # one-way encoder had learned the verbs and objects in 1 of 6 runs (eval loss 0.002;
    # 0.27-0.50 in the others), a bidirectional one in 5 seeds of 5 (0.003-0.08).
    config = synthetic_pipeline_config(
        root,
        embedding_dim=32,
        units=128,
        bidirectional=True,
        epochs=40,
        learning_rate=0.01,
        early_stopping_patience=8,
        average_last_checkpoints=3,
        save_checkpoints_steps=20,
        bleu_floor=5.0,
    )
    run_with_tfx_cli(config, root)
    return config, {c.component: c for c in outputs.latest_run(config)}


@pytest.fixture(scope="session")
def pushed_digest_before_rerun(tiny_pipeline_run):
    """Digest of the serving directory after the first run, taken before any re-run."""
    from tests.helpers import directory_digest

    return directory_digest(Path(tiny_pipeline_run[0].serving_model_dir))


@pytest.fixture(scope="session")
def unchanged_rerun(tiny_pipeline_run, pushed_digest_before_rerun):
    """Re-runs the tiny pipeline unchanged (before any other re-run)."""
    from pipeline import local_runner, outputs

    config = tiny_pipeline_run[0]
    local_runner.run(config)
    return config, {c.component: c for c in outputs.latest_run(config)}


@pytest.fixture(scope="session")
def untrained_rerun(tiny_pipeline_run, unchanged_rerun, pushed_digest_before_rerun):
    """Re-runs the tiny pipeline with zero training epochs: a deliberately worse model."""
    from pipeline import local_runner, outputs

    config = tiny_pipeline_run[0].replace(epochs=0)
    local_runner.run(config)
    return config, {c.component: c for c in outputs.latest_run(config)}
