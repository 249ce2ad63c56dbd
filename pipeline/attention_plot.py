"""Attention heat-maps from the `attention` signature, drawn as the tutorial's
`plot_attention` draws them: the source pieces across, the output pieces down."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from modules import signatures  # noqa: E402
from modules.text import words  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Attended:
    """One sentence's search: its source pieces, the pieces written (up to [END]), and the
    weights [output pieces, source pieces]."""

    source_tokens: list[str]
    output_tokens: list[str]
    weights: np.ndarray


def attend(model, sentences: list[bytes]) -> list[Attended]:
    """The `attention` signature of a loaded SavedModel on `sentences`, one per sentence."""
    import tensorflow as tf

    outputs = model.signatures[signatures.ATTENTION](
        **{signatures.SENTENCES: tf.constant(sentences, tf.string, [len(sentences)])}
    )
    sources, written, weights = (
        outputs[key].numpy()
        for key in (
            signatures.SOURCE_TOKENS,
            signatures.OUTPUT_TOKENS,
            signatures.ATTENTION_WEIGHTS,
        )
    )
    attended = []
    for source_row, output_row, weight_rows in zip(sources, written, weights, strict=True):
        source = [token.decode() for token in source_row if token]
        output = [token.decode() for token in output_row]
        if words.END_TOKEN in output:
            output = output[: output.index(words.END_TOKEN) + 1]
        if not source:  # nothing was translated (the translation is "")
            output = []
        attended.append(Attended(source, output, weight_rows[: len(output), : len(source)]))
    return attended


def figure(attended: Attended):
    """The heat-map of one sentence (a matplotlib Figure; close it when done)."""
    source, output = attended.source_tokens, attended.output_tokens
    size = (max(3.0, 1 + 0.5 * len(source)), max(2.0, 1 + 0.4 * len(output)))
    drawn, axes = plt.subplots(figsize=size)
    if source:
        axes.imshow(attended.weights, cmap="viridis", vmin=0.0, vmax=1.0)
    else:
        axes.set_title("no source tokens")
    axes.set_xticks(range(len(source)), source, rotation=90)
    axes.set_yticks(range(len(output)), output)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    drawn.tight_layout()
    return drawn


def save(attended: Attended, path: str) -> None:
    """Writes the heat-map of one sentence to a PNG file."""
    drawn = figure(attended)
    drawn.savefig(path, format="png", dpi=90)
    plt.close(drawn)
