"""Distributed training: two replicas in one process follow the one-replica curve; two
worker processes (MultiWorkerMirroredStrategy over 127.0.0.1) stay in sync."""

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


@pytest.mark.parametrize(
    "training",
    [
        {"epochs": 1},
        # The workers' clocks differ: only an agreed decision stops both at the same step.
        {"epochs": 1000, "train_minutes": 0.25, "early_stopping_patience": 0},
    ],
    ids=["one epoch", "time budget"],
)
def test_two_worker_processes_train_in_sync_and_only_the_chief_exports(
    tiny_pipeline_run, tmp_path, training
):
    fn_args = trainer_fn_args(tiny_pipeline_run, tmp_path, **training)
    serving_dir = Path(fn_args["serving_model_dir"])
    fn_args_file = tmp_path / "fn_args.json"
    fn_args_file.write_text(json.dumps(fn_args))
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = []
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.multi_worker_training",
                    str(fn_args_file),
                    str(tmp_path / f"weights-{index}.npz"),
                ],
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
    summaries = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in finished]

    assert [(s["replicas"], s["chief"]) for s in summaries] == [(2, True), (2, False)]
    epochs_run = {s["epochs_run"] for s in summaries}
    assert len(epochs_run) == 1 and 0 < epochs_run.pop() < 1000
    chief, other = (np.load(tmp_path / f"weights-{index}.npz") for index in range(2))
    assert len(chief.files) == len(other.files) > 0
    for name in chief.files:
        np.testing.assert_array_equal(chief[name], other[name])
    assert (serving_dir / "saved_model.pb").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if "scratch" in p.name) == []
