"""The exported SavedModel: raw strings in, translations out, nothing but TF + TF Text.

Signatures:
  serving_default  sentences string[batch] -> {"translation": string[batch]} (configured search)
  greedy, beam_search                      -> the same with that search
  attention  sentences -> translation, source_tokens [batch, src_len],
             output_tokens [batch, steps], attention [batch, steps, src_len],
             truncated bool[batch] (the source had more than max_source_tokens words,
             and only the first max_source_tokens were translated)
  evaluate   serialized raw tf.Examples [batch] -> translation, reference, loss (mean
             cross-entropy per target token), target_tokens [batch]; search: eval_decoding
  slice_features  serialized raw tf.Examples [batch] -> source_length_bucket [batch]
The Transform graph (standardisation + vocabulary) runs inside every signature. A sentence
with no word left after standardisation (empty, blank, or only characters the tokenizer
drops) translates to "".
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from modules import decoding, text, transform
from modules.model.seq2seq import Seq2Seq, masked_token_losses
from pipeline.config import PipelineConfig

# Each sentence's output is at most `ratio * source words + offset` tokens long.
MAX_OUTPUT_RATIO = 2
MAX_OUTPUT_OFFSET = 5
_SENTENCES = tf.TensorSpec([None], tf.string, name="sentences")
_EXAMPLES = tf.TensorSpec([None], tf.string, name="examples")
# Upper bounds (in source words) of the evaluation slices; longer sources go to the last.
SOURCE_LENGTH_BUCKETS = (5, 10, 20)


def source_length_bucket(sentences: tf.Tensor) -> tf.Tensor:
    """Raw sentences [batch] -> their word-count bucket [batch]: "01-05" ... "21+"."""
    words = tf.cast(tf.strings.split(sentences).row_lengths(), tf.int32)
    lower = (1, *(upper + 1 for upper in SOURCE_LENGTH_BUCKETS))
    names = [
        f"{low:02d}-{high:02d}" for low, high in zip(lower[:-1], SOURCE_LENGTH_BUCKETS, strict=True)
    ]
    names.append(f"{lower[-1]}+")
    index = tf.searchsorted(tf.constant(SOURCE_LENGTH_BUCKETS, tf.int32), words, side="left")
    return tf.gather(tf.constant(names), index)


def padded_ids(ids: tf.RaggedTensor) -> tf.Tensor:
    """Word ids [batch, (len)] -> [batch, max(1, longest)], 0-padded.

    At least one (padding) step, so that a batch of empty sentences, or an empty batch,
    still runs through the encoder RNN, which cannot run zero steps.
    """
    dense = ids.to_tensor(default_value=text.PAD_ID)
    missing = tf.maximum(1 - tf.shape(dense)[1], 0)
    return tf.pad(dense, [[0, 0], [0, missing]])


def source_ids(tft_layer, sentences: tf.Tensor) -> tf.Tensor:
    """string [batch] -> int64 [batch, src_len] word ids, 0-padded, by the Transform graph's
    `tft_layer` (TFTransformOutput.transform_features_layer())."""
    features = tft_layer({"source": tf.reshape(sentences, [-1, 1])})
    return padded_ids(features["source_ids"])


def strategy_from_config(config: PipelineConfig, decoding_name: str) -> decoding.Strategy:
    if decoding_name == "beam":
        return decoding.BeamSearch(config.beam_width, config.length_penalty)
    if decoding_name == "sampling":
        return decoding.Sampling(temperature=config.temperature)
    return decoding.Greedy()


class Translator(tf.Module):
    """Wraps the trained model, the Transform graph and the target vocabulary."""

    def __init__(self, model: Seq2Seq, tft_output: tft.TFTransformOutput, config: PipelineConfig):
        super().__init__()
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        self._raw_feature_spec = tft_output.raw_feature_spec()
        vocabulary = tft_output.vocabulary_file_by_name(transform.TARGET_VOCABULARY)
        self.target_words = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                vocabulary,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value=text.UNKNOWN_TOKEN,
        )
        self._config = config

    def source_ids(self, sentences):
        return source_ids(self.tft_layer, sentences)

    def search(self, source_ids, strategy: decoding.Strategy) -> decoding.Hypotheses:
        encoder_outputs, source_mask, state = self.model.encode(source_ids, training=False)
        source_lengths = tf.reduce_sum(tf.cast(source_mask, tf.int32), axis=1)
        max_lengths = tf.minimum(
            MAX_OUTPUT_RATIO * source_lengths + MAX_OUTPUT_OFFSET, self._config.max_target_tokens
        )
        return decoding.decode(
            self.model.decoder.step, encoder_outputs, source_mask, state, max_lengths, strategy
        )

    def output_words(self, hypotheses: decoding.Hypotheses) -> tf.RaggedTensor:
        """Best hypotheses -> words [batch, (len)], special tokens dropped."""
        ids = tf.cast(hypotheses.token_ids, tf.int64)
        words = tf.ragged.boolean_mask(ids, ids >= len(text.SPECIAL_TOKENS))
        return tf.ragged.map_flat_values(self.target_words.lookup, words)

    def translations(self, source_ids, hypotheses: decoding.Hypotheses) -> tf.Tensor:
        """Sentences [batch]; "" where the source [batch, src_len] has no word at all."""
        has_words = tf.reduce_any(source_ids != text.PAD_ID, axis=1)
        return tf.where(has_words, text.detokenise(self.output_words(hypotheses)), "")

    def translate(self, sentences, strategy: decoding.Strategy):
        source_ids = self.source_ids(sentences)
        hypotheses = self.search(source_ids, strategy)
        return self.translations(source_ids, hypotheses), hypotheses

    def signatures(self) -> dict:
        config = self._config

        def translation_signature(strategy):
            @tf.function(input_signature=[_SENTENCES])
            def translate(sentences):
                translation, _ = self.translate(sentences, strategy)
                return {"translation": translation}

            return translate

        default_strategy = strategy_from_config(config, config.decoding)

        @tf.function(input_signature=[_SENTENCES])
        def attention(sentences):
            translation, hypotheses = self.translate(sentences, default_strategy)
            words = tf.strings.split(text.standardise(sentences, config.keep_accents))
            source_tokens = words[:, : config.max_source_tokens]
            steps = tf.reduce_max(tf.concat([hypotheses.lengths, [0]], axis=0))
            ids = tf.cast(hypotheses.token_ids[:, :steps], tf.int64)
            return {
                "translation": translation,
                "source_tokens": source_tokens.to_tensor(default_value=""),
                "output_tokens": self.target_words.lookup(ids),
                "attention": hypotheses.attention[:, :steps],
                "truncated": words.row_lengths() > config.max_source_tokens,
            }

        eval_strategy = strategy_from_config(config, config.eval_decoding)

        @tf.function(input_signature=[_EXAMPLES])
        def evaluate(examples):
            raw = tf.io.parse_example(examples, self._raw_feature_spec)
            features = self.tft_layer({"source": raw["source"], "target": raw["target"]})
            source_ids = padded_ids(features["source_ids"])
            target_ids = features["target_ids"].to_tensor(default_value=text.PAD_ID)
            logits = self.model(
                {"source_ids": source_ids, "target_in": target_ids[:, :-1]}, training=False
            )
            losses, mask = masked_token_losses(target_ids[:, 1:], logits)
            target_tokens = tf.reduce_sum(mask, axis=1)
            hypotheses = self.search(source_ids, eval_strategy)
            return {
                "translation": self.translations(source_ids, hypotheses),
                "reference": tf.reshape(raw["target"], [-1]),
                "loss": tf.reduce_sum(losses, axis=1) / target_tokens,
                "target_tokens": target_tokens,
            }

        @tf.function(input_signature=[_EXAMPLES])
        def slice_features(examples):
            raw = tf.io.parse_example(examples, {"source": self._raw_feature_spec["source"]})
            return {"source_length_bucket": source_length_bucket(tf.reshape(raw["source"], [-1]))}

        return {
            "serving_default": translation_signature(default_strategy),
            "greedy": translation_signature(strategy_from_config(config, "greedy")),
            "beam_search": translation_signature(strategy_from_config(config, "beam")),
            "attention": attention,
            "evaluate": evaluate,
            "slice_features": slice_features,
        }


def save(model: Seq2Seq, tft_output, config: PipelineConfig, export_dir: str) -> None:
    """Writes the string-in/string-out SavedModel to `export_dir`."""
    translator = Translator(model, tft_output, config)
    tf.saved_model.save(translator, export_dir, signatures=translator.signatures())
