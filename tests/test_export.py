"""Export helpers that guard the serving signatures."""

import tensorflow as tf

from modules.serving.export import padded_ids, source_length_bucket


def test_padded_ids_keep_at_least_one_step():
    assert padded_ids(tf.ragged.constant([[], []], dtype=tf.int64)).shape == (2, 1)
    assert padded_ids(tf.ragged.constant([[5, 6], [7]], dtype=tf.int64)).numpy().tolist() == [
        [5, 6],
        [7, 0],
    ]
    assert padded_ids(tf.ragged.constant([], dtype=tf.int64, ragged_rank=1)).shape[1] == 1


def test_source_length_buckets_count_raw_words():
    sentences = tf.constant(["", "one", "a b c d e", "a b c d e f", "w " * 20, "w " * 21])
    buckets = [b.decode() for b in source_length_bucket(sentences).numpy()]
    assert buckets == ["01-05", "01-05", "01-05", "06-10", "11-20", "21+"]
