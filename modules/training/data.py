"""Training and evaluation datasets from Transform's output, bucketed by length."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

SHUFFLE_BUFFER = 10_000
# Batches group sentences of similar length: boundaries in tokens.
LENGTH_BUCKETS = (6, 8, 10, 12, 16, 20, 28, 40)


IDS = ("source_ids", "target_ids")
TEXTS = ("source_text", "target_text")


def parse_fn(feature_spec: dict, keys: tuple[str, ...] = IDS):
    """Serialized transformed tf.Example -> {"source_ids": [src_len], "target_ids": [tgt_len]}
    (by default; `keys`: the features to parse, e.g. `TEXTS`, each string[1])."""
    spec = {key: feature_spec[key] for key in keys}

    def parse(record):
        features = tf.io.parse_single_example(record, spec)
        return {key: tf.reshape(value, [-1]) for key, value in features.items()}

    return parse


def to_model_inputs(batch: dict):
    """Padded ids -> ({"source_ids", "target_in"}, target_out), target shifted by one."""
    target = batch["target_ids"]
    return {"source_ids": batch["source_ids"], "target_in": target[:, :-1]}, target[:, 1:]


def example_length(example: dict):
    """The length a batch pads an example to: its longer side, in ids (markers included)."""
    return tf.maximum(tf.shape(example["source_ids"])[0], tf.shape(example["target_ids"])[0])


def bucket_batch_sizes(batch_size: int, batch_tokens: int, max_length: int) -> list[int]:
    """Sentences per batch in each of the len(LENGTH_BUCKETS) + 1 length buckets.

    Without `batch_tokens` (0) every bucket takes `batch_size`. With it, a bucket takes as
    many sentences as fit `batch_tokens` padded ids at its longest length (`max_length`,
    the longest an example can be, for the last bucket), and at least one: sentences x
    longest <= batch_tokens unless one sentence alone is longer.
    """
    if not batch_tokens:
        return [batch_size] * (len(LENGTH_BUCKETS) + 1)
    longest = [boundary - 1 for boundary in LENGTH_BUCKETS] + [max_length]
    return [max(1, batch_tokens // length) for length in longest]


def make_dataset(
    file_patterns: list[str],
    feature_spec: dict,
    batch_size: int,
    *,
    shuffle: bool,
    repeat: bool = False,
    seed: int | None = None,
    batch_tokens: int = 0,
    max_length: int = LENGTH_BUCKETS[-1],
    segment: Callable[[dict], dict] | None = None,
) -> tf.data.Dataset:
    """Batches of `(inputs, target_out)`, each batch padded to its longest sentence, of
    `batch_size` sentences or, with `batch_tokens`, of at most that many padded ids
    (`bucket_batch_sizes`; `max_length`: the longest example). No example is dropped.
    `segment` cuts each example's raw text into ids anew each time it is read, in place of
    Transform's ids (`subword_sampling.SegmentationSampler`).

    inputs: {"source_ids": int64 [batch, src_len], "target_in": int64 [batch, tgt_len]},
    target_out: int64 [batch, tgt_len]; padding id 0.
    """
    files = sorted(path for pattern in file_patterns for path in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_patterns}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if segment:
        dataset = dataset.map(parse_fn(feature_spec, TEXTS), num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.map(segment, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(parse_fn(feature_spec), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=example_length,
        bucket_boundaries=list(LENGTH_BUCKETS),
        bucket_batch_sizes=bucket_batch_sizes(batch_size, batch_tokens, max_length),
    )
    # Workers of a MultiWorkerMirroredStrategy take turns over the batches: the splits are
    # too few files to shard by file.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # No autotuning thread: destroying an iterator (Keras drops one every epoch, and one
    # per evaluation) waited for that thread's next wake-up, up to a minute, with the
    # process idle. AUTOTUNE then means min(16, cores) parallel calls.
    options.autotune.enabled = False
    return dataset.map(to_model_inputs).prefetch(tf.data.AUTOTUNE).with_options(options)


def batches_per_pass(
    file_patterns: list[str], feature_spec: dict, batch_size: int, **batching
) -> int:
    """How many batches one pass over the examples makes (`make_dataset`'s batching)."""
    batches = make_dataset(file_patterns, feature_spec, batch_size, shuffle=False, **batching)
    return int(batches.reduce(0, lambda count, _: count + 1))
