"""Subword regularisation (Kudo, 2018): the Trainer reads each training pair cut into a
segmentation sampled from the SentencePiece model, anew every time, from the raw text that
Transform kept. Evaluation and serving keep the most likely pieces, Transform's ids."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from modules.text import subwords, tokenizers, transform
from modules.text.config import TransformConfig


class SegmentationSampler:
    """A parsed example's raw text -> ids of a sampled segmentation, cut as Transform cuts.

    alpha: the smoothing of the sampling distribution over all segmentations (0.1 samples
    widely, larger values stay closer to the most likely one).
    """

    def __init__(self, tft_output: tft.TFTransformOutput, config: TransformConfig, alpha: float):
        source_model, target_model = tokenizers.subword_models(tft_output)
        self._source = subwords.tokenizer_from_model(source_model, alpha)
        self._target = subwords.tokenizer_from_model(target_model, alpha)
        self._config = config

    def __call__(self, example: dict) -> dict:
        """{"source_text", "target_text": string[1]} ->
        {"source_ids": int64[src_len], "target_ids": int64[tgt_len]}, as `data.parse_fn`."""
        source_ids, target_ids = (
            tf.cast(tokenizer.tokenize(subwords.normalise(example[key])), tf.int64)
            for tokenizer, key in ((self._source, "source_text"), (self._target, "target_text"))
        )
        source_ids, target_ids = transform.cut_to_lengths(source_ids, target_ids, self._config)
        return {"source_ids": source_ids.flat_values, "target_ids": target_ids.flat_values}
