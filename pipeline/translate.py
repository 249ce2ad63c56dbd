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
from pipeline.pushed_models import NoModelError, load_model


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
    attention_plot_dir: str | None = None,
) -> int:
    """Writes the translation of every line to `out` (`source<TAB>translation` if `tsv`)
    with the `decoding` search (None: the model's serving default), and with
    `attention_plot_dir` the attention heat-map of line N to `<dir>/N.png` (N from 1, 0-padded
    to 4 digits); returns how many lines were translated. NoModelError when `model_dir`
    holds no model that loads."""
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
        if attention_plot_dir:
            _plot_attention(model, batch, attention_plot_dir, first_line=count + 1)
        count += len(batch)
    return count


def _plot_attention(model, batch: list[str], directory: str, first_line: int) -> None:
    from pipeline import attention_plot

    os.makedirs(directory, exist_ok=True)
    sentences = [line.encode("utf-8") for line in batch]
    for line, attended in enumerate(attention_plot.attend(model, sentences), first_line):
        attention_plot.save(attended, os.path.join(directory, f"{line:04d}.png"))
