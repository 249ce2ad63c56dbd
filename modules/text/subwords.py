"""SentencePiece subwords, learned inside Transform and applied in-graph everywhere.

`learn_model` is a tf.Transform analyzer: Beam draws a bounded, deterministic sample of the
training sentences (the `sample_size` with the smallest hashes, so re-runs learn the same
model), and the `sentencepiece` package trains a unigram model from it on one worker. The
model file and its piece list (one piece per line, line number = id) become assets of the
Transform output. The Transform graph tokenises with `tensorflow_text.SentencepieceTokenizer`,
whose model is a graph *attribute*: the bytes are read when tf.Transform traces its final
graph, in which analyzer outputs are constants (tensorflow-transform 1.16 behaviour, pinned,
and guarded by Transform end to end in tests/test_real_text.py and the tiny pipeline's
tests). The exported model reads the same file.

Text is kept as written (case, accents, punctuation); `normalise` is the one rule applied
before tokenising, in training and serving alike. Ids 0-3 are the special tokens of
`modules.text.words` and `byte_fallback` spells any character the model lacks as UTF-8 bytes, so
no input is ever unknown and `detokenise(tokenise(s)) == s` for every normalised `s`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import uuid

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam

from modules.text import words

MODEL_SUFFIX = "_sentencepiece.model"
PIECES_SUFFIX = "_sentencepiece.pieces"
# Rare characters (the last 0.05%) are left to byte pieces rather than given their own.
CHARACTER_COVERAGE = 0.9995
# Whitespace of any kind (tabs, line breaks, Unicode spaces, SentencePiece's own U+2581).
_WHITESPACE = r"[\s\p{Z}\x{2581}]+"


def normalise(sentences: tf.Tensor) -> tf.Tensor:
    """NFKC, every run of whitespace as one space, no leading or trailing space.

    string[...] -> string[...]. Case, accents, punctuation and symbols are kept.
    U+2581, SentencePiece's mark for a space, counts as whitespace.
    """
    sentences = tf_text.normalize_utf8(sentences, "NFKC")
    sentences = tf.strings.regex_replace(sentences, _WHITESPACE, " ")
    return tf.strings.strip(sentences)


def training_options(vocab_size: int, rule_file: str) -> dict:
    """The `sentencepiece` trainer's options: unigram, text as given (already normalised),
    byte fallback, the special tokens at the ids `modules.text.words` reserves, and `vocab_size`
    as an upper bound (as for the word vocabulary): text too small for it gives fewer pieces.

    `rule_file` holds the model's own normalisation rule: U+2581 -> space, which `normalise`
    has already done, so it changes nothing; it stands in for the "identity" rule, whose
    empty rule table makes TF Text log a line each time it loads the model.
    """
    return dict(
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=CHARACTER_COVERAGE,
        byte_fallback=True,
        normalization_rule_tsv=rule_file,
        pad_id=words.PAD_ID,
        unk_id=words.UNKNOWN_ID,
        bos_id=words.START_ID,
        eos_id=words.END_ID,
        pad_piece=words.PAD_TOKEN,
        unk_piece=words.UNKNOWN_TOKEN,
        bos_piece=words.START_TOKEN,
        eos_piece=words.END_TOKEN,
        num_threads=os.cpu_count() or 1,
        minloglevel=2,
    )


def _rule_file() -> str:
    """The normalisation rule of `training_options`, as a file; its path is recorded in the
    model, so it is the same on every run (and the same sentences give the same bytes)."""
    path = os.path.join(tempfile.gettempdir(), "nmt_tfx_sentencepiece_rule.tsv")
    with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), delete=False) as rule:
        rule.write("2581\t20\n")
    os.replace(rule.name, path)
    return path


def train_model(sentences: list[str], vocab_size: int) -> bytes:
    """A serialized unigram model learned from normalised `sentences`.

    Raises ValueError naming what to change when there is no text to learn from or
    `vocab_size` is too small for its characters.
    """
    import sentencepiece

    if not any(sentences):
        raise ValueError(
            "SentencePiece has no sentence to learn from: the train split is empty after "
            "filtering; check data_root and the TsvExampleGen report of rejected lines"
        )
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            **training_options(vocab_size, _rule_file()),
        )
    except RuntimeError as error:
        raise ValueError(
            f"SentencePiece cannot learn vocab_size={vocab_size} pieces from "
            f"{len(sentences):,} sampled sentences: {_advice(str(error))} "
            f"(sentencepiece: {error})"
        ) from error
    return model.getvalue()


def _advice(error: str) -> str:
    """What to change, from the `sentencepiece` trainer's message."""
    too_low = re.search(r"smaller than required_chars\. \d+ vs (\d+)", error)
    if too_low:
        return f"its characters and special pieces alone need {too_low.group(1)}: raise vocab_size"
    return "change vocab_size"


def model_pieces(model: bytes) -> list[str]:
    """The pieces of a serialized model, in id order."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_proto=model)
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def _sort_key(sentence: bytes) -> bytes:
    return hashlib.blake2b(sentence, digest_size=8).digest()


class _LearnModel(tft_beam.experimental.PTransformAnalyzer):
    """Batches of sentences -> paths of the learned model file and of its piece list."""

    def __init__(self, name: str, vocab_size: int, sample_size: int):
        super().__init__()
        self._name = name
        self._vocab_size = vocab_size
        self._sample_size = sample_size

    def _write(self, sample: list[bytes]) -> tuple[str, str]:
        sentences = sorted(sentence.decode("utf-8") for sentence in sample)
        model = train_model(sentences, self._vocab_size)
        directory = os.path.join(self.base_temp_dir, uuid.uuid4().hex)
        tf.io.gfile.makedirs(directory)
        model_path = os.path.join(directory, self._name + MODEL_SUFFIX)
        pieces_path = os.path.join(directory, self._name + PIECES_SUFFIX)
        with tf.io.gfile.GFile(model_path, "wb") as model_file:
            model_file.write(model)
        with tf.io.gfile.GFile(pieces_path, "w") as pieces_file:
            pieces_file.write("".join(piece + "\n" for piece in model_pieces(model)))
        return model_path, pieces_path

    def expand(self, batches):
        written = (
            batches
            | "Sentences" >> beam.FlatMap(lambda batch: [s for column in batch for s in column])
            | "NonEmpty" >> beam.Filter(bool)
            | "Sample" >> beam.combiners.Top.Of(self._sample_size, key=_sort_key, reverse=True)
            | "Train" >> beam.Map(self._write)
        )
        return tuple(
            written | f"Path{index}" >> beam.Map(lambda paths, i=index: np.array(paths[i].encode()))
            for index in range(2)
        )


class SubwordModel:
    """One learned SentencePiece model as the Transform graph sees it.

    `model_file` and `pieces_file` are the asset names in the Transform output's assets/.
    """

    def __init__(self, name: str, model_path: tf.Tensor):
        self.model_file = name + MODEL_SUFFIX
        self.pieces_file = name + PIECES_SUFFIX
        self._model_path = model_path

    def tokenise(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        """Normalised string[batch] -> piece ids int64[batch, (pieces)].

        While tf.Transform traces the graph to analyse the data the model does not exist
        yet; the ids are then the characters' code points, which only stand in for the
        output's type and shape.
        """
        model = self._model_bytes()
        if not model:
            return tf.cast(tf.strings.unicode_decode(sentences, "UTF-8"), tf.int64)
        return tf.cast(tokenizer_from_model(model).tokenize(sentences), tf.int64)

    def _model_bytes(self) -> bytes:
        """The model file's bytes once learned; b"" while tf.Transform analyses, when the
        path is unknown or names the analyzer's empty stand-in file."""
        path = tf.get_static_value(self._model_path)
        if path is None:
            return b""
        with tf.io.gfile.GFile(np.asarray(path).item().decode(), "rb") as model_file:
            return model_file.read()


def tokenizer_from_model(
    model: bytes, sampling_alpha: float = 0.0
) -> tf_text.SentencepieceTokenizer:
    """The in-graph tokenizer of a serialized model: the most likely pieces, or with
    `sampling_alpha` > 0 a segmentation sampled from all of them (subword regularisation,
    smoothing alpha; unseeded: TF Text's op takes no seed)."""
    if not sampling_alpha:
        return tf_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
    return tf_text.SentencepieceTokenizer(
        model=model, out_type=tf.int32, nbest_size=-1, alpha=sampling_alpha
    )


def learn_model(
    sentences: list[tf.Tensor], name: str, vocab_size: int, sample_size: int
) -> SubwordModel:
    """Learns one model from the normalised string[batch] tensors `sentences` (analyzer).

    `name` names the asset files; at most `sample_size` sentences are learned from.
    """
    # The piece list is an asset of the output all the same; transform.py names it.
    model_path, _pieces_path = tft.experimental.ptransform_analyzer(
        inputs=sentences,
        ptransform=_LearnModel(name, vocab_size, sample_size),
        output_dtypes=[tf.string, tf.string],
        output_shapes=[[], []],
        output_asset_default_values=[b"", b""],
        name=f"{name}_sentencepiece",
    )
    return SubwordModel(name, model_path)
