"""The models the Pusher wrote: the newest version, and loading one with a clear error.

Shared by `nmt-pipeline translate` and `nmt-pipeline serve`.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# What TensorFlow's CUDA build prints on every import without a GPU, at error level (so
# TF_CPP_MIN_LOG_LEVEL=2 keeps it): nothing a user of `translate` or `serve` can act on.
_IMPORT_NOISE = re.compile(
    r"Unable to register cu(FFT|DNN|BLAS) factory|TF-TRT Warning: Could not find TensorRT"
    r"|^WARNING: All log messages before absl::InitializeLog\(\) is called"
)


class NoModelError(RuntimeError):
    """No SavedModel to translate with."""


def latest_model_dir(serving_model_dir: str) -> str:
    """The newest version `<serving_model_dir>/<number>` that the Pusher wrote."""
    versions = (
        [name for name in os.listdir(serving_model_dir) if name.isdigit()]
        if os.path.isdir(serving_model_dir)
        else []
    )
    if not versions:
        raise NoModelError(
            f"no pushed model in {serving_model_dir}: run the pipeline until a model is "
            "blessed and pushed (nmt-pipeline run), or give --model DIR"
        )
    return os.path.join(serving_model_dir, max(versions, key=int))


def import_tensorflow_quietly():
    """Imports TensorFlow and TensorFlow Text with standard error captured, then writes back
    every line of it but the CUDA build's registration noise (_IMPORT_NOISE)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            import tensorflow_text  # noqa: F401  (registers the ops the model uses)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True):
            if not _IMPORT_NOISE.search(line):
                sys.stderr.write(line)
    return tf


def load_model(model_dir: str):
    """The SavedModel in `model_dir`; NoModelError, naming the path and what to do, when
    there is none or it does not load."""
    if not os.path.isdir(model_dir):
        raise NoModelError(f"--model {model_dir}: no such directory")
    if not any(
        os.path.isfile(os.path.join(model_dir, name))
        for name in ("saved_model.pb", "saved_model.pbtxt")
    ):
        raise NoModelError(
            f"--model {model_dir}: not a SavedModel (no saved_model.pb in it); give a "
            "version directory such as outputs/serving_model/<version>"
        )
    tf = import_tensorflow_quietly()
    try:
        return tf.saved_model.load(model_dir)
    except Exception as error:  # protobuf's DecodeError, TensorFlow's OSError and errors
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise NoModelError(
            f"--model {model_dir}: the SavedModel does not load ({first_line}); the files "
            "are damaged or incomplete: push or export it again, or give another version"
        ) from error
