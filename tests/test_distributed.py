"""Distributed training: one device trains under the default strategy, two replicas in one
process follow the one-replica curve, two worker processes (MultiWorkerMirroredStrategy over
127.0.0.1) stay in sync."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import trainer_fn_args

ROOT = Path(__file__).resolve().parent.parent


def start_training(replicas: int, architecture: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.replica_training", str(replicas), architecture],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def loss_curve(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def test_one_device_trains_under_the_default_strategy():
    import tensorflow as tf

    from modules.training import distribution

    # A MirroredStrategy's input iterator would keep tf.data's autotuning (choose_strategy).
    strategy = distribution.choose_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


@pytest.mark.parametrize("architecture", ["rnn", "transformer"])
def test_two_replicas_match_one_replica(architecture):
    one_process = start_training(1, architecture)
    two_process = start_training(2, architecture)
    one, two = loss_curve(one_process), loss_curve(two_process)
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert two["loss"][-1] < 0.5 * two["loss"][0]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=0.02)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Two trainings in the same two worker processes (one strategy), the last one exported.
TRAININGS = {
    "one epoch": {"epochs": 1},
    # The workers' clocks differ: only an agreed decision stops both at the same step.
    "time budget": {"epochs": 1000, "train_minutes": 0.25, "early_stopping_patience": 0},
}


def test_two_worker_processes_train_in_sync_and_only_the_chief_exports(tiny_pipeline_run, tmp_path):
    run_dirs = [tmp_path / name.replace(" ", "-") for name in TRAININGS]
    for run_dir, training in zip(run_dirs, TRAININGS.values(), strict=True):
        run_dir.mkdir()
        fn_args = trainer_fn_args(tiny_pipeline_run, run_dir, **training)
        (run_dir / "fn_args.json").write_text(json.dumps(fn_args))
    serving_dir = Path(fn_args["serving_model_dir"])  # the last training's, exported
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = []
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        files = [str(d / name) for d in run_dirs for name in ("fn_args.json", f"w{index}.npz")]
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.multi_worker_training", *files],
                cwd=ROOT,
                env={**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2"},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    finished = [worker.communicate(timeout=600) for worker in workers]
    # One worker's failure aborts the other's collectives: show every failed worker's log.
    failures = [
        f"worker {index}: {stderr[-3000:]}"
        for index, (worker, (_, stderr)) in enumerate(zip(workers, finished, strict=True))
        if worker.returncode != 0
    ]
    assert not failures, "\n\n".join(failures)
    chief_summaries, other_summaries = (
        json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in finished
    )

    for name, chief_summary, other_summary, run_dir in zip(
        TRAININGS, chief_summaries, other_summaries, run_dirs, strict=True
    ):
        assert (chief_summary["replicas"], chief_summary["chief"]) == (2, True), name
        assert (other_summary["replicas"], other_summary["chief"]) == (2, False), name
        epochs_run = chief_summary["epochs_run"]
        assert other_summary["epochs_run"] == epochs_run and 0 < epochs_run < 1000, name
        chief, other = (np.load(run_dir / f"w{index}.npz") for index in range(2))
        assert len(chief.files) == len(other.files) > 0, name
        for array in chief.files:
            np.testing.assert_array_equal(chief[array], other[array], err_msg=name)
    assert chief_summaries[0]["epochs_run"] == 1
    assert (serving_dir / "saved_model.pb").exists()
    assert sorted(p.name for p in run_dirs[-1].iterdir() if "scratch" in p.name) == []
