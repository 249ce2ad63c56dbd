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

from modules import signatures, text
from modules.transform_config import TransformConfig

SOURCE_VOCABULARY = "source_vocab"
TARGET_VOCABULARY = "target_vocab"
# preprocessing_fn's `custom_config` holds only a TransformConfig under this key (and the
# code fingerprint), so that changing, say, the model size reuses the cached output.
CUSTOM_CONFIG_KEY = "transform"


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

    custom_config: a TransformConfig's fields under `CUSTOM_CONFIG_KEY` (and the code
    fingerprint, which is only there for TFX's cache key).
    """
    config = TransformConfig.from_dict(custom_config[CUSTOM_CONFIG_KEY])
    source_text = _as_vector(inputs[signatures.SOURCE_FEATURE])
    target_text = _as_vector(inputs[signatures.TARGET_FEATURE])
    source_tokens = text.tokenise(
        source_text, config.max_source_tokens, keep_accents=config.keep_accents
    )
    target_tokens = text.tokenise(
        target_text, config.max_target_tokens - 2, keep_accents=config.keep_accents
    )
    target_word_ids = _word_ids(target_tokens, config.vocab_size, TARGET_VOCABULARY)
    return {
        "source_ids": _word_ids(source_tokens, config.vocab_size, SOURCE_VOCABULARY),
        "target_ids": text.add_sentence_markers(target_word_ids),
        "source_text": source_text,
        "target_text": target_text,
    }
