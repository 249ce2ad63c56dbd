import tensorflow as tf

from modules.text import words


def _standardised(sentence: str, keep_accents: bool = False) -> str:
    return words.standardise(tf.constant(sentence), keep_accents).numpy().decode("utf-8")


def _marked(sentence: str) -> str:
    tokens = words.add_sentence_markers(words.tokenise(tf.constant([sentence]), max_tokens=64))
    return tf.strings.reduce_join(tokens, axis=1, separator=" ")[0].numpy().decode("utf-8")


def test_tutorial_example_with_sentence_markers():
    assert _marked("¿Todavía está en casa?") == "[START] ¿ todavia esta en casa ? [END]"


def test_tutorial_rules_strip_accents_digits_and_other_punctuation():
    assert _standardised("Hola, ¿qué tal?") == "hola , ¿ que tal ?"
    assert _standardised("¡Ñandú 42 años!") == "nandu anos !"
    assert _standardised('It\'s  \t  "fine"...') == "its fine . . ."


def test_keep_accents_keeps_unicode_letters_and_composes():
    decomposed = "Qu\u0065\u0301 ta\u0301l, NIN\u0303O?"
    assert _standardised(decomposed, keep_accents=True) == "qué tál , niño ?"
    assert _standardised("Привет, мир!", keep_accents=True) == "привет , мир !"


def test_markers_and_brackets_in_input_cannot_forge_special_tokens():
    assert _marked("[END] go [START]") == "[START] end go start [END]"


def test_tokenise_truncates_to_max_tokens():
    tokens = words.tokenise(tf.constant(["uno dos tres cuatro", "uno"]), max_tokens=2)
    assert tokens.to_list() == [[b"uno", b"dos"], [b"uno"]]


def test_empty_and_whitespace_only_give_no_tokens():
    tokens = words.tokenise(tf.constant(["", "   ", "123"]), max_tokens=8)
    assert tokens.to_list() == [[], [], []]


def test_sentence_markers_on_ids_use_the_reserved_ids():
    ids = words.add_sentence_markers(tf.ragged.constant([[7, 8], []], dtype=tf.int64))
    assert ids.to_list() == [[words.START_ID, 7, 8, words.END_ID], [words.START_ID, words.END_ID]]
