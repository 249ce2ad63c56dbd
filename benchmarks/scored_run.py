"""One whole pipeline run, scored: what the quality benchmarks report of each run."""

from __future__ import annotations

import os
import time

from benchmarks import common

# Sentences a user might try first, and TEST_SAMPLES spread over the sorted test split.
SAMPLE_SOURCES = (
    "No puedo vivir sin televisión.",
    "¿Quieres darme una mano?",
    "Tom's coche está en el garaje.",
)
TEST_SAMPLES = 5


def parse_config(parser, argv: list[str] | None, root_name: str):
    """Adds every config flag to `parser`, defaulting to the shipped corpus and a fresh
    output root `/tmp/<root_name>-<time>`, and parses `argv` -> (args, PipelineConfig)."""
    from pipeline import cli

    fresh_root = f"/tmp/{root_name}-{int(time.time())}"
    cli.add_config_flags(parser, {"data_root": common.default_corpus(), "output_root": fresh_root})
    args = parser.parse_args(argv)
    return args, cli.config_from_args(args)


def run_and_score(config) -> dict:
    """Runs the pipeline for `config`; its row: times, scores and sample translations."""
    import tensorflow as tf

    from modules import metrics, signatures
    from modules.training import precision
    from pipeline import local_runner, outputs, results

    start = time.perf_counter()
    local_runner.run(config)
    wall = time.perf_counter() - start
    run = {component.component: component for component in outputs.latest_run(config)}
    evaluation = outputs.latest_evaluation(list(run.values()))
    overall = results.candidate_metrics(evaluation.evaluation_uri)[results.OVERALL]
    model = tf.saved_model.load(os.path.join(run["Trainer"].single_uri("model"), "Format-Serving"))
    test_sources = [
        source for source, _ in common.test_split(run["TsvExampleGen"].single_uri("examples"))
    ]
    # TEST_SAMPLES evenly spaced over the sorted test sources: the same for every variant,
    # whatever order Beam wrote the shards in.
    step = max(1, len(test_sources) // TEST_SAMPLES)
    sources = list(SAMPLE_SOURCES) + test_sources[::step][:TEST_SAMPLES]
    translations = model.signatures[signatures.SERVING_DEFAULT](tf.constant(sources))
    return {
        "eval_decoding": config.decoding.eval_decoding,
        "precision": precision.for_this_machine(config.training.precision)[0],
        "bleu": overall[metrics.BLEU],
        "bleu_lowercase": overall[metrics.BLEU_LOWERCASE],
        "chrf": overall[metrics.CHRF],
        "test_sentences": int(overall["example_count"]),
        "transform_s": run["Transform"].seconds,
        "trainer_s": run["Trainer"].seconds,
        "pipeline_s": wall,
        "samples": {
            source: translation.decode()
            for source, translation in zip(
                sources, translations[signatures.TRANSLATION].numpy(), strict=True
            )
        },
    }
