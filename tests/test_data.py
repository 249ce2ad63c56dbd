"""Training batches: bucketed by length, by sentence count or by padded token count."""

import numpy as np
import pytest
import tensorflow as tf

from modules.training import data

FEATURE_SPEC = {
    "source_ids": tf.io.RaggedFeature(tf.int64),
    "target_ids": tf.io.RaggedFeature(tf.int64),
}
EXAMPLES = 600
MAX_LENGTH = 50


@pytest.fixture(scope="module")
def examples_file(tmp_path_factory) -> str:
    """EXAMPLES examples of random lengths up to MAX_LENGTH; each source starts with its
    index + 1 (never the padding id), so that every example can be found in a batch."""
    rng = np.random.default_rng(0)
    path = str(tmp_path_factory.mktemp("examples") / "examples.gz")
    with tf.io.TFRecordWriter(path, "GZIP") as writer:
        for index in range(EXAMPLES):
            source = [index + 1] + [5] * int(rng.integers(0, MAX_LENGTH))
            target = [1] + [6] * int(rng.integers(1, MAX_LENGTH - 1)) + [2]
            features = {
                key: tf.train.Feature(int64_list=tf.train.Int64List(value=ids))
                for key, ids in (("source_ids", source), ("target_ids", target))
            }
            example = tf.train.Example(features=tf.train.Features(feature=features))
            writer.write(example.SerializeToString())
    return path


def batch_shapes_and_indices(path: str, **batching) -> tuple[list, list]:
    """-> ([(sentences, padded length) per batch], sorted example indices seen)."""
    batches = data.make_dataset([path], FEATURE_SPEC, 64, shuffle=True, seed=1, **batching)
    shapes, indices = [], []
    for inputs, target_out in batches:
        source_ids = inputs["source_ids"].numpy()
        # target_in and target_out are target_ids shifted: one id shorter.
        shapes.append((len(source_ids), max(source_ids.shape[1], target_out.shape[1] + 1)))
        indices.extend(source_ids[:, 0] - 1)
    return shapes, sorted(indices)


@pytest.mark.parametrize("batch_tokens", [MAX_LENGTH, 200, 768])
def test_token_batches_never_exceed_the_limit_and_drop_no_example(examples_file, batch_tokens):
    shapes, indices = batch_shapes_and_indices(
        examples_file, batch_tokens=batch_tokens, max_length=MAX_LENGTH
    )
    assert indices == list(range(EXAMPLES))
    assert max(sentences * length for sentences, length in shapes) <= batch_tokens
    # Short sentences come in bigger batches than the longest.
    most_sentences, longest = max(shapes), max(length for _, length in shapes)
    assert most_sentences[1] < longest and most_sentences[0] > 1


def test_batches_per_pass_counts_the_batches_of_one_pass(examples_file):
    for batching in ({}, {"batch_tokens": 200, "max_length": MAX_LENGTH}):
        shapes, _ = batch_shapes_and_indices(examples_file, **batching)
        assert data.batches_per_pass([examples_file], FEATURE_SPEC, 64, **batching) == len(shapes)


def test_sentence_batches_hold_batch_size_sentences_and_drop_no_example(examples_file):
    shapes, indices = batch_shapes_and_indices(examples_file)
    assert indices == list(range(EXAMPLES))
    assert max(sentences for sentences, _ in shapes) == 64


def test_a_token_limit_below_the_longest_bucket_still_gives_one_sentence_per_batch():
    sizes = data.bucket_batch_sizes(64, batch_tokens=30, max_length=64)
    assert sizes[0] == 30 // (data.LENGTH_BUCKETS[0] - 1)
    assert sizes[-1] == 1
    assert data.bucket_batch_sizes(64, batch_tokens=0, max_length=64) == [64] * len(sizes)


def test_batches_come_without_the_autotuning_thread(examples_file):
    # Destroying an iterator waited for that thread's next wake-up: up to a minute, idle,
    # at the Trainer's epoch ends (docs/benchmarks.md, whole pipeline).
    batches = data.make_dataset([examples_file], FEATURE_SPEC, 64, shuffle=True)
    assert batches.options().autotune.enabled is False
