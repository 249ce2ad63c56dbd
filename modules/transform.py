"""tf.Transform `preprocessing_fn`: standardise, tokenise and map words to ids.

Outputs per example:
  source_ids   int64[(source_len)]       word ids of the standardised source
  target_ids   int64[(target_len + 2)]   `[START] words [END]` ids of the target
  source_text, target_text   string      the raw sentences, kept for evaluation
Both vocabularies start with `text.SPECIAL_TOKENS`, so padding is id 0 and unknown
words map to id 1.
"""

import tensorflow as tf
import tensorflow_transform as tft

from modules import text

SOURCE_VOCABULARY = "source_vocab"
TARGET_VOCABULARY = "target_vocab"
# The PipelineConfig fields preprocessing_fn reads: the pipeline passes only these, so that
# changing, say, the model size reuses the cached Transform output.
CONFIG_FIELDS = ("vocab_size", "max_source_tokens", "max_target_tokens", "keep_accents")


def _as_vector(feature: tf.Tensor) -> tf.Tensor:
    """A single-valued string feature, dense `[batch, 1]` from the schema, as `[batch]`."""
    return tf.reshape(feature, [-1])


def _word_ids(tokens: tf.RaggedTensor, vocab_size: int, vocabulary: str) -> tf.RaggedTensor:
    return tft.compute_and_apply_vocabulary(
        tokens,
        top_k=vocab_size - len(text.SPECIAL_TOKENS),
        reserved_tokens=list(text.SPECIAL_TOKENS),
        default_value=text.UNKNOWN_ID,
        vocab_filename=vocabulary,
    )


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    """Maps raw `source`/`target` strings to word ids; see the module docstring.

    custom_config: the `CONFIG_FIELDS` of the pipeline's PipelineConfig (and the code
    fingerprint, which is only there for TFX's cache key).
    """
    vocab_size = custom_config["vocab_size"]
    keep_accents = custom_config["keep_accents"]
    source_text = _as_vector(inputs["source"])
    target_text = _as_vector(inputs["target"])
    source_tokens = text.tokenise(
        source_text, custom_config["max_source_tokens"], keep_accents=keep_accents
    )
    target_tokens = text.tokenise(
        target_text, custom_config["max_target_tokens"] - 2, keep_accents=keep_accents
    )
    target_word_ids = _word_ids(target_tokens, vocab_size, TARGET_VOCABULARY)
    return {
        "source_ids": _word_ids(source_tokens, vocab_size, SOURCE_VOCABULARY),
        "target_ids": text.add_sentence_markers(target_word_ids),
        "source_text": source_text,
        "target_text": target_text,
    }
