"""The console of a pipeline run: a line per component, everything else in a log file.

Quiet (the default): the process's stdout and stderr, at the file-descriptor level, go to
`<output_root>/logs/<run id>.log`, so TensorFlow's C++ logs, absl/TFX protobuf dumps and
the output of Beam's worker processes land there too. The console shows one line when each
component starts and one when it finishes (wall time and key figures), the Trainer's epoch
lines (`modules.training.progress`), and what the caller says. Verbose: everything streams to the
console as it comes, and no log file is written.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import time

from modules.training import progress
from pipeline.config import PipelineConfig

# What TFX's LocalDagRunner logs around each component (tfx/orchestration/local).
_COMPONENT_RUNNING = "Component %s is running."
_COMPONENT_FINISHED = "Component %s is finished."


class _ComponentLines(logging.Handler):
    """Turns TFX's component start/finish records and progress records into console lines."""

    def __init__(self, console: RunConsole):
        super().__init__(logging.INFO)
        self._console = console
        self._started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _COMPONENT_RUNNING and record.args:
            name = str(record.args[0])
            self._started[name] = time.monotonic()
            self._console.running = name
            self._console.say(f"{name} ...")
        elif record.msg == _COMPONENT_FINISHED and record.args:
            name = str(record.args[0])
            seconds = time.monotonic() - self._started.pop(name, time.monotonic())
            self._console.running = None
            try:
                from pipeline import summary  # reads outputs with TFX: imported once running

                self._console.say(summary.component_line(self._console.config, name, seconds))
            except Exception as error:  # a summary must never fail the run
                self._console.say(f"{name}: finished ({seconds:.0f} s; no summary: {error})")
        elif getattr(record, "progress", None) is not None:
            self._console.last_epoch = record.progress.get("epoch", self._console.last_epoch)
            self._console.say("  " + record.getMessage())


class RunConsole:
    """A context manager around one pipeline run; see the module docstring.

    Attributes read after the run: `log_path` (None when verbose), `running` (the component
    that had started and not finished, e.g. when interrupted) and `last_epoch` (the last
    training epoch that finished, 0 if none).
    """

    def __init__(self, config: PipelineConfig, verbose: bool = False):
        self.config = config
        self.verbose = verbose
        self.log_path: str | None = None
        self.running: str | None = None
        self.last_epoch = 0
        self._console = sys.stdout
        self._saved_fds: list[int] = []
        self._handler = _ComponentLines(self)

    def say(self, line: str) -> None:
        """Writes a line to the console (not to the log file)."""
        self._console.write(line + "\n")
        self._console.flush()

    def __enter__(self) -> RunConsole:
        if not self.verbose:
            self._redirect_to_log()
        for logger in (logging.getLogger("absl"), progress.LOGGER):
            logger.addHandler(self._handler)
        return self

    def __exit__(self, *exc_info) -> None:
        for logger in (logging.getLogger("absl"), progress.LOGGER):
            logger.removeHandler(self._handler)
        if self._saved_fds:
            self._restore()

    def _redirect_to_log(self) -> None:
        run_id = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        log_dir = os.path.join(self.config.runtime.output_root, "logs")
        os.makedirs(log_dir, exist_ok=True)
        self.log_path = os.path.join(log_dir, f"{run_id}.log")
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved_fds = [os.dup(1), os.dup(2)]
        self._console = os.fdopen(os.dup(self._saved_fds[0]), "w", buffering=1)
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)

    def _restore(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self._saved_fds, strict=True):
            os.dup2(saved, fd)
            os.close(saved)
        self._saved_fds = []
        self._console.close()
        self._console = sys.stdout
