"""Greedy vs beam search on finished pipeline runs: test-split BLEU, chrF and speed.

For each run (its output root; the other config flags as for the run), translates every
test-split source with the exported SavedModel's greedy and beam-search signatures (the
beam width and length penalty the run exported) and scores both as the Evaluator does:
sacreBLEU's cased BLEU and chrF against the raw references. Example (the README's figures):

    python -m benchmarks.search_quality --output-roots /tmp/nmt-quality-per-minute-*/*
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks import common

BATCH = 64


def translate_all(signature, sources: list[str]) -> tuple[list[str], float]:
    """-> (translations, seconds), in batches of BATCH after one warm-up batch."""
    import tensorflow as tf

    from modules import signatures

    signature(tf.constant(sources[:BATCH]))
    start = time.perf_counter()
    translations = []
    for first in range(0, len(sources), BATCH):
        batch = tf.constant(sources[first : first + BATCH])
        translations += [
            t.decode("utf-8") for t in signature(batch)[signatures.TRANSLATION].numpy()
        ]
    return translations, time.perf_counter() - start


def score_run(config) -> list[dict]:
    """A row per search for the run in `config.runtime.output_root`."""
    import tensorflow as tf

    from modules import metrics, signatures
    from pipeline import outputs

    run = {c.component: c for c in outputs.latest_run(config)}
    if "Trainer" not in run:
        raise SystemExit(f"no finished pipeline run in {config.runtime.output_root}")
    saved = tf.saved_model.load(os.path.join(run["Trainer"].single_uri("model"), "Format-Serving"))
    pairs = common.test_split(run["TsvExampleGen"].single_uri("examples"))
    sources, references = [s for s, _ in pairs], [r for _, r in pairs]
    rows = []
    for search, name in signatures.SEARCH_SIGNATURES.items():
        print(f"{config.runtime.output_root}: {search} on {len(sources):,} sentences", flush=True)
        translations, seconds = translate_all(saved.signatures[name], sources)
        rows.append(
            {
                "run": os.path.basename(config.runtime.output_root.rstrip("/")),
                "search": search,
                **metrics.corpus_scores(translations, references),
                "sentences": len(sources),
                "sentences_per_s": len(sources) / seconds,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    from modules import metrics
    from pipeline import cli

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-roots", nargs="+", required=True, help="finished runs")
    parser.add_argument("--name", default="search_quality", help="results file name")
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    cli.add_config_flags(parser, {})
    args = parser.parse_args(argv)
    base = cli.config_from_args(args)
    rows = []
    for root in args.output_roots:
        config = base.replace(output_root=root)
        rows += score_run(config)
        greedy, beam = rows[-2:]
        print(f"beam - greedy: {beam['bleu'] - greedy['bleu']:+.2f} BLEU", flush=True)
    common.print_table("Test-split scores by search", rows)
    settings = {"decoding": base.decoding.to_dict(), "signatures": metrics.SIGNATURES}
    common.write_results(args.name, settings, rows, args.out)


if __name__ == "__main__":
    main()
