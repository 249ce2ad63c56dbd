"""Faults and re-runs of `nmt-pipeline run`, on a temporary copy of the project's code.

One scenario, each step on the previous one's outputs:
1. a second run on the same output root exits at once, naming the first; the first is
   killed (SIGKILL) during training;
2. the same command resumes training, and is stopped with Ctrl-C (SIGINT): one clear
   line, no traceback, nothing left RUNNING in ML Metadata, no empty output folders;
3. the same command resumes, and is stopped with SIGTERM (as `kill` or a scheduler does):
   the same, with exit status 143;
4. the same command resumes from the next epoch and pushes the model;
5. after an edit of the model's code, the Trainer and the steps after it run again;
6. after a change of an evaluation-only setting, only the evaluation runs again.

Then, apart: a run waiting for the output root's lock, taking over the lock of a killed
run, then stopped by SIGTERM outside training; a full disk, then the same command once
space is freed.
"""

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from pipeline import cli, outputs, run_lock
from pipeline.config import PipelineConfig
from tests.helpers import PROJECT_ROOT, synthetic_pipeline_config

EPOCHS = 5
CODE_PACKAGES = ("components", "modules", "pipeline")


def _command(config: PipelineConfig) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", *cli.config_flags(config)]


def _epochs_run(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"^\s*Epoch (\d+)/\d+: ", output, re.MULTILINE)]


def _start(config: PipelineConfig, code: Path, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115  (the process writes it until it ends)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(code)}
    return subprocess.Popen(
        _command(config),
        cwd=code,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop_at_epoch(process: subprocess.Popen, log_path: Path, epoch: int, sig) -> str:
    """Sends `sig` to the run's process group once `epoch` has finished; returns its output."""
    deadline = time.monotonic() + 600
    while epoch not in _epochs_run(log_path.read_text()):
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"the Trainer never finished epoch {epoch}"
        time.sleep(0.2)
    os.killpg(process.pid, sig)
    process.wait(timeout=300)
    return log_path.read_text()


def _run(config: PipelineConfig, code: Path, expect: int = 0, *flags: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        _command(config) + list(flags),
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == expect, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _wait_for(log_path: Path, text: str, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 300
    while text not in log_path.read_text():
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"never printed {text!r}"
        time.sleep(0.2)
    return log_path.read_text()


def _lock_holder(config: PipelineConfig) -> dict:
    return json.loads(Path(config.runtime.output_root, run_lock.LOCK_FILE).read_text())


def _states(config: PipelineConfig) -> dict[str, str]:
    return {c.component: c.state for c in outputs.latest_run(config)}


def _execution_states(config: PipelineConfig) -> list[int]:
    with metadata.Metadata(outputs.metadata_connection(config)) as store_handle:
        return [e.last_known_state for e in store_handle.store.get_executions()]


@pytest.fixture(scope="module")
def code(tmp_path_factory) -> Path:
    """A copy of the project's code that the test may edit."""
    copy = tmp_path_factory.mktemp("code")
    for package in CODE_PACKAGES:
        shutil.copytree(
            PROJECT_ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return copy


def test_interrupted_runs_resume_and_reruns_follow_code_and_settings(code, tmp_path):
    config = synthetic_pipeline_config(
        tmp_path,
        epochs=EPOCHS,
        # Epochs long enough (several seconds) that the kill at an epoch's end lands in the
        # next one: 100 steps took about a second once epoch ends no longer idled.
        steps_per_epoch=600,
        batch_size=8,
        early_stopping_patience=0,
        bleu_floor=0.0,
    )

    # 1. A second run on the same output root exits at once, naming the first (while the
    # first reads the data); the first is killed outright during training: nothing pushed.
    process = _start(config, code, tmp_path / "killed.log")
    _wait_for(tmp_path / "killed.log", "TsvExampleGen ...", process)
    second = _run(config, code, cli.BUSY_EXIT)
    assert second.strip().splitlines()[-1] == (
        f"nmt-pipeline: {config.runtime.output_root} is in use by another run (pid "
        f"{process.pid} on {socket.gethostname()}, started {_lock_holder(config)['started']}): "
        "wait for it to finish, stop it, or give --wait to start after it"
    )
    killed = _stop_at_epoch(process, tmp_path / "killed.log", 2, signal.SIGKILL)
    assert not Path(config.serving_model_dir).exists()
    assert metadata_store_pb2.Execution.RUNNING in _execution_states(config), killed[-2000:]

    # 2. The same command resumes after the last finished epoch; Ctrl-C stops it cleanly.
    process = _start(config, code, tmp_path / "interrupted.log")
    interrupted = _stop_at_epoch(process, tmp_path / "interrupted.log", 3, signal.SIGINT)
    assert process.returncode == cli.INTERRUPTED_EXIT, interrupted[-3000:]
    assert _epochs_run(interrupted)[0] == 3, "training restarted instead of resuming"
    last_line = interrupted.strip().splitlines()[-1]
    assert last_line.startswith("interrupted; re-run the same command to resume from epoch 4")
    assert "Traceback" not in interrupted
    states = _execution_states(config)
    assert metadata_store_pb2.Execution.RUNNING not in states
    assert states.count(metadata_store_pb2.Execution.CANCELED) == 2  # killed and interrupted
    trainer_outputs = Path(config.pipeline_root, "Trainer")  # <output key>/<execution id>
    left = [d for d in trainer_outputs.glob("*/*") if not d.parent.name.startswith(".")]
    assert not left, "outputs of stopped runs were left behind"
    assert not Path(config.serving_model_dir).exists()

    # 3. SIGTERM stops it as Ctrl-C does.
    process = _start(config, code, tmp_path / "terminated.log")
    terminated = _stop_at_epoch(process, tmp_path / "terminated.log", 4, signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM, terminated[-3000:]
    assert _epochs_run(terminated)[0] == 4
    assert (
        terminated.strip()
        .splitlines()[-1]
        .startswith("stopped by SIGTERM; re-run the same command to resume from epoch 5")
    )
    assert "Traceback" not in terminated
    states = _execution_states(config)
    assert metadata_store_pb2.Execution.RUNNING not in states
    assert states.count(metadata_store_pb2.Execution.CANCELED) == 3
    assert not Path(config.serving_model_dir).exists()

    # 4. The same command finishes the last epoch, reusing the data components.
    finished = _run(config, code)
    assert _epochs_run(finished) == [EPOCHS]
    # A quiet console: component and epoch lines; TFX, Beam and TensorFlow in the log file.
    assert len(finished.splitlines()) < 60 and "INFO:absl" not in finished
    log_file = re.search(r"^Full log: (.+)$", finished, re.MULTILINE).group(1)
    assert "Component Trainer is running" in Path(log_file).read_text()
    states = _states(config)
    assert states["TsvExampleGen"] == states["Transform"] == "cached"
    assert states["Trainer"] == states["Pusher"] == "ran"
    assert len(list(Path(config.serving_model_dir).iterdir())) == 1

    # 5. Edited model code: the Trainer and everything after it run again, not the data.
    with open(code / "modules" / "model" / "rnn_decoder.py", "a") as decoder:
        decoder.write("\n# An edit: the Trainer must not reuse the model trained before it.\n")
    _run(config, code)
    states = _states(config)
    assert states["TsvExampleGen"] == states["Transform"] == "cached"
    assert states["Trainer"] == states["Evaluator"] == "ran"

    # 6. An evaluation-only setting: the trained model is reused, the evaluation is not.
    _run(config.replace(bleu_floor=1000.0), code)
    states = _states(config)
    assert states["Trainer"] == "cached" and states["Evaluator"] == "ran"


def test_a_run_waits_for_the_lock_and_takes_over_the_one_a_killed_run_left(code, tmp_path):
    config = synthetic_pipeline_config(tmp_path, epochs=1, steps_per_epoch=5, bleu_floor=0.0)
    output_root = Path(config.runtime.output_root)
    output_root.mkdir(parents=True)
    # A holder that is then "killed": its lock goes with its open file, its record stays.
    holder = open(output_root / run_lock.LOCK_FILE, "w")  # noqa: SIM115
    fcntl.flock(holder, fcntl.LOCK_EX)
    holder.write('{"pid": 4000001, "host": "elsewhere", "started": "2026-01-01T00:00:00"}')
    holder.flush()

    log_path = tmp_path / "waiting.log"
    log = open(log_path, "w")  # noqa: SIM115
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(code)}
    process = subprocess.Popen(
        _command(config) + ["--wait"], cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    holding = "(pid 4000001 on elsewhere, started 2026-01-01T00:00:00)"
    _wait_for(log_path, f"Waiting for the run holding {output_root} {holding} to finish", process)
    time.sleep(1)
    assert not Path(config.metadata_path).exists(), "it ran before the lock was free"
    holder.close()
    _wait_for(log_path, f"Took over the lock of a run that no longer runs {holding}", process)
    _wait_for(log_path, "TsvExampleGen ...", process)
    assert _lock_holder(config)["pid"] == process.pid
    # Stopped by SIGTERM outside training: the same clean stop, and the lock released.
    process.terminate()
    assert process.wait(timeout=300) == 128 + signal.SIGTERM, log_path.read_text()[-3000:]
    last_line = log_path.read_text().strip().splitlines()[-1]
    assert re.fullmatch(
        r"stopped by SIGTERM during \w+; re-run the same command to resume \(finished "
        r"components are reused\)",
        last_line,
    ), last_line
    assert (output_root / run_lock.LOCK_FILE).read_text() == ""
    assert metadata_store_pb2.Execution.RUNNING not in _execution_states(config)


@pytest.fixture
def full_serving_disk(tmp_path):
    """The serving directory of a run under `tmp_path`, a 64 KiB tmpfs, smaller than the
    model (root only; skipped where mounting is not allowed); unmounted after."""
    config = synthetic_pipeline_config(tmp_path, epochs=1, bleu_floor=0.0)
    serving = Path(config.serving_model_dir)
    serving.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(serving)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield config
    subprocess.run(["umount", "--lazy", str(serving)], check=True)


def test_a_push_onto_a_full_disk_is_one_line_leaves_nothing_servable_and_then_pushes_once(
    code, full_serving_disk
):
    config = full_serving_disk
    failed = _run(config, code, 1)
    last = failed.strip().splitlines()
    assert "Traceback" not in failed
    assert last[-2].startswith("nmt-pipeline: Pusher failed: "), failed[-3000:]
    assert "No space left on device" in last[-2] and config.serving_model_dir in last[-2]
    assert last[-1].startswith("Full log: ")
    serving = Path(config.serving_model_dir)
    assert list(serving.iterdir()) == []  # neither a version nor a partial copy
    assert metadata_store_pb2.Execution.RUNNING not in _execution_states(config)

    # Space freed: the same command reuses the trained model (the Evaluator runs again: the
    # model it blessed is now the baseline) and pushes once.
    subprocess.run(["mount", "-o", "remount,size=64m", str(serving)], check=True)
    finished = _run(config, code)
    assert "model blessed and pushed" in finished
    states = _states(config)
    assert states["Trainer"] == "cached" and states["Pusher"] == "ran"
    assert [p.name.isdigit() for p in serving.iterdir()] == [True]
