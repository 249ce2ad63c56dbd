"""Beam search's length penalty on a finished run: eval-split BLEU per alpha, test at the best.

Rebuilds the run's exported model from its SavedModel's weights
(`decoding_throughput.keras_model_with_saved_weights`) inside an `export.Translator` and
beam-searches with each `--alphas` value (the run's beam width): the eval split chooses
the alpha, and the test split compares that choice with the run's own alpha, so that the
test split is never what chooses. Scored as the Evaluator does (cased sacreBLEU, chrF).
Example, on a `make run`'s outputs:

    python -m benchmarks.length_penalty --output-root outputs --alphas 0 0.3 0.6 0.9 1.2
"""

from __future__ import annotations

import argparse
import os

from benchmarks import common


def main(argv: list[str] | None = None) -> None:
    import tensorflow as tf
    import tensorflow_transform as tft

    from benchmarks.decoding_throughput import keras_model_with_saved_weights
    from benchmarks.search_quality import translate_all
    from modules import metrics, signatures
    from modules.serving import decoding, export
    from pipeline import cli, outputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--alphas", type=float, nargs="+", default=[0.0, 0.3, 0.6, 0.9, 1.2], help="to try"
    )
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    cli.add_config_flags(parser, {})
    args = parser.parse_args(argv)
    config = cli.config_from_args(args)

    run = {c.component: c for c in outputs.latest_run(config)}
    saved_model_dir = os.path.join(run["Trainer"].single_uri("model"), "Format-Serving")
    tft_output = tft.TFTransformOutput(run["Transform"].single_uri("transform_graph"))
    examples_uri = run["TsvExampleGen"].single_uri("examples")
    splits = {split: common.split_pairs(examples_uri, split) for split in ("eval", "test")}
    model = keras_model_with_saved_weights(config, tft_output, saved_model_dir)
    translator = export.Translator(model, tft_output, config.transform, config.decoding)
    width = config.decoding.beam_width

    def beam_search(alpha: float):
        search = decoding.BeamSearch(width, alpha)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def translate(sentences):
            translation, _ = translator.translate(sentences, search)
            return {signatures.TRANSLATION: translation}

        return translate

    def score(split: str, alpha: float) -> dict:
        pairs = splits[split]
        print(f"{split}: beam {width}, length penalty {alpha} on {len(pairs):,}", flush=True)
        translations, seconds = translate_all(beam_search(alpha), [s for s, _ in pairs])
        return {
            "split": split,
            "length_penalty": alpha,
            **metrics.corpus_scores(translations, [r for _, r in pairs]),
            "sentences": len(pairs),
            "sentences_per_s": len(pairs) / seconds,
        }

    rows = [score("eval", alpha) for alpha in args.alphas]
    chosen = max(rows, key=lambda row: row["bleu"])["length_penalty"]
    rows += [
        score("test", alpha) for alpha in dict.fromkeys([config.decoding.length_penalty, chosen])
    ]
    common.print_table(f"Beam {width} by length penalty (eval chooses: {chosen})", rows)
    settings = {
        "output_root": config.runtime.output_root,
        "beam_width": width,
        "run_length_penalty": config.decoding.length_penalty,
        "chosen_on_eval": chosen,
        "signatures": metrics.SIGNATURES,
    }
    common.write_results("length_penalty", settings, rows, args.out)


if __name__ == "__main__":
    common.run_without_teardown(main)
