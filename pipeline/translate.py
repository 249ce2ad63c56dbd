"""`nmt-pipeline translate`: sentences in, translations out, with a pushed SavedModel.

Reads sentences from the command line or, one per line, from a stream, in batches, and
writes one translation per input line (an empty line for an empty one), flushing after
every batch so that it works in a pipe.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import TextIO

from modules import signatures

# What TensorFlow's CUDA build prints on every import without a GPU, at error level (so
# TF_CPP_MIN_LOG_LEVEL=2 keeps it): nothing a user of `translate` can act on.
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


def batches(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    """Consecutive lists of at most `size` lines, line endings removed."""
    batch = []
    for line in lines:
        batch.append(line.rstrip("\r\n"))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def translate_lines(
    model_dir: str,
    lines: Iterable[str],
    out: TextIO,
    decoding: str | None,
    batch_size: int,
    tsv: bool,
) -> int:
    """Writes the translation of every line to `out` (`source<TAB>translation` if `tsv`)
    with the `decoding` search (None: the model's serving default); returns how many lines
    were translated. NoModelError when `model_dir` holds no model that loads."""
    model = load_model(model_dir)
    import tensorflow as tf  # imported by load_model, quietly

    signature = signatures.SEARCH_SIGNATURES[decoding] if decoding else signatures.SERVING_DEFAULT
    if signature not in model.signatures:
        raise NoModelError(
            f"--model {model_dir}: no {signature!r} signature (it has "
            f"{', '.join(sorted(model.signatures))}): is it a model this pipeline pushed?"
        )
    translate = model.signatures[signature]
    count = 0
    for batch in batches(lines, batch_size):
        sentences = {signatures.SENTENCES: tf.constant(batch, tf.string, [len(batch)])}
        translations = translate(**sentences)[signatures.TRANSLATION].numpy()
        for source, translation in zip(batch, translations, strict=True):
            text = translation.decode("utf-8")
            out.write(f"{source.replace(chr(9), ' ')}\t{text}\n" if tsv else text + "\n")
        out.flush()
        count += len(batch)
    return count
