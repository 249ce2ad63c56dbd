"""Whole pipeline: wall time per component and test-split BLEU after a fixed budget.

Runs every component on a corpus (default: the full spa-eng Anki file) with the default
configuration except the flags given, in a fresh output root, then reads each component's
time and the Evaluator's BLEU from ML Metadata. Example (a 3-epoch budget):

    python -m benchmarks.pipeline_run --epochs 3
    python -m benchmarks.pipeline_run --epochs 1 --steps-per-epoch 300 --embedding-dim 256 \\
        --units 1024 --name pipeline_run_tutorial_sizes
"""

from __future__ import annotations

import argparse
import time

from benchmarks import common


def main(argv: list[str] | None = None) -> None:
    from pipeline import cli, local_runner, outputs, results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="pipeline_run", help="results file name")
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    fresh_root = f"/tmp/nmt-pipeline-benchmark-{int(time.time())}"  # nothing cached
    cli.add_config_flags(parser, {"data_root": common.default_corpus(), "output_root": fresh_root})
    args = parser.parse_args(argv)
    config = cli.config_from_args(args)

    print(
        f"Running the whole pipeline on {config.data.data_root} into {config.runtime.output_root}"
    )
    start = time.perf_counter()
    local_runner.run(config)
    wall = time.perf_counter() - start
    run = outputs.latest_run(config)
    rows = [
        {"component": c.component, "state": c.state, "seconds": c.seconds, "share": 0.0}
        for c in run
    ]
    for row in rows:
        row["share"] = row["seconds"] / wall
    evaluation = outputs.latest_evaluation(run)
    overall = results.candidate_metrics(evaluation.evaluation_uri)[results.OVERALL]
    rows.append({"component": "total (wall)", "state": "", "seconds": wall, "share": 1.0})
    common.print_table("Pipeline wall time by component", rows)
    quality = {"test_bleu": overall["bleu"], "blessed": evaluation.blessed}
    print(f"\nTest-split BLEU {overall['bleu']:.2f}; blessed: {evaluation.blessed}")
    settings = {"config": config.to_dict(), **quality}
    common.write_results(args.name, settings, rows, args.out)


if __name__ == "__main__":
    main()
