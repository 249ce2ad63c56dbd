"""Which version the server answers with, picked up as TF Serving picks them up.

TF Serving's default version policy serves the newest numbered directory under the
model's base path and loads a newer one when it appears (its file system poll); the
Pusher renames a version into place only once it is complete, so a numbered directory is
always whole. A version that fails to load is reported in the status and skipped; the
one being served stays.
"""

from __future__ import annotations

import os
import threading

from pipeline.pushed_models import latest_model_dir
from pipeline.server.served_model import ServedModel

AVAILABLE, END = "AVAILABLE", "END"


class VersionNotServed(RuntimeError):
    """A newly pushed version failed to load; the one before goes on serving."""


def _version_number(model_dir: str) -> int:
    """The version a directory stands for: its name if it is a number, else 1."""
    name = os.path.basename(os.path.normpath(model_dir))
    return int(name) if name.isdigit() else 1


class ModelVersions:
    """The served model: the newest version under `base_dir`, or `model_dir` alone.

    Raises NoModelError when there is none that loads at the start.
    """

    def __init__(self, base_dir: str | None = None, model_dir: str | None = None):
        self._base_dir = base_dir
        first = model_dir or latest_model_dir(base_dir)
        self.current = ServedModel(first, _version_number(first))
        self._history = {self.current.version: (AVAILABLE, "")}
        self._lock = threading.Lock()

    def status(self) -> list[tuple[int, str, str]]:
        """(version, state, error) of every version seen, newest first."""
        with self._lock:
            return sorted(
                ((version, *state) for version, state in self._history.items()), reverse=True
            )

    def newer_version(self) -> tuple[int, str] | None:
        """(version, directory) of the newest version under the base directory that is newer
        than the served one and not tried before, or None."""
        if self._base_dir is None:
            return None
        try:
            names = os.listdir(self._base_dir)
        except OSError:
            return None
        numbers = [int(name) for name in names if name.isdigit()]
        newest = max((n for n in numbers if n not in self._history), default=None)
        if newest is None or newest < self.current.version:
            return None
        return newest, os.path.join(self._base_dir, str(newest))

    def load(self, version: int, path: str) -> ServedModel:
        """Loads and warms up `version` from `path` and makes it current (blocking);
        VersionNotServed, recorded in the status, when it fails for any reason."""
        try:
            model = ServedModel(path, version)
        except Exception as error:
            text = (str(error).strip().splitlines() or [type(error).__name__])[0]
            with self._lock:
                self._history[version] = (END, text)
            raise VersionNotServed(f"version {version} not served: {text}") from error
        with self._lock:
            self._history[self.current.version] = (END, "")
            self._history[version] = (AVAILABLE, "")
            self.current = model
        return model
