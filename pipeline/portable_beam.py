"""The Beam steps on Beam's portable runner, on this machine: a job service and a pool of
SDK workers, each in its own process, as Flink and Spark run Python on a cluster (the
pipeline goes to a job service over the Job API, and its Python code runs in SDK harness
workers that the runner reaches over the Fn API; `--environment_type=EXTERNAL`).

    python -m pipeline.portable_beam run [nmt-pipeline run flags ...]

starts `apache_beam.runners.portability.local_job_service_main` and
`apache_beam.runners.worker.worker_pool_main` on free loopback ports, runs `nmt-pipeline
run` with the Beam arguments that point at them (`beam_args`), and stops both services
whatever happens. `configs/portable.json` is the same set-up for services started by hand
on Beam's usual ports.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

_STARTUP_TIMEOUT_S = 60
# Beam's job_server_timeout (default 60 s) is also the deadline of a job's state stream: a
# Beam step running longer fails with DEADLINE_EXCEEDED. A day bounds the longest step.
JOB_SERVER_TIMEOUT = "--job_server_timeout=86400"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {what} exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the {what} did not listen on port {port} in {_STARTUP_TIMEOUT_S} s")


def beam_args(job_port: int, worker_port: int) -> list[str]:
    """The Beam pipeline arguments of a job service and an external worker pool."""
    return [
        "--runner=PortableRunner",
        f"--job_endpoint=localhost:{job_port}",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{worker_port}",
        JOB_SERVER_TIMEOUT,
    ]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def portable_services(log_dir: str | None = None) -> Iterator[list[str]]:
    """A job service and an SDK worker pool for the block; yields the Beam arguments that
    reach them. With `log_dir`, their output goes to `job_service.log` and
    `worker_pool.log` there. The pool starts each worker as `python` from PATH, so this
    interpreter's directory goes first on the pool's PATH."""
    job_port, worker_port = _free_port(), _free_port()
    python = sys.executable
    environment = {**os.environ, "PATH": os.path.dirname(python) + os.pathsep + os.environ["PATH"]}
    services = {
        "job_service": ["apache_beam.runners.portability.local_job_service_main"]
        + ["--port", str(job_port)],
        "worker_pool": ["apache_beam.runners.worker.worker_pool_main"]
        + [f"--service_port={worker_port}"],
    }
    processes = {}
    with contextlib.ExitStack() as logs:
        try:
            for name, module_and_args in services.items():
                log = (
                    logs.enter_context(open(os.path.join(log_dir, f"{name}.log"), "w"))
                    if log_dir
                    else None
                )
                processes[name] = subprocess.Popen(
                    [python, "-m", *module_and_args],
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT if log else None,
                )
            _wait_until_listening(job_port, processes["job_service"], "Beam job service")
            _wait_until_listening(worker_port, processes["worker_pool"], "Beam SDK worker pool")
            yield beam_args(job_port, worker_port)
        finally:
            for process in processes.values():
                _stop(process)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "run":
        print(__doc__, file=sys.stderr)
        return 2
    with portable_services() as args:
        command = [sys.executable, "-m", "pipeline.cli", *argv]
        command.append("--beam-pipeline-args=" + " ".join(args))
        try:
            return subprocess.run(command, check=False).returncode
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
