"""Data throughput: ExampleGen + Transform rows/s with the Beam DirectRunner, and with the
portable runner (`--portable`: a job service and an SDK worker pool in their own
processes, pipeline/portable_beam.py).

Runs the pipeline up to Transform on a corpus (default: the full spa-eng Anki file) once
per Beam setting, each in a fresh output root, and reads per-component times from ML
Metadata. Example:

    python -m benchmarks.data_throughput --workers 1 2 --portable
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from benchmarks import common


def _beam_args(mode: str, workers: int) -> list[str]:
    if mode == "portable":
        return []  # given by the running services
    beam_args = [f"--direct_running_mode={mode}"]
    if mode != "in_memory":
        beam_args.append(f"--direct_num_workers={workers}")
    return beam_args


def run_once(data: str, output_root: str, mode: str, workers: int, beam_args: list[str]) -> dict:
    from pipeline import local_runner, outputs
    from pipeline.config import PipelineConfig

    config = PipelineConfig.with_fields(
        data_root=data, output_root=output_root, beam_pipeline_args=tuple(beam_args)
    )
    print(f"Running ExampleGen..Transform with {' '.join(beam_args)}", flush=True)
    start = time.perf_counter()
    local_runner.run(config, until="Transform")
    wall = time.perf_counter() - start
    components = {c.component: c for c in outputs.latest_run(config)}
    example_gen = components["TsvExampleGen"]
    transform = components["Transform"]
    (rejected_uri,) = example_gen.artifacts["rejected_lines"]
    with open(os.path.join(rejected_uri, "summary.json")) as f:
        lines = json.load(f)["lines_read"]
    data_seconds = example_gen.seconds + transform.seconds
    return {
        "mode": mode,
        "workers": workers,
        "lines": lines,
        "example_gen_s": example_gen.seconds,
        "statistics_gen_s": components["StatisticsGen"].seconds,
        "transform_s": transform.seconds,
        "rows_per_s": lines / data_seconds,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=common.default_corpus())
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--no-in-memory", action="store_true", help="skip the in-memory DirectRunner row"
    )
    parser.add_argument(
        "--portable", action="store_true", help="add a row on the portable runner (1 worker pool)"
    )
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    args = parser.parse_args(argv)

    from pipeline import portable_beam

    settings = [("multi_processing", n) for n in args.workers]
    if not args.no_in_memory:
        settings.insert(0, ("in_memory", 1))
    if args.portable:
        settings.append(("portable", 1))
    rows = []
    with tempfile.TemporaryDirectory(prefix="nmt-data-benchmark-") as scratch:
        for mode, workers in settings:
            root = os.path.join(scratch, f"{mode}-{workers}")
            if mode == "portable":
                with portable_beam.portable_services(log_dir=scratch) as beam_args:
                    rows.append(run_once(args.data, root, mode, workers, beam_args))
            else:
                rows.append(run_once(args.data, root, mode, workers, _beam_args(mode, workers)))
    baseline = rows[0]["rows_per_s"]
    for row in rows:
        row["speedup"] = row["rows_per_s"] / baseline
    common.print_table("ExampleGen + Transform throughput", rows)
    common.write_results("data_throughput", {"data": args.data}, rows, args.out)


if __name__ == "__main__":
    main()
