"""The `nmt-pipeline` console script (also `python -m pipeline.cli`).

Every field of `PipelineConfig` is a flag (`--vocab-size 8000`, `--split-buckets 8,1,1`,
`--beam-pipeline-args="--direct_num_workers=2 --direct_running_mode=multi_processing"`),
so the command line and the config can never disagree. `--config FILE` reads field values
from a JSON file first; flags given as well override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipeline.config import ConfigError, PipelineConfig, read_config_file  # noqa: E402


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _flag_parser(default):
    """A parser for a flag whose default is `default` (its type decides the syntax)."""
    if isinstance(default, bool):
        return _parse_bool
    if isinstance(default, tuple) and default and isinstance(default[0], int):
        return lambda text: tuple(int(item) for item in text.split(",") if item)
    if isinstance(default, tuple):
        return lambda text: tuple(shlex.split(text))
    return type(default)


def add_config_flags(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """A flag for every PipelineConfig field; `defaults` overrides the field defaults."""
    group = parser.add_argument_group("pipeline configuration (defaults in brackets)")
    for field in dataclasses.fields(PipelineConfig):
        default = defaults.get(field.name, field.default)
        shown = ",".join(map(str, default)) if isinstance(default, tuple | list) else default
        group.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_flag_parser(field.default),
            default=default,
            metavar=type(field.default).__name__.upper(),
            help=f"[{shown}]",
        )


def _add_config_file_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="JSON file of config field values (flags override)"
    )


def _config_file_values(argv: list[str]) -> dict:
    """The values in the --config file, if one is given."""
    config_flag = argparse.ArgumentParser(add_help=False)
    config_flag.add_argument("--config")
    known, _ = config_flag.parse_known_args(argv)
    return read_config_file(known.config) if known.config else {}


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    names = {field.name for field in dataclasses.fields(PipelineConfig)}
    return PipelineConfig.from_dict({name: getattr(args, name) for name in names})


def _run(args: argparse.Namespace) -> None:
    from absl import logging

    from pipeline import local_runner, outputs

    logging.set_verbosity(logging.INFO)
    config = config_from_args(args)
    print(f"Running pipeline {config.pipeline_name!r} on {config.data_root}", flush=True)
    local_runner.run(config)
    print(outputs.describe_latest_run(config), flush=True)
    _print_verdict(config)


def _print_verdict(config: PipelineConfig) -> None:
    """Says whether the model was blessed and pushed, and writes the HTML report."""
    from pipeline import outputs, report, results

    latest = outputs.latest_evaluation(outputs.latest_run(config))
    if latest is None:
        return
    overall = results.candidate_metrics(latest.evaluation_uri).get(results.OVERALL, {})
    verdict = "blessed and pushed" if latest.blessed else "NOT blessed, not pushed"
    print(
        f"Test-split BLEU {overall.get('bleu', float('nan')):.2f} "
        f"(floor {config.bleu_floor}): model {verdict}",
        flush=True,
    )
    if latest.blessed:
        print(f"Serving models: {os.path.abspath(config.serving_model_dir)}", flush=True)
    print(f"Report: {os.path.abspath(report.write_report(config))}", flush=True)


def _report(args: argparse.Namespace) -> None:
    from pipeline import report

    try:
        path = report.write_report(config_from_args(args), args.out)
    except report.ReportError as error:
        raise SystemExit(f"nmt-pipeline report: {error}") from error
    print(f"Report written to {os.path.abspath(path)}", flush=True)


def build_parser(file_values: dict | None = None) -> argparse.ArgumentParser:
    """The command-line parser; `file_values` (from a --config file) become the defaults."""
    file_values = file_values or {}
    parser = argparse.ArgumentParser(prog="nmt-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole pipeline locally (LocalDagRunner)")
    _add_config_file_flag(run)
    add_config_flags(run, file_values)
    run.set_defaults(handler=_run)
    report = commands.add_parser(
        "report", help="write a self-contained HTML report of the latest evaluated model"
    )
    report.add_argument("--out", help="output file [<output-root>/report.html]")
    _add_config_file_flag(report)
    add_config_flags(report, file_values)
    report.set_defaults(handler=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(_config_file_values(argv)).parse_args(argv)
        args.handler(args)
    except ConfigError as error:
        print(f"nmt-pipeline: configuration error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
