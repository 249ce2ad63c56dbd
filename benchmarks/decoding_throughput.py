"""Decoding throughput: the exported SavedModel (greedy, beam 4) vs the tutorial's eager loop.

Reads a finished pipeline run (same config flags as the run, e.g. the output root of
`benchmarks.pipeline_run`), loads the Trainer's SavedModel, and restores the same weights
into the Keras model for the tutorial's eager per-token Python loop. Sentences are the
test split's sources. The SavedModel takes strings and returns strings; the eager loop
is given word ids and returns ids, so the comparison favours the loop. Example:

    python -m benchmarks.decoding_throughput --output-root /tmp/nmt-pipeline-benchmark-...
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

from benchmarks import common


def test_sources(examples_uri: str, count: int) -> list[bytes]:
    """`count` source sentences of the test split (repeated if the split is smaller)."""
    sources = [source.encode("utf-8") for source, _ in common.test_split(examples_uri)]
    return list(itertools.islice(itertools.cycle(sources), count))


def keras_model_with_saved_weights(config, tft_output, saved_model_dir: str):
    """The project's Keras model as exported (`trainer.serving_model`), holding the
    SavedModel's variables (for the eager loop)."""
    import tensorflow as tf

    from modules.training import trainer

    vocab_sizes = trainer.vocabulary_sizes(tft_output)
    ids_shared = config.transform.ids_shared
    trained = trainer.build_model(
        config.model, config.training, *vocab_sizes, ids_shared=ids_shared
    )
    ids = tf.ones([1, 2], tf.int64)
    trained({"source_ids": ids, "target_in": ids}, training=False)
    model = trainer.serving_model(trained, config.model, *vocab_sizes, ids_shared=ids_shared)
    variables = os.path.join(saved_model_dir, "variables", "variables")
    restored = tf.train.Checkpoint(model=model).read(variables)
    restored.expect_partial().assert_existing_objects_matched()
    return model


def median_latency(translate, batches: list) -> float:
    translate(batches[0])  # warm-up: tracing, table initialisation
    times = []
    for batch in batches:
        start = time.perf_counter()
        translate(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    import tensorflow as tf
    import tensorflow_transform as tft

    from benchmarks.tutorial_model import eager_greedy_translate
    from modules import signatures
    from modules.serving import export
    from modules.text import words
    from pipeline import cli, outputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="timed batches per row")
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    cli.add_config_flags(parser, {})
    args = parser.parse_args(argv)
    config = cli.config_from_args(args)

    run = {c.component: c for c in outputs.latest_run(config)}
    (model_uri,) = run["Trainer"].artifacts["model"]
    saved_model_dir = os.path.join(model_uri, "Format-Serving")
    (transform_uri,) = run["Transform"].artifacts["transform_graph"]
    (examples_uri,) = run["TsvExampleGen"].artifacts["examples"]
    tft_output = tft.TFTransformOutput(transform_uri)
    sentences = test_sources(examples_uri, 64 * (args.batches + 1))
    tft_layer = tft_output.transform_features_layer()
    saved = tf.saved_model.load(saved_model_dir)
    model = keras_model_with_saved_weights(config, tft_output, saved_model_dir)

    def eager_loop(batch):
        source_ids = export.source_ids(tft_layer, tf.constant(batch))

        def encode(ids):
            return model.encode(ids, training=False)

        def step(tokens, context):
            memory, state = context
            logits, _, state = model.decoder.step(tokens, memory, state)
            return logits, (memory, state)

        return eager_greedy_translate(
            step, encode, source_ids, config.transform.max_target_tokens, words.END_ID
        )

    def saved_model(signature):
        return lambda batch: saved.signatures[signature](tf.constant(batch))

    contenders = {
        "tutorial eager loop (greedy)": eager_loop,
        "SavedModel greedy": saved_model(signatures.GREEDY),
        "SavedModel beam 4": saved_model(signatures.BEAM_SEARCH),
    }
    rows = []
    for batch_size in (1, 64):
        batches = [
            sentences[i * batch_size : (i + 1) * batch_size] for i in range(args.batches + 1)
        ]
        baseline = None
        for name, translate in contenders.items():
            print(f"Timing {name} at batch {batch_size}", flush=True)
            latency = median_latency(translate, batches)
            baseline = baseline or latency
            rows.append(
                {
                    "batch": batch_size,
                    "decoder": name,
                    "latency_ms": latency * 1e3,
                    "sentences_per_s": batch_size / latency,
                    "speedup_vs_eager": baseline / latency,
                }
            )
    common.print_table("Decoding throughput (median batch latency)", rows)
    settings = {"saved_model": saved_model_dir, "timed_batches": args.batches}
    common.write_results("decoding_throughput", settings, rows, args.out)


if __name__ == "__main__":
    common.run_without_teardown(main)
