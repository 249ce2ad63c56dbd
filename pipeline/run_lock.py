"""One pipeline run at a time per output root: an exclusive lock on `<output_root>/.run.lock`.

The lock is the operating system's (`fcntl.flock`), so it is released whenever its holder
ends, killed or not. The file keeps the holder's process id, host and start time, for the
message a second run prints; a file that still names a holder when its lock is free was
left by a run that was killed, and the next run takes it over (and says so).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator

LOCK_FILE = ".run.lock"


class OutputRootBusyError(RuntimeError):
    """Another run holds the output root."""


def _holder(lock_file) -> str:
    lock_file.seek(0)
    try:
        holder = json.loads(lock_file.read() or "{}")
    except json.JSONDecodeError:
        return "an unknown run"
    if not holder:
        return ""
    return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"


@contextlib.contextmanager
def hold(
    output_root: str, wait: bool = False, say: Callable[[str], None] = print
) -> Iterator[None]:
    """Holds the output root's lock for the block. Raises OutputRootBusyError when another
    run holds it, or with `wait` waits for it (saying so once)."""
    path = os.path.join(output_root, LOCK_FILE)
    with open(path, "a+", encoding="utf-8") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(lock_file) or "another run"
            if not wait:
                raise OutputRootBusyError(
                    f"{output_root} is in use by another run ({holder}): wait for it to "
                    "finish, stop it, or give --wait to start after it"
                ) from None
            say(f"Waiting for the run holding {output_root} ({holder}) to finish")
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        stale = _holder(lock_file)
        if stale:
            say(f"Took over the lock of a run that no longer runs ({stale})")
        lock_file.seek(0)
        lock_file.truncate()
        started = datetime.datetime.now().isoformat(timespec="seconds")
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": started}, lock_file)
        lock_file.flush()
        try:
            yield
        finally:
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.flush()
            fcntl.flock(lock_file, fcntl.LOCK_UN)
