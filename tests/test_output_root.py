"""An output root that cannot be written is one configuration error line, before anything
writes into it: a path that is a file, a directory this user may not write (as a non-root
user: root writes anyway), a read-only file system."""

import contextlib
import os
import subprocess

import pytest

from pipeline import cli
from pipeline.config import ConfigError, PipelineConfig

NOBODY = 65534


@contextlib.contextmanager
def as_a_non_root_user():
    """Root acts as `nobody` inside the block (os.access and writes alike); others as
    themselves."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


def run_command(output_root, capsys) -> tuple[int, str]:
    code = cli.main(["run", "--output-root", str(output_root)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err


def test_an_output_root_that_is_a_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "outputs"
    path.write_text("a file")
    code, err = run_command(path, capsys)
    assert code == 2
    assert err == (
        f"nmt-pipeline: configuration error: output_root='{path}' is a file, not a "
        "directory: choose another path\n"
    )
    assert path.read_text() == "a file"


def test_a_directory_the_user_may_not_write_is_refused(tmp_path):
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    os.chmod(tmp_path, 0o755)  # nobody may enter the test's directory
    config = PipelineConfig.with_fields(output_root=str(read_only))
    with as_a_non_root_user(), pytest.raises(ConfigError) as refused:
        config.check_paths()
    assert "is not a writable directory (Permission denied)" in str(refused.value)
    below = PipelineConfig.with_fields(output_root=str(read_only / "outputs"))
    with as_a_non_root_user(), pytest.raises(ConfigError, match="Permission denied"):
        below.check_paths()
    assert list(read_only.iterdir()) == []


@pytest.fixture
def read_only_file_system(tmp_path):
    """A tmpfs mounted read-only (root only; skipped where mounting is not allowed)."""
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_read_only_file_system_is_one_line(read_only_file_system, capsys):
    for output_root in (read_only_file_system, read_only_file_system / "outputs"):
        code, err = run_command(output_root, capsys)
        assert code == 2
        assert err.startswith("nmt-pipeline: configuration error: output_root=")
        assert "is not a writable directory (Read-only file system)" in err
        assert err.count("\n") == 1
