"""Faults: a Trainer killed with SIGKILL resumes from its last epoch on the next run."""

import dataclasses
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline import outputs
from pipeline.config import PipelineConfig
from tests.helpers import synthetic_pipeline_config

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 4


def _pipeline_command(config: PipelineConfig) -> list[str]:
    """`nmt-pipeline run` with a flag for every field that differs from the defaults."""
    defaults = PipelineConfig()
    flags = [
        f"--{field.name.replace('_', '-')}={_flag_value(getattr(config, field.name))}"
        for field in dataclasses.fields(config)
        if getattr(config, field.name) != getattr(defaults, field.name)
    ]
    return [sys.executable, "-m", "pipeline.cli", "run", *flags]


def _flag_value(value) -> str:
    """A config value as the CLI parses it: "8,1,1" for int tuples, shell words for others."""
    if isinstance(value, tuple) and value and isinstance(value[0], int):
        return ",".join(map(str, value))
    return shlex.join(value) if isinstance(value, tuple) else str(value)


def _epochs_run(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"^Epoch (\d+): \d+ examples", output, re.MULTILINE)]


def test_killed_trainer_resumes_from_its_last_epoch_and_nothing_is_pushed(tmp_path):
    config = synthetic_pipeline_config(
        tmp_path,
        epochs=EPOCHS,
        steps_per_epoch=100,
        batch_size=8,
        early_stopping_patience=0,
        bleu_floor=0.0,
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "killed.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            _pipeline_command(config),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while len(_epochs_run(log_path.read_text())) < 2:
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the Trainer never finished two epochs"
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed_at = max(_epochs_run(log_path.read_text()))
    assert killed_at < EPOCHS
    assert not Path(config.serving_model_dir).exists()

    rerun = subprocess.run(
        _pipeline_command(config),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    resumed = _epochs_run(rerun.stdout)
    assert resumed, rerun.stdout[-3000:]
    assert resumed[0] > 1, f"training restarted from scratch: epochs {resumed}"
    assert resumed[0] >= killed_at and resumed[-1] == EPOCHS
    states = {c.component: c.state for c in outputs.latest_run(config)}
    assert states["TsvExampleGen"] == states["Transform"] == "cached"
    assert states["Trainer"] == "ran" and states["Pusher"] == "ran"
    assert len(list(Path(config.serving_model_dir).iterdir())) == 1
