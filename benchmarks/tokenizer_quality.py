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

from benchmarks import common, scored_run

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


def main(argv: list[str] | None = None) -> None:
    from modules import metrics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="tokenizer_quality", help="results file name")
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    parser.add_argument(
        "--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS), metavar="V"
    )
    args, base = scored_run.parse_config(parser, argv, "nmt-tokenizer-benchmark")

    settings = {"config": base.to_dict(), "variants": VARIANTS, "signatures": metrics.SIGNATURES}
    rows = []
    for name in args.variants:
        config = base.replace(
            **VARIANTS[name], output_root=os.path.join(base.runtime.output_root, name)
        )
        print(
            f"\n=== {name}: pipeline on {config.data.data_root} into {config.runtime.output_root}"
        )
        rows.append({"variant": name, **scored_run.run_and_score(config)})
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
