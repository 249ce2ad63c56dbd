"""BLEU per training minute: whole pipeline runs with wall-clock training budgets.

Each run is `VARIANT:MINUTES`: the pipeline on the corpus (default: the whole spa-eng file
in data/) in a fresh output root, the Trainer stopped by `--train-minutes MINUTES` (its
learning rate as the variant says), scored on the
test split as the Evaluator scores it (sacreBLEU's cased BLEU, chrF). Writes JSON after
each run and, at the end, a plot of BLEU and chrF against training minutes. Example (the
README's figures):

    python -m benchmarks.quality_per_minute --name quality_per_minute_options \
        --runs rnn:10 transformer:10 rnn-label-smoothing:10 rnn-rate-2e-3-clipped:10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from benchmarks import common, scored_run

# Each variant changes the default config in a few respects (the README says which won).
RNN = {"architecture": "rnn"}
VARIANTS = {
    "default": {},
    "rnn": RNN,
    "rnn-linear-decay": {**RNN, "learning_rate_schedule": "linear_decay", "decay_fraction": 1.0},
    # Issue 37: constant, then down to 0 over the last fifth (or 0.4) of the budget; the
    # default since round six is 3e-3 and the last fifth, the default before it 2e-3 constant.
    "rnn-constant-2e-3": {**RNN, "learning_rate": 2e-3, "learning_rate_schedule": "constant"},
    "rnn-decay-last-0.2": {
        **RNN,
        "learning_rate": 2e-3,
        "learning_rate_schedule": "linear_decay",
        "decay_fraction": 0.2,
    },
    "rnn-decay-last-0.4": {
        **RNN,
        "learning_rate": 2e-3,
        "learning_rate_schedule": "linear_decay",
        "decay_fraction": 0.4,
    },
    "rnn-rate-3e-3-decay-last-0.2": {
        **RNN,
        "learning_rate": 3e-3,
        "learning_rate_schedule": "linear_decay",
        "decay_fraction": 0.2,
    },
    "rnn-tutorial-sizes": {**RNN, "embedding_dim": 256, "units": 1024},
    "rnn-label-smoothing": {**RNN, "label_smoothing": 0.1},
    # Twice the learning rate, made safe by clipping the gradient norm.
    "rnn-rate-2e-3-clipped": {**RNN, "learning_rate": 2e-3, "gradient_clip_norm": 1.0},
    # As many padded ids per batch as 64 sentences hold on average on spa-eng.
    "rnn-token-batches": {**RNN, "batch_tokens": 768},
    # Export the mean of the weights at the last 8 of every 100 steps when it evaluates better
    # (the default since it was measured; `rnn` ran without it then).
    "rnn-checkpoint-average": {**RNN, "average_last_checkpoints": 8},
    "rnn-without-averaging": {**RNN, "average_last_checkpoints": 0},
    # bfloat16 compute, float32 weights: faster on CPUs with AVX-512 BF16 or AMX (Benchmarks 1).
    "rnn-bfloat16": {**RNN, "precision": "mixed_bfloat16"},
    # Issue 37's experiments, each against `default` in one run.
    # Two directions of units / 2 each (JoeyNMT's default encoder).
    "rnn-bidirectional": {**RNN, "bidirectional": True},
    # Twice the sentences per step, the rate scaled by about sqrt(2).
    "rnn-batch-128": {**RNN, "batch_size": 128, "learning_rate": 3e-3},
    # A higher rate at the default batch of 64 (gradients still clipped to norm 1).
    "rnn-rate-3e-3": {**RNN, "learning_rate": 3e-3, "learning_rate_schedule": "constant"},
    # No dropout: a 12-minute budget sees each sentence about 5 times.
    "rnn-dropout-0": {**RNN, "dropout": 0.0},
    # The output layer is the target embeddings, transposed; with the joint vocabulary one
    # matrix embeds both languages too (Press and Wolf, 2017).
    "rnn-tied-embeddings": {**RNN, "tied_embeddings": True},
    # Subword regularisation (Kudo, 2018): a segmentation sampled anew each epoch, smoothing
    # alpha 0.1 (SentencePiece's suggestion: samples widely), 0.5 and 1 (the model's own
    # probabilities, closest to the most likely segmentation).
    "rnn-subword-sampling-0.1": {**RNN, "subword_sampling": 0.1},
    "rnn-subword-sampling-0.5": {**RNN, "subword_sampling": 0.5},
    "rnn-subword-sampling-1": {**RNN, "subword_sampling": 1.0},
    # The joint SentencePiece vocabulary at half and twice the default 8,000 pieces.
    "rnn-vocabulary-4000": {**RNN, "vocab_size": 4000},
    "rnn-vocabulary-16000": {**RNN, "vocab_size": 16000},
    # 1.5x the default widths (embeddings 192, units 384): more to learn, slower per step.
    "rnn-wider": {**RNN, "embedding_dim": 192, "units": 384},
    # Its default sizes, with its warm-up and inverse-square-root schedule (`auto`).
    "transformer": {"architecture": "transformer"},
    "transformer-rate-2e-3-clipped": {
        "architecture": "transformer",
        "learning_rate": 2e-3,
        "gradient_clip_norm": 1.0,
    },
    # The Transformer's peak rate halved: 1e-3 won over 2e-3 in 10 minutes (benchmarks 9).
    "transformer-rate-1e-3": {"architecture": "transformer", "learning_rate": 1e-3},
}


def parse_run(text: str) -> tuple[str, float]:
    """'default:10' -> ('default', 10.0)."""
    variant, _, minutes = text.partition(":")
    if variant not in VARIANTS or not minutes:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write VARIANT:MINUTES with VARIANT one of {sorted(VARIANTS)}"
        )
    return variant, float(minutes)


def previous_rows(name: str, out_dir: str | None) -> list[dict]:
    """The rows of an earlier results file <out_dir>/<name>.json, each with the date of
    its file unless it has one; none when there is no such file."""
    path = Path(out_dir or common.RESULTS_DIR) / f"{name}.json"
    if not path.exists():
        return []
    results = json.loads(path.read_text())
    return [{"date": results["date"], **row} for row in results["rows"]]


def curve_of(row: dict) -> str:
    """The curve a run belongs to: its variant's settings other than the precision, with the
    precision and search the run recorded (so `rnn` where `auto` chose bfloat16 and
    `rnn-bfloat16` are one curve, and runs in float32 another); a variant whose other
    settings are no variant of their own keeps its name."""
    settings = {k: v for k, v in VARIANTS[row["variant"]].items() if k != "precision"}
    name = next((name for name, v in VARIANTS.items() if v == settings), row["variant"])
    # Rows written before the rows said their search and precision: greedy, float32.
    return f"{name}, {row.get('eval_decoding', 'greedy')}, {row.get('precision', 'float32')}"


def plot(rows: list[dict], path: str, machine: str) -> None:
    """BLEU and chrF against training minutes, a line per curve (`curve_of`) through the
    mean of its runs at each budget, a marker per run, saved as a PNG; bars per run when
    every run had the same budget."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    metrics = (("bleu", "BLEU (sacreBLEU, cased)"), ("chrf", "chrF"))
    budgets = {row["train_minutes"] for row in rows}
    figure, axes = pyplot.subplots(1, 2, figsize=(13, 4.5))
    if len(budgets) == 1:
        # A variant may have run more than once (appended runs): its date tells them apart.
        names = [
            f"{row['variant']}, {row.get('eval_decoding', 'greedy')} ({row['date'][5:16]})"
            for row in rows
        ]
        for axis, (metric, label) in zip(axes, metrics, strict=True):
            axis.barh(names, [row[metric] for row in rows])
            axis.invert_yaxis()
            axis.set_xlabel(f"test-split {label} after {min(budgets):g} min of training")
            axis.grid(alpha=0.3, axis="x")
    else:
        curves = {}  # curve -> {minutes: [rows]}
        for row in rows:
            curves.setdefault(curve_of(row), {}).setdefault(row["train_minutes"], []).append(row)
        for curve, runs_by_budget in curves.items():
            minutes = sorted(runs_by_budget)
            for axis, (metric, _) in zip(axes, metrics, strict=True):
                means = [statistics.mean(r[metric] for r in runs_by_budget[m]) for m in minutes]
                (line,) = axis.plot(minutes, means, label=curve)
                runs = [(m, r[metric]) for m in minutes for r in runs_by_budget[m]]
                axis.plot(*zip(*runs, strict=True), "o", color=line.get_color())
        for axis, (_, label) in zip(axes, metrics, strict=True):
            axis.set_xlabel("training minutes (wall-clock budget)")
            axis.set_ylabel(f"test-split {label}")
            axis.grid(alpha=0.3)
            axis.legend()
    # Rows written before the rows said their search were all scored with greedy search.
    searches = " and ".join(sorted({row.get("eval_decoding", "greedy") for row in rows}))
    figure.suptitle(f"spa-eng, {searches} search; {machine}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    from modules import metrics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="quality_per_minute", help="results file name")
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    parser.add_argument(
        "--runs",
        nargs="+",
        type=parse_run,
        default=[("default", m) for m in (5, 10, 20)],
        metavar="VARIANT:MINUTES",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the rows already in the results file (same machine: check its environment)",
    )
    args, base = scored_run.parse_config(parser, argv, "nmt-quality-per-minute")

    settings = {"config": base.to_dict(), "variants": VARIANTS, "signatures": metrics.SIGNATURES}
    rows = previous_rows(args.name, args.out) if args.append else []
    for variant, minutes in args.runs:
        name = f"{variant}-{minutes:g}min"
        config = base.replace(
            **VARIANTS[variant],
            train_minutes=minutes,
            output_root=os.path.join(base.runtime.output_root, name),
        )
        print(f"\n=== {name}: pipeline into {config.runtime.output_root}", flush=True)
        rows.append(
            {
                "variant": variant,
                "train_minutes": minutes,
                "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                **scored_run.run_and_score(config),
            }
        )
        print(f"{name}: BLEU {rows[-1]['bleu']:.2f}, chrF {rows[-1]['chrf']:.2f}", flush=True)
        # Saved after each run: a stopped benchmark keeps the runs it finished.
        path = common.write_results(args.name, settings, rows, args.out)
    environment = common.environment()
    plot(rows, str(path.with_suffix(".png")), f"{environment['cpu']}, {environment['cores']} cores")
    common.print_table(
        "Test-split scores by training budget",
        [{k: v for k, v in row.items() if k != "samples"} for row in rows],
    )


if __name__ == "__main__":
    main()
