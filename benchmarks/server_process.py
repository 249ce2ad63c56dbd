"""`nmt-pipeline serve` in a child process on a free loopback port, always stopped."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"at (http://127\.0\.0\.1:\d+)/")


class ServerProcess:
    """A running server: `url` (http://127.0.0.1:PORT), its stderr lines so far, and
    `stop()` (SIGINT, as Ctrl-C) which returns the exit status."""

    def __init__(self, args: list[str], start_timeout_s: float = 180):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
            + args,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            # TensorFlow's log lines quote request bytes as they came (b64-decoded 0xff,
            # say): undecodable ones must not end the reader.
            errors="backslashreplace",
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url(start_timeout_s)

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def _wait_for_url(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = _LISTENING.search(line)
                if found:
                    return found.group(1)
            if self.process.poll() is not None:
                self._reader.join(5)
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.stderr}")
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the server did not listen within {timeout_s} s:\n{self.stderr}")

    def wait_for_line(self, pattern: str, timeout_s: float) -> str | None:
        """The first stderr line matching `pattern` within `timeout_s`, else None."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            time.sleep(0.1)
        return None

    def stop(self, timeout_s: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        return self.process.returncode


@contextlib.contextmanager
def running_server(args: list[str]):
    """A ServerProcess for the block, stopped after it whatever happens."""
    server = ServerProcess(args)
    try:
        yield server
    finally:
        server.stop()
