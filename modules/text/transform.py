"""tf.Transform `preprocessing_fn`: raw sentences to token ids, by the configured tokenizer.

Outputs per example:
  source_ids   int64[(source_len)]       token ids of the source
  target_ids   int64[(target_len + 2)]   `[START] tokens [END]` ids of the target
  source_text, target_text   string      the raw sentences, kept for evaluation
Every vocabulary starts with `words.SPECIAL_TOKENS`, so padding is id 0 and unknown tokens
(word tokenizer only: sentencepiece spells unknown characters as bytes) map to id 1.

The vocabularies are assets of the Transform output, found by name through
`TFTransformOutput.vocabulary_file_by_name`: `SOURCE_VOCABULARY` and `TARGET_VOCABULARY`
(one token per line, line number = id) for both tokenizers, and with sentencepiece the
models, `SOURCE_MODEL` and `TARGET_MODEL` (the same files when the vocabulary is shared).
"""

import tensorflow as tf
import tensorflow_transform as tft

from modules import signatures
from modules.text import subwords, words
from modules.text.config import TransformConfig

SOURCE_VOCABULARY = "source_vocab"
TARGET_VOCABULARY = "target_vocab"
SOURCE_MODEL = "source_sentencepiece_model"
TARGET_MODEL = "target_sentencepiece_model"
# preprocessing_fn's `custom_config` holds only a TransformConfig under this key (and the
# code fingerprint), so that changing, say, the model size reuses the cached output.
CUSTOM_CONFIG_KEY = "transform"


def _as_vector(feature: tf.Tensor) -> tf.Tensor:
    """A single-valued string feature, dense `[batch, 1]` from the schema, as `[batch]`."""
    return tf.reshape(feature, [-1])


def _word_ids(tokens: tf.RaggedTensor, vocab_size: int, vocabulary: str) -> tf.RaggedTensor:
    return tft.compute_and_apply_vocabulary(
        tokens,
        top_k=vocab_size - len(words.SPECIAL_TOKENS),
        reserved_tokens=list(words.SPECIAL_TOKENS),
        default_value=words.UNKNOWN_ID,
        vocab_filename=vocabulary,
    )


def word_ids(source_text, target_text, config: TransformConfig):
    """The tutorial's words: string[batch] x 2 -> ids int64[batch, (len)] x 2, uncut."""
    source_words = words.tokenise(source_text, config.max_source_tokens, config.keep_accents)
    target_words = words.tokenise(target_text, config.max_target_tokens - 2, config.keep_accents)
    return (
        _word_ids(source_words, config.vocab_size, SOURCE_VOCABULARY),
        _word_ids(target_words, config.vocab_size, TARGET_VOCABULARY),
    )


def subword_ids(source_text, target_text, config: TransformConfig):
    """SentencePiece pieces: string[batch] x 2 -> ids int64[batch, (len)] x 2, uncut."""
    source, target = subwords.normalise(source_text), subwords.normalise(target_text)

    def learn(sentences, name):
        return subwords.learn_model(sentences, name, config.vocab_size, config.sentencepiece_sample)

    if config.shared_vocabulary:
        source_model = target_model = learn([source, target], "shared")
    else:
        source_model, target_model = learn([source], "source"), learn([target], "target")
    for model, vocabulary, model_name in (
        (source_model, SOURCE_VOCABULARY, SOURCE_MODEL),
        (target_model, TARGET_VOCABULARY, TARGET_MODEL),
    ):
        tft.annotate_asset(vocabulary, model.pieces_file)
        tft.annotate_asset(model_name, model.model_file)
    return source_model.tokenise(source), target_model.tokenise(target)


def cut_to_lengths(source_ids, target_ids, config: TransformConfig):
    """Uncut ids int64[batch, (len)] x 2 -> the model's: at most `max_source_tokens` source
    ids, and `[START]` + at most `max_target_tokens` - 2 target ids + `[END]`."""
    return (
        source_ids[:, : config.max_source_tokens],
        words.add_sentence_markers(target_ids[:, : config.max_target_tokens - 2]),
    )


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    """Maps raw `source`/`target` strings to token ids; see the module docstring.

    custom_config: a TransformConfig's fields under `CUSTOM_CONFIG_KEY` (and the code
    fingerprint, which is only there for TFX's cache key).
    """
    config = TransformConfig.from_dict(custom_config[CUSTOM_CONFIG_KEY])
    source_text = _as_vector(inputs[signatures.SOURCE_FEATURE])
    target_text = _as_vector(inputs[signatures.TARGET_FEATURE])
    to_ids = subword_ids if config.tokenizer == "sentencepiece" else word_ids
    source_ids, target_ids = cut_to_lengths(*to_ids(source_text, target_text, config), config)
    return {
        "source_ids": source_ids,
        "target_ids": target_ids,
        "source_text": source_text,
        "target_text": target_text,
    }
