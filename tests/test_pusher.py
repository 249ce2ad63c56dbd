"""The Pusher's executor (TFX's, on real artifacts): a push is complete or absent, a model
already serving is not copied again, a full disk leaves nothing servable behind."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.pusher import executor
from tests.helpers import directory_digest


def saved_model_dir(root: Path, content: bytes) -> Path:
    """A Trainer's model artifact directory (`Format-Serving/`), with SavedModel-shaped files."""
    serving = root / "Format-Serving"
    (serving / "variables").mkdir(parents=True)
    (serving / "variables" / "variables.data-00000-of-00001").write_bytes(content)
    (serving / "saved_model.pb").write_bytes(b"graph " + content[:16])
    return root


def push(model_root: Path, serving_dir: Path, out: Path, blessed: bool = True):
    model = standard_artifacts.Model()
    model.uri = str(model_root)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(out / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(out / "pushed_model")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(serving_dir))
    )
    executor.Executor().Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination)},
    )
    return pushed


def test_pushes_a_complete_version_and_not_the_same_model_twice(tmp_path):
    serving = tmp_path / "serving_model"
    first = saved_model_dir(tmp_path / "model1", b"weights-1" * 100)
    pushed = push(first, serving, tmp_path / "run1")
    (version,) = serving.iterdir()
    assert version.name.isdigit()
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_int_custom_property(executor.ALREADY_SERVING_KEY) == 0
    assert directory_digest(version) == directory_digest(first / "Format-Serving")

    # The same model blessed again (an unchanged re-run): nothing copied.
    again = push(first, serving, tmp_path / "run2")
    assert list(serving.iterdir()) == [version]
    assert again.get_int_custom_property(executor.ALREADY_SERVING_KEY) == 1
    assert again.get_string_custom_property("pushed_destination") == str(version)

    # Another model: a newer version, even within the same second.
    second = saved_model_dir(tmp_path / "model2", b"weights-2" * 100)
    push(second, serving, tmp_path / "run3")
    assert executor.serving_versions(str(serving))[0] == int(version.name)
    assert len(executor.serving_versions(str(serving))) == 2

    # Not blessed: nothing.
    not_blessed = push(saved_model_dir(tmp_path / "m3", b"3"), serving, tmp_path / "r4", False)
    assert not_blessed.get_int_custom_property("pushed") == 0
    assert len(list(serving.iterdir())) == 2


def test_an_interrupted_push_left_behind_is_removed_and_never_served(tmp_path):
    serving = tmp_path / "serving_model"
    (serving / f"{executor.INCOMING_PREFIX}123" / "variables").mkdir(parents=True)
    push(saved_model_dir(tmp_path / "model", b"w" * 10), serving, tmp_path / "run")
    assert [p.name.isdigit() for p in serving.iterdir()] == [True]


@pytest.fixture
def small_file_system(tmp_path):
    """A 1 MiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_push_that_fills_the_disk_leaves_nothing_servable(tmp_path, small_file_system):
    serving = small_file_system / "serving_model"
    small = saved_model_dir(tmp_path / "small", b"s" * 1000)
    push(small, serving, tmp_path / "run1")
    (served,) = serving.iterdir()
    served_digest = directory_digest(served)
    too_big = saved_model_dir(tmp_path / "big", os.urandom(2 * 1024 * 1024))
    # TensorFlow's file system raises ResourceExhaustedError, Python's OSError (ENOSPC).
    with pytest.raises(Exception, match="No space left on device"):
        push(too_big, serving, tmp_path / "run2")
    assert list(serving.iterdir()) == [served]  # no new version, no partial copy
    assert directory_digest(served) == served_digest
    assert json.dumps(executor.serving_versions(str(serving))) == f"[{served.name}]"
