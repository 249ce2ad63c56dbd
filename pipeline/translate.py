"""`nmt-pipeline translate`: sentences in, translations out, with a pushed SavedModel.

Reads sentences from the command line or, one per line, from a stream, in batches, and
writes one translation per input line (an empty line for an empty one), flushing after
every batch so that it works in a pipe.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TextIO

from modules import signatures


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
    were translated."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops the model uses)

    signature = signatures.SEARCH_SIGNATURES[decoding] if decoding else signatures.SERVING_DEFAULT
    translate = tf.saved_model.load(model_dir).signatures[signature]
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
