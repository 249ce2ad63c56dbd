"""TFX's filesystem Pusher with two guarantees that a model server relies on.

- A failed push leaves nothing servable: the model is copied to `<base>/.incoming-<version>`
  and renamed to `<base>/<version>` only once complete (TF Serving and `nmt-pipeline
  translate` read numbered directories only); a push that fails removes its copy, and the
  next push removes any copy that a killed one left.
- No duplicate versions: a blessed model whose files equal those of the newest version
  already pushed is not copied again; its artifact names that version, with the custom
  property `already_serving` = 1.
"""

from __future__ import annotations

import hashlib
import os
import time

from absl import logging
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

INCOMING_PREFIX = ".incoming-"
ALREADY_SERVING_KEY = "already_serving"
_SAVED_MODEL_FILE = "saved_model.pb"


def serving_versions(base_directory: str) -> list[int]:
    """The complete versions under `base_directory`, oldest first."""
    if not fileio.isdir(base_directory):
        return []
    names = (name.rstrip("/") for name in fileio.listdir(base_directory))
    return sorted(int(name) for name in names if name.isdigit())


def directory_digest(directory: str) -> str:
    """SHA-256 over every file's path relative to `directory` and its bytes."""
    digest = hashlib.sha256()
    files = []
    for root, _, names in fileio.walk(directory):
        files.extend(os.path.join(root, name) for name in names)
    for path in sorted(files):
        digest.update(os.path.relpath(path, directory).encode("utf-8") + b"\0")
        with fileio.open(path, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def _copy_saved_model(source: str, destination: str) -> None:
    """Copies a SavedModel directory, `saved_model.pb` last (TF Serving's sign of a model)."""
    io_utils.copy_dir(source, destination, deny_regex_patterns=[r"saved_model\.pb"])
    saved_model = os.path.join(source, _SAVED_MODEL_FILE)
    if fileio.exists(saved_model):
        io_utils.copy_file(saved_model, os.path.join(destination, _SAVED_MODEL_FILE))


def _remove_incomplete_pushes(base_directory: str) -> None:
    for name in fileio.listdir(base_directory):
        if name.rstrip("/").startswith(INCOMING_PREFIX):
            logging.warning("Removing %s, left by a push that did not finish", name)
            fileio.rmtree(os.path.join(base_directory, name.rstrip("/")))


def push(model_path: str, base_directory: str) -> tuple[str, bool]:
    """Pushes the SavedModel at `model_path` to `base_directory/<version>` as the module
    docstring says; returns (the version's directory, whether it was already serving)."""
    fileio.makedirs(base_directory)
    _remove_incomplete_pushes(base_directory)
    versions = serving_versions(base_directory)
    if versions:
        newest = os.path.join(base_directory, str(versions[-1]))
        if directory_digest(newest) == directory_digest(model_path):
            logging.info("The model is already serving as %s: nothing copied", newest)
            return newest, True
    version = str(max([int(time.time()), *(v + 1 for v in versions)]))
    incoming = os.path.join(base_directory, INCOMING_PREFIX + version)
    serving_path = os.path.join(base_directory, version)
    try:
        _copy_saved_model(model_path, incoming)
        fileio.rename(incoming, serving_path)
    except BaseException:
        if fileio.exists(incoming):
            fileio.rmtree(incoming)
        raise
    logging.info("Model written to serving path %s", serving_path)
    return serving_path, False


class Executor(tfx_pusher.Executor):
    """TFX's Pusher executor for a filesystem destination, pushing with `push()`."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("this Pusher pushes to a filesystem destination only")
        model_path = self.GetModelPath(input_dict)
        # The archive copy in the artifact first: the push's rename is its last step.
        io_utils.copy_dir(model_path, model_push.uri)
        serving_path, already_serving = push(model_path, destination.filesystem.base_directory)
        self._MarkPushed(
            model_push,
            pushed_destination=serving_path,
            pushed_version=os.path.basename(serving_path),
        )
        model_push.set_int_custom_property(ALREADY_SERVING_KEY, int(already_serving))
