"""Text standardisation shared by the Transform graph and the exported model.

This is the one copy of the rules: `preprocessing_fn` applies them to training data and
the serving signature applies them to raw requests, so the two can never drift apart.
All functions take and return `tf.string` tensors of any shape and run in-graph.
"""

import tensorflow as tf
import tensorflow_text as tf_text

PAD_TOKEN = "[PAD]"
UNKNOWN_TOKEN = "[UNK]"
START_TOKEN = "[START]"
END_TOKEN = "[END]"
# Reserved at the head of every vocabulary, so their ids are fixed: PAD=0, UNK=1, ...
SPECIAL_TOKENS = (PAD_TOKEN, UNKNOWN_TOKEN, START_TOKEN, END_TOKEN)
PAD_ID, UNKNOWN_ID, START_ID, END_ID = range(len(SPECIAL_TOKENS))

PUNCTUATION = ".?!,¿"

_PUNCTUATION_CLASS = "[" + PUNCTUATION + "]"


def standardise(text: tf.Tensor, keep_accents: bool = False) -> tf.Tensor:
    """Lower-cases `text`, keeps letters and `. ? ! , ¿`, and spaces out the punctuation.

    With `keep_accents=False` this is the classic TF "NMT with attention" tutorial's rule:
    NFKD-decompose, so accents become separate marks, then keep only ASCII `a-z`.
    With `keep_accents=True` it composes (NFC) and keeps every Unicode letter, so output in
    a language such as Spanish can keep its accents.
    """
    if keep_accents:
        text = tf_text.normalize_utf8(text, "NFC")
        letters = r"\p{L}"
    else:
        text = tf_text.normalize_utf8(text, "NFKD")
        letters = "a-z"
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, rf"[^ {letters}{PUNCTUATION}]", "")
    text = tf.strings.regex_replace(text, _PUNCTUATION_CLASS, r" \0 ")
    text = tf.strings.regex_replace(text, " +", " ")
    return tf.strings.strip(text)


def tokenise(text: tf.Tensor, max_tokens: int, keep_accents: bool = False) -> tf.RaggedTensor:
    """`tf.string[batch]` -> standardised words `tf.RaggedTensor[batch, (<= max_tokens)]`."""
    return tf.strings.split(standardise(text, keep_accents))[:, :max_tokens]


def add_sentence_markers(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """Wraps each row in `[START] ... [END]`: the tokens for strings, their ids for integers.

    `tokens` is `[batch, (len)]`; the result is `[batch, (len + 2)]`.
    """
    if tokens.dtype == tf.string:
        start, end = START_TOKEN, END_TOKEN
    else:
        start, end = tf.cast(START_ID, tokens.dtype), tf.cast(END_ID, tokens.dtype)
    batch = tokens.nrows()
    return tf.concat([tf.fill([batch, 1], start), tokens, tf.fill([batch, 1], end)], axis=1)


def detokenise(tokens: tf.RaggedTensor) -> tf.Tensor:
    """Words `[batch, (len)]` -> sentences `[batch]`, punctuation re-attached.

    `["¿", "que", "hora", "es", "?"]` -> `"¿que hora es?"`.
    """
    sentences = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    sentences = tf.strings.regex_replace(sentences, r" ([.?!,])", r"\1")
    return tf.strings.regex_replace(sentences, r"([¿]) ", r"\1")
