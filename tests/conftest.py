"""Shared fixtures, and the `slow` marker (the process environment is set by
tests/__init__.py).

`make test` runs every test; `make test-fast` only the unit tests, those not marked `slow`.
A test is marked `slow` here, never by hand: when it needs the session's pipeline run, or
when its module runs real pipelines, Beam jobs, training loops or worker processes.
"""

import fcntl
import os
import pickle
import traceback
from pathlib import Path
from typing import NamedTuple

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SLOW_FIXTURES = {"tiny_runs"}  # the session's pipeline runs, and every fixture built on them
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
    """Marks the slow tests, and orders the tests for `pytest -n`: the first test on the
    session's pipeline runs first (its worker makes them), then every test that does not
    need them (the other workers meanwhile), then the rest of those that do."""
    on_the_runs = []
    for item in items:
        module = item.module.__name__.rpartition(".")[2]
        needs_the_runs = bool(SLOW_FIXTURES & set(item.fixturenames))
        if module in SLOW_MODULES or needs_the_runs:
            item.add_marker(pytest.mark.slow)
        on_the_runs.append(needs_the_runs)
    if any(on_the_runs):
        first = on_the_runs.index(True)
        order = sorted(range(len(items)), key=lambda i: (i != first, on_the_runs[i], i))
        items[:] = [items[i] for i in order]


@pytest.fixture(scope="session")
def sample_lines() -> list[str]:
    from tests.helpers import SAMPLE_CORPUS

    return SAMPLE_CORPUS.read_text(encoding="utf-8").splitlines()


class TinyRuns(NamedTuple):
    """The session's runs of the tiny pipeline, each (config, {component: ComponentOutputs})."""

    first: tuple
    pushed_digest_before_rerun: str  # of the serving directory after the first run
    unchanged_rerun: tuple  # the first run's config again
    untrained_rerun: tuple  # zero training epochs: a deliberately worse model


def _make_tiny_runs(root: Path) -> TinyRuns:
    """Runs the real pipeline on a tiny synthetic corpus through the TFX CLI (`tfx pipeline
    create` + `tfx run create --engine=local`, see test_tfx_cli.py), then re-runs it with
    `local_runner` unchanged and untrained."""
    from pipeline import local_runner, outputs
    from tests.helpers import directory_digest, run_with_tfx_cli, synthetic_pipeline_config

    def latest(config):
        return config, {c.component: c for c in outputs.latest_run(config)}

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
    first = latest(config)
    digest = directory_digest(Path(config.serving_model_dir))
    local_runner.run(config)
    unchanged = latest(config)
    untrained_config = config.replace(epochs=0)
    local_runner.run(untrained_config)
    return TinyRuns(first, digest, unchanged, latest(untrained_config))


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> TinyRuns:
    """The tiny pipeline's runs, made once per session: under `pytest -n` by the first
    worker that needs them, in a folder all workers share, while the others wait."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    record = shared / "tiny_runs.pickle"
    with open(shared / "tiny_runs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.exists():
            try:
                made = _make_tiny_runs(shared / "tiny_pipeline")
            except BaseException:
                record.write_bytes(pickle.dumps(traceback.format_exc()))
                raise
            record.write_bytes(pickle.dumps(made))
    made = pickle.loads(record.read_bytes())
    if isinstance(made, str):
        pytest.fail(f"the tiny pipeline runs failed in another worker:\n{made}", pytrace=False)
    return made


@pytest.fixture(scope="session")
def tiny_pipeline_run(tiny_runs):
    """(config, {component: ComponentOutputs}) of the first run, through the TFX CLI."""
    return tiny_runs.first


@pytest.fixture(scope="session")
def pushed_model(tiny_pipeline_run):
    """The first run's pushed SavedModel (the only version pushed), loaded in this process."""
    import tensorflow as tf

    config, _ = tiny_pipeline_run
    (version,) = Path(config.serving_model_dir).iterdir()
    return tf.saved_model.load(str(version))


@pytest.fixture(scope="session")
def pushed_digest_before_rerun(tiny_runs):
    """Digest of the serving directory after the first run, taken before any re-run."""
    return tiny_runs.pushed_digest_before_rerun


@pytest.fixture(scope="session")
def unchanged_rerun(tiny_runs):
    """The tiny pipeline re-run unchanged (before the untrained re-run)."""
    return tiny_runs.unchanged_rerun


@pytest.fixture(scope="session")
def untrained_rerun(tiny_runs):
    """The tiny pipeline re-run with zero training epochs: a deliberately worse model (the
    latest run of the session's output root)."""
    return tiny_runs.untrained_rerun
