"""SentencePiece text handling: the normalisation, exact round trips, clear training errors."""

import pytest
import sentencepiece
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from modules.text import subwords, words
from modules.text.config import MIN_SENTENCEPIECE_VOCAB
from tests.helpers import REAL_TEXT_PAIRS, synthetic_corpus

SENTENCES = [s for line in synthetic_corpus() for s in line.split("\t")]
SENTENCES += [s for pair in REAL_TEXT_PAIRS for s in pair]


def _normalised(sentence: str) -> str:
    return subwords.normalise(tf.constant(sentence)).numpy().decode("utf-8")


@pytest.fixture(scope="module")
def tokenizer():
    return subwords.tokenizer_from_model(subwords.train_model(SENTENCES, 320))


def test_normalise_keeps_case_accents_and_punctuation():
    assert _normalised("¿Qué HORA es? I'm «here»!") == "¿Qué HORA es? I'm «here»!"


def test_normalise_is_nfkc_and_makes_all_whitespace_one_space():
    decomposed = "Que\u0301"
    assert _normalised(decomposed) == "Qué"
    assert _normalised("ﬁne ＡＢＣ") == "fine ABC"  # compatibility forms
    assert _normalised("  a \t\n b\u00a0\u3000c\u2581d  ") == "a b c d"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=4))
def test_detokenise_tokenise_is_the_identity_on_normalised_text(tokenizer, sentences):
    normalised = subwords.normalise(tf.constant(sentences, dtype=tf.string))
    ids = tokenizer.tokenize(normalised)
    assert tokenizer.detokenize(ids).numpy().tolist() == normalised.numpy().tolist()
    # Byte fallback: no character is unknown, and no text forges a special token.
    assert not set(ids.flat_values.numpy().tolist()) & set(range(len(words.SPECIAL_TOKENS)))


def test_text_that_looks_like_special_tokens_is_text(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["[END] <0x41> [START]"]))
    assert words.END_ID not in ids.flat_values.numpy()
    assert tokenizer.detokenize(ids).numpy()[0].decode() == "[END] <0x41> [START]"


def test_special_tokens_have_the_reserved_ids():
    model = subwords.train_model(SENTENCES, 320)
    assert tuple(subwords.model_pieces(model)[: len(words.SPECIAL_TOKENS)]) == words.SPECIAL_TOKENS
    assert len(subwords.model_pieces(model)) == 320
    processor = sentencepiece.SentencePieceProcessor(model_proto=model)
    assert processor.pad_id() == words.PAD_ID and processor.unk_id() == words.UNKNOWN_ID


def test_the_same_sentences_give_the_same_model_bytes():
    assert subwords.train_model(SENTENCES, 320) == subwords.train_model(SENTENCES, 320)


def test_no_text_to_learn_from_names_the_data():
    with pytest.raises(ValueError, match="empty after filtering.*data_root"):
        subwords.train_model(["", ""], 320)


def test_vocab_size_is_an_upper_bound_text_too_small_for_it_gives_fewer_pieces():
    pieces = subwords.model_pieces(subwords.train_model(SENTENCES[:20], 2000))
    assert MIN_SENTENCEPIECE_VOCAB < len(pieces) < 2000
    assert pieces[: len(words.SPECIAL_TOKENS)] == list(words.SPECIAL_TOKENS)


def test_a_vocabulary_too_small_for_the_characters_says_raise_it():
    with pytest.raises(ValueError, match=r"need \d+: raise vocab_size"):
        subwords.train_model(SENTENCES, 262)
