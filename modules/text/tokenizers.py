"""Ids back to text in the exported model, for each tokenizer (modules/text/transform.py turns
text into ids): the sentences a search's ids spell, and the tokens the attention plots show.

Both read the vocabularies and models Transform wrote as assets, so serving uses exactly
what training used.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from modules.text import subwords, transform, words
from modules.text.config import TransformConfig


def _asset(tft_output: tft.TFTransformOutput, name: str) -> str:
    path = tft_output.vocabulary_file_by_name(name)
    if not path:
        raise FileNotFoundError(
            f"the Transform output {tft_output.transform_savedmodel_dir} has no asset {name!r}: "
            "was it made with another tokenizer setting?"
        )
    return path


class _OutputText(tf.Module):
    """What both tokenizers share: the target vocabulary as a lookup table id -> token."""

    def __init__(self, tft_output: tft.TFTransformOutput):
        super().__init__()
        self.target_vocabulary = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                _asset(tft_output, transform.TARGET_VOCABULARY),
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value=words.UNKNOWN_TOKEN,
        )

    def target_tokens(self, ids: tf.Tensor) -> tf.Tensor:
        """Target ids int64[...] -> their tokens string[...] (special tokens included)."""
        return self.target_vocabulary.lookup(ids)


class WordText(_OutputText):
    """The tutorial's words: lower-case, re-joined with the punctuation attached."""

    def __init__(self, tft_output: tft.TFTransformOutput, config: TransformConfig):
        super().__init__(tft_output)
        self._keep_accents = config.keep_accents

    def source_tokens(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        """Raw string[batch] -> the words Transform makes of them [batch, (words)], uncut."""
        return tf.strings.split(words.standardise(sentences, self._keep_accents))

    def sentences(self, ids: tf.RaggedTensor) -> tf.Tensor:
        """Target ids [batch, (len)], no special tokens -> string[batch]."""
        return words.detokenise(tf.ragged.map_flat_values(self.target_tokens, ids))


class SubwordText(_OutputText):
    """SentencePiece pieces, decoded exactly by the model Transform learned."""

    def __init__(self, tft_output: tft.TFTransformOutput):
        super().__init__(tft_output)
        source_model, target_model = subword_models(tft_output)
        self.source_model = subwords.tokenizer_from_model(source_model)
        self.target_model = subwords.tokenizer_from_model(target_model)

    def source_tokens(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        """Raw string[batch] -> the pieces Transform makes of them [batch, (pieces)], uncut."""
        ids = self.source_model.tokenize(subwords.normalise(sentences))
        return self.source_model.id_to_string(ids)

    def sentences(self, ids: tf.RaggedTensor) -> tf.Tensor:
        """Target ids [batch, (len)], no special tokens -> string[batch]."""
        return self.target_model.detokenize(tf.cast(ids, tf.int32))


def _read(path: str) -> bytes:
    with tf.io.gfile.GFile(path, "rb") as model_file:
        return model_file.read()


def subword_models(tft_output: tft.TFTransformOutput) -> tuple[bytes, bytes]:
    """The serialized (source, target) SentencePiece models Transform learned."""
    return tuple(
        _read(_asset(tft_output, name)) for name in (transform.SOURCE_MODEL, transform.TARGET_MODEL)
    )


def output_text(tft_output: tft.TFTransformOutput, config: TransformConfig):
    """The WordText or SubwordText that `config.tokenizer` names."""
    if config.tokenizer == "sentencepiece":
        return SubwordText(tft_output)
    return WordText(tft_output, config)
