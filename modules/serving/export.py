"""The exported SavedModel: raw strings in, translations out, nothing but TF + TF Text.

The signatures and their keys are the contract in `modules/signatures.py`: translation
by the configured search (`serving_default`) or a named one, the attention behind it,
and, for the Evaluator, translation and loss of raw tf.Examples and their slice features.
The Transform graph (normalisation, tokenizer, vocabulary) runs inside every signature and
`modules/text/tokenizers.py` turns ids back into text. A sentence with no token (empty, blank,
or, with the word tokenizer, only characters it drops) translates to "".
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from modules import signatures
from modules.model.losses import masked_token_losses
from modules.model.translation_model import TranslationModel
from modules.serving import decoding
from modules.serving.config import DecodingConfig
from modules.text import tokenizers, words
from modules.text.config import TransformConfig

# Each sentence's output is at most `ratio * source tokens + offset` tokens long.
MAX_OUTPUT_RATIO = 2
MAX_OUTPUT_OFFSET = 5
_SENTENCES = tf.TensorSpec([None], tf.string, name=signatures.SENTENCES)
_EXAMPLES = tf.TensorSpec([None], tf.string, name=signatures.EXAMPLES)
# Upper bounds (in source words) of the evaluation slices; longer sources go to the last.
SOURCE_LENGTH_BUCKETS = (5, 10, 20)


def source_length_bucket(sentences: tf.Tensor) -> tf.Tensor:
    """Raw sentences [batch] -> their word-count bucket [batch]: "01-05" ... "21+"."""
    word_counts = tf.cast(tf.strings.split(sentences).row_lengths(), tf.int32)
    lower = (1, *(upper + 1 for upper in SOURCE_LENGTH_BUCKETS))
    names = [
        f"{low:02d}-{high:02d}" for low, high in zip(lower[:-1], SOURCE_LENGTH_BUCKETS, strict=True)
    ]
    names.append(f"{lower[-1]}+")
    index = tf.searchsorted(tf.constant(SOURCE_LENGTH_BUCKETS, tf.int32), word_counts, side="left")
    return tf.gather(tf.constant(names), index)


def padded_ids(ids: tf.RaggedTensor) -> tf.Tensor:
    """Token ids [batch, (len)] -> [batch, max(1, longest)], 0-padded.

    At least one (padding) step, so that a batch of empty sentences, or an empty batch,
    still runs through the encoder RNN, which cannot run zero steps.
    """
    dense = ids.to_tensor(default_value=words.PAD_ID)
    missing = tf.maximum(1 - tf.shape(dense)[1], 0)
    return tf.pad(dense, [[0, 0], [0, missing]])


def source_ids(tft_layer, sentences: tf.Tensor) -> tf.Tensor:
    """string [batch] -> int64 [batch, src_len] token ids, 0-padded, by the Transform graph's
    `tft_layer` (TFTransformOutput.transform_features_layer())."""
    features = tft_layer({signatures.SOURCE_FEATURE: tf.reshape(sentences, [-1, 1])})
    return padded_ids(features["source_ids"])


class Translator(tf.Module):
    """Wraps the trained model, the Transform graph and the target vocabulary;
    `text_config` says how Transform cut sentences, `decoding_config` how to search."""

    def __init__(
        self,
        model: TranslationModel,
        tft_output: tft.TFTransformOutput,
        text_config: TransformConfig,
        decoding_config: DecodingConfig,
    ):
        super().__init__()
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        self._raw_feature_spec = tft_output.raw_feature_spec()
        self.output_text = tokenizers.output_text(tft_output, text_config)
        self._text_config = text_config
        self._decoding_config = decoding_config

    def _search(self, name: str) -> decoding.Search:
        return decoding.search_from_config(self._decoding_config, name)

    def source_ids(self, sentences):
        return source_ids(self.tft_layer, sentences)

    def search(self, source_ids, search: decoding.Search) -> decoding.Hypotheses:
        memory, state = self.model.encode(source_ids, training=False)
        source_lengths = tf.reduce_sum(tf.cast(memory.mask, tf.int32), axis=1)
        max_lengths = tf.minimum(
            MAX_OUTPUT_RATIO * source_lengths + MAX_OUTPUT_OFFSET,
            self._text_config.max_target_tokens,
        )
        return decoding.decode(
            self.model.decoder.step, memory, memory.mask, state, max_lengths, search
        )

    def translations(self, source_ids, hypotheses: decoding.Hypotheses) -> tf.Tensor:
        """Sentences [batch] of the best hypotheses, special tokens dropped; "" where the
        source [batch, src_len] has no token at all."""
        ids = tf.cast(hypotheses.token_ids, tf.int64)
        ids = tf.ragged.boolean_mask(ids, ids >= len(words.SPECIAL_TOKENS))
        has_tokens = tf.reduce_any(source_ids != words.PAD_ID, axis=1)
        return tf.where(has_tokens, self.output_text.sentences(ids), "")

    def translate(self, sentences, search: decoding.Search):
        source_ids = self.source_ids(sentences)
        hypotheses = self.search(source_ids, search)
        return self.translations(source_ids, hypotheses), hypotheses

    # ------------------------------------------------------------------ signatures
    def serving_signatures(self) -> dict:
        """What clients call: translations by each search, and the attention behind them."""
        default_search = self._search(self._decoding_config.decoding)
        max_source_tokens = self._text_config.max_source_tokens

        def translation_signature(search):
            @tf.function(input_signature=[_SENTENCES])
            def translate(sentences):
                translation, _ = self.translate(sentences, search)
                return {signatures.TRANSLATION: translation}

            return translate

        @tf.function(input_signature=[_SENTENCES])
        def attention(sentences):
            translation, hypotheses = self.translate(sentences, default_search)
            tokens = self.output_text.source_tokens(sentences)
            steps = tf.reduce_max(tf.concat([hypotheses.lengths, [0]], axis=0))
            ids = tf.cast(hypotheses.token_ids[:, :steps], tf.int64)
            return {
                signatures.TRANSLATION: translation,
                signatures.SOURCE_TOKENS: tokens[:, :max_source_tokens].to_tensor(default_value=""),
                signatures.OUTPUT_TOKENS: self.output_text.target_tokens(ids),
                signatures.ATTENTION_WEIGHTS: hypotheses.attention[:, :steps],
                signatures.TRUNCATED: tokens.row_lengths() > max_source_tokens,
            }

        return {
            signatures.SERVING_DEFAULT: translation_signature(default_search),
            **{
                signature: translation_signature(self._search(name))
                for name, signature in signatures.SEARCH_SIGNATURES.items()
            },
            signatures.ATTENTION: attention,
        }

    def evaluation_signatures(self) -> dict:
        """What the Evaluator calls on raw tf.Examples: translations, loss, slice features."""
        eval_search = self._search(self._decoding_config.eval_decoding)
        source, target = signatures.SOURCE_FEATURE, signatures.TARGET_FEATURE

        @tf.function(input_signature=[_EXAMPLES])
        def evaluate(examples):
            raw = tf.io.parse_example(examples, self._raw_feature_spec)
            features = self.tft_layer({source: raw[source], target: raw[target]})
            source_ids = padded_ids(features["source_ids"])
            target_ids = features["target_ids"].to_tensor(default_value=words.PAD_ID)
            logits = self.model(
                {"source_ids": source_ids, "target_in": target_ids[:, :-1]}, training=False
            )
            losses, mask = masked_token_losses(target_ids[:, 1:], logits)
            target_tokens = tf.reduce_sum(mask, axis=1)
            hypotheses = self.search(source_ids, eval_search)
            return {
                signatures.TRANSLATION: self.translations(source_ids, hypotheses),
                signatures.REFERENCE: tf.reshape(raw[target], [-1]),
                signatures.LOSS: tf.reduce_sum(losses, axis=1) / target_tokens,
                signatures.TARGET_TOKENS: target_tokens,
            }

        @tf.function(input_signature=[_EXAMPLES])
        def slice_features(examples):
            raw = tf.io.parse_example(examples, {source: self._raw_feature_spec[source]})
            buckets = source_length_bucket(tf.reshape(raw[source], [-1]))
            return {signatures.SOURCE_LENGTH_BUCKET: buckets}

        return {signatures.EVALUATE: evaluate, signatures.SLICE_FEATURES: slice_features}


def save(
    model: TranslationModel,
    tft_output: tft.TFTransformOutput,
    text_config: TransformConfig,
    decoding_config: DecodingConfig,
    export_dir: str,
) -> None:
    """Writes the string-in/string-out SavedModel to `export_dir`."""
    translator = Translator(model, tft_output, text_config, decoding_config)
    tf.saved_model.save(
        translator,
        export_dir,
        signatures={**translator.serving_signatures(), **translator.evaluation_signatures()},
    )
