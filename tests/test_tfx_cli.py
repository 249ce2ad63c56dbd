"""The TFX CLI runs the pipeline through the runner file pipeline/local_runner.py."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import outputs
from pipeline.config import CONFIG_FILE_ENV
from tests.helpers import synthetic_pipeline_config

ROOT = Path(__file__).resolve().parent.parent
TFX = str(Path(sys.executable).with_name("tfx"))


def _tfx(*args: str, env: dict) -> str:
    completed = subprocess.run(
        [TFX, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    return output


@pytest.mark.slow
def test_tfx_cli_creates_and_runs_the_pipeline_from_a_config_file(tmp_path):
    config = synthetic_pipeline_config(tmp_path, pipeline_name="nmt-cli", epochs=1, bleu_floor=0)
    config_file = tmp_path / "config.json"
    config_file.write_text(config.to_json())
    env = {
        **os.environ,
        CONFIG_FILE_ENV: str(config_file),
        "LOCAL_HOME": str(tmp_path / "tfx-home"),
    }

    created = _tfx(
        "pipeline", "create", "--engine=local", "--pipeline_path=pipeline/local_runner.py", env=env
    )
    assert 'Pipeline "nmt-cli" created successfully' in created
    assert not Path(config.pipeline_root, "TsvExampleGen").exists(), "create must not run"

    _tfx("run", "create", "--engine=local", "--pipeline_name=nmt-cli", env=env)

    states = {c.component: c.state for c in outputs.latest_run(config)}
    assert set(states) >= {"TsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"}
    assert all(state == "ran" for state in states.values()), states
    assert list(Path(config.serving_model_dir).iterdir()), "the blessed model was not pushed"
