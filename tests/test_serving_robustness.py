"""The pushed model never falls over: odd inputs, huge batches, concurrent callers."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tensorflow as tf

from modules.serving import export
from modules.text import words

ODD_INPUTS = [
    "",
    "   \t  ",
    "?",
    "¡!",
    "palabra " * 1250,  # 10,000 characters
    "Привет, как дела?",
    "日本語の文です。",
    "🙂🙃🚀",
    "zxqw blorf snarp",
    "[START] [END] [PAD] [UNK]",
    "\x00\x01 control",
]


@pytest.fixture(scope="module")
def serving_model(tiny_pipeline_run, pushed_model):
    config, _ = tiny_pipeline_run
    return config, pushed_model


def _translate(model, sentences, signature="serving_default"):
    batch = tf.constant(sentences, dtype=tf.string, shape=[len(sentences)])
    translations = model.signatures[signature](sentences=batch)["translation"]
    return [t.decode() for t in translations.numpy()]


@pytest.mark.parametrize("signature", ["serving_default", "greedy", "beam_search"])
def test_odd_inputs_translate_to_bounded_clean_strings(serving_model, signature):
    config, model = serving_model
    started = time.perf_counter()
    translations = _translate(model, ODD_INPUTS, signature)
    assert time.perf_counter() - started < 60
    assert len(translations) == len(ODD_INPUTS)
    longest = (
        export.MAX_OUTPUT_RATIO * config.transform.max_source_tokens + export.MAX_OUTPUT_OFFSET
    )
    for translation in translations:
        assert len(translation.split()) <= min(longest, config.transform.max_target_tokens)
        assert not any(token in translation for token in words.SPECIAL_TOKENS)


def test_an_empty_batch_gives_an_empty_batch(serving_model):
    _, model = serving_model
    assert _translate(model, []) == []
    attention = model.signatures["attention"](sentences=tf.constant([], tf.string))
    assert attention["translation"].shape == (0,)


def test_a_batch_of_only_empty_sentences_translates(serving_model):
    _, model = serving_model
    assert len(_translate(model, ["", "   ", "123 456"])) == 3


# Blank after normalisation: there is nothing to translate (SentencePiece spells anything
# else, emoji and unseen scripts included, in pieces or bytes).
BLANK_INPUTS = ["", "   \t  ", "\n\u3000\u00a0"]


@pytest.mark.parametrize("signature", ["serving_default", "greedy", "beam_search"])
def test_blank_input_translates_to_an_empty_string(serving_model, signature):
    _, model = serving_model
    translations = _translate(model, [*BLANK_INPUTS, "Yo veo el gato."], signature)
    assert translations[:-1] == [""] * len(BLANK_INPUTS)
    assert translations[-1], "a real sentence still gets a translation"


def test_attention_signature_says_which_inputs_were_truncated(serving_model):
    config, model = serving_model
    limit = config.transform.max_source_tokens
    attention = model.signatures["attention"]
    one_word = attention(sentences=tf.constant(["gato"]))["source_tokens"]
    pieces_per_word = int(tf.math.count_nonzero(one_word != ""))
    words_that_fit = limit // pieces_per_word
    sentences = [" ".join(["gato"] * words_that_fit), " ".join(["gato"] * (limit + 1)), ""]
    outputs = attention(sentences=tf.constant(sentences))
    assert outputs["truncated"].numpy().tolist() == [False, True, False]
    assert outputs["source_tokens"].shape[1] == limit
    shown = tf.math.count_nonzero(outputs["source_tokens"] != "", axis=1).numpy().tolist()
    assert shown == [words_that_fit * pieces_per_word, limit, 0]


def test_a_batch_of_1000_matches_small_batches(serving_model):
    _, model = serving_model
    sentences = [f"Yo veo el gato {i % 7}." if i % 3 else ODD_INPUTS[i % 11] for i in range(1000)]
    large = _translate(model, sentences)
    small = [
        t
        for start in range(0, 1000, 100)
        for t in _translate(model, sentences[start : start + 100])
    ]
    assert large == small


def test_concurrent_calls_give_the_same_results_as_sequential_calls(serving_model):
    _, model = serving_model
    batches = [
        [f"Ella quiere un libro {i}.", ODD_INPUTS[i % 11], "Tú ves el gato."] for i in range(24)
    ]
    sequential = [_translate(model, batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda batch: _translate(model, batch), batches))
    assert concurrent == sequential
    assert np.mean([len(t) for batch in sequential for t in batch]) > 0
