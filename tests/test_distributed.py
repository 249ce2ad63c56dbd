"""Training on two replicas (two logical CPU devices) follows the one-replica curve."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def start_training(replicas: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.replica_training", str(replicas)],
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


def test_two_replicas_match_one_replica():
    one_process, two_process = start_training(1), start_training(2)
    one, two = loss_curve(one_process), loss_curve(two_process)
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert two["loss"][-1] < 0.5 * two["loss"][0]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=0.02)
