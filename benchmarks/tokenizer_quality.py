"""Tokenizers side by side: `word` (the tutorial's) against `sentencepiece`, same budget.

Runs the whole pipeline once per variant on a corpus (default: the full spa-eng Anki file),
each in a fresh output root with the same model and training budget, and reports the
test-split scores the Evaluator computed (sacreBLEU's cased BLEU, lower-cased BLEU, chrF,
with their signatures), the Transform and Trainer wall times, and sample translations.
Example (the README's figures):

    python -m benchmarks.tokenizer_quality --epochs 2
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks import common

VARIANTS = {
    "word-5000": {"tokenizer": "word", "vocab_size": 5000},
    "sentencepiece-shared-8000": {"tokenizer": "sentencepiece", "vocab_size": 8000},
    "sentencepiece-shared-2000": {"tokenizer": "sentencepiece", "vocab_size": 2000},
    "sentencepiece-separate-8000": {
        "tokenizer": "sentencepiece",
        "vocab_size": 8000,
        "shared_vocabulary": False,
    },
}
# Sentences a user might try first, and TEST_SAMPLES spread over the sorted test split.
SAMPLE_SOURCES = (
    "No puedo vivir sin televisión.",
    "¿Quieres darme una mano?",
    "Tom's coche está en el garaje.",
)
TEST_SAMPLES = 5


def run_variant(config, name: str) -> dict:
    """Runs the pipeline for `config`; its row: times, scores and sample translations."""
    import tensorflow as tf

    from modules import metrics, signatures
    from pipeline import local_runner, outputs, results

    start = time.perf_counter()
    local_runner.run(config)
    wall = time.perf_counter() - start
    run = {component.component: component for component in outputs.latest_run(config)}
    evaluation = outputs.latest_evaluation(list(run.values()))
    overall = results.candidate_metrics(evaluation.evaluation_uri)[results.OVERALL]
    model = tf.saved_model.load(os.path.join(run["Trainer"].single_uri("model"), "Format-Serving"))
    test_files = tf.io.gfile.glob(
        os.path.join(run["TsvExampleGen"].single_uri("examples"), "Split-test", "*")
    )
    records = tf.data.TFRecordDataset(test_files, compression_type="GZIP")
    test_sources = sorted(
        tf.train.Example.FromString(record)
        .features.feature[signatures.SOURCE_FEATURE]
        .bytes_list.value[0]
        .decode()
        for record in records.as_numpy_iterator()
    )
    # TEST_SAMPLES evenly spaced over the sorted test sources: the same for every variant,
    # whatever order Beam wrote the shards in.
    step = max(1, len(test_sources) // TEST_SAMPLES)
    sources = list(SAMPLE_SOURCES) + test_sources[::step][:TEST_SAMPLES]
    translations = model.signatures[signatures.SERVING_DEFAULT](tf.constant(sources))
    return {
        "variant": name,
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


def main(argv: list[str] | None = None) -> None:
    from modules import metrics
    from pipeline import cli

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="tokenizer_quality", help="results file name")
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    parser.add_argument(
        "--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS), metavar="V"
    )
    fresh_root = f"/tmp/nmt-tokenizer-benchmark-{int(time.time())}"
    cli.add_config_flags(parser, {"data_root": common.default_corpus(), "output_root": fresh_root})
    args = parser.parse_args(argv)
    base = cli.config_from_args(args)

    settings = {"config": base.to_dict(), "variants": VARIANTS, "signatures": metrics.SIGNATURES}
    rows = []
    for name in args.variants:
        config = base.replace(
            **VARIANTS[name], output_root=os.path.join(base.runtime.output_root, name)
        )
        print(
            f"\n=== {name}: pipeline on {config.data.data_root} into {config.runtime.output_root}"
        )
        rows.append(run_variant(config, name))
        print(
            f"{name}: BLEU {rows[-1]['bleu']:.2f} (lower-cased {rows[-1]['bleu_lowercase']:.2f}), "
            f"chrF {rows[-1]['chrf']:.2f}",
            flush=True,
        )
        # Saved after each variant: a stopped run keeps the variants it finished.
        common.write_results(args.name, settings, rows, args.out)
    common.print_table(
        "Test-split scores and wall times",
        [{k: v for k, v in row.items() if k != "samples"} for row in rows],
    )
    for row in rows:
        print(f"\n{row['variant']}:")
        for source, translation in row["samples"].items():
            print(f"  {source}  ->  {translation}")


if __name__ == "__main__":
    main()
