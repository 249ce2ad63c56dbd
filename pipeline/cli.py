"""The `nmt-pipeline` console script (also `python -m pipeline.cli`).

Every field of every `PipelineConfig` section is a flag (`--vocab-size 8000`,
`--split-buckets 8,1,1`, `--beam-pipeline-args="--direct_num_workers=2
--direct_running_mode=multi_processing"`), so the command line and the config can never
disagree. `--config FILE` reads a JSON config first; flags given as well override it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import io
import os
import shlex
import signal
import sys
import textwrap
import traceback
import warnings
from collections.abc import Callable

from modules import signatures
from pipeline.config import FIELD_SECTIONS, SECTIONS, ConfigError, PipelineConfig

# Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it; SIGTERM
# (from `kill`, `timeout`, a scheduler) stops a run the same way, with 143.
INTERRUPTED_EXIT = 128 + signal.SIGINT
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Exit status when another run holds the output root (EX_TEMPFAIL: try again later).
BUSY_EXIT = 75


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def _at_least(number_type: type, least: float) -> Callable[[str], float]:
    """An argparse type: a number of `number_type`, `least` or more."""

    def parse(text: str):
        try:
            value = number_type(text)
        except ValueError:
            value = None
        if value is None or value < least:
            kind = "a whole number" if number_type is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind} of {least} or more, got {text!r}")
        return value

    return parse


@dataclasses.dataclass(frozen=True)
class _Syntax:
    """How a flag's value is written: `parse` reads it, `show` writes a value back."""

    metavar: str
    parse: Callable[[str], object]
    show: Callable[[object], str]


def _syntax(default) -> _Syntax:
    """The syntax of a flag whose default is `default` (its type decides): "true"/"false"
    for booleans, "8,1,1" for integer tuples, one shell-quoted string for other tuples."""
    if isinstance(default, bool):
        return _Syntax("true|false", _parse_bool, lambda value: str(value).lower())
    if isinstance(default, tuple) and default and isinstance(default[0], int):
        return _Syntax(
            ",".join("N" * len(default)),
            lambda text: tuple(int(item) for item in text.split(",") if item),
            lambda value: ",".join(map(str, value)),
        )
    if isinstance(default, tuple):
        return _Syntax("'ARGS'", lambda text: tuple(shlex.split(text)), shlex.join)
    return _Syntax(type(default).__name__.upper(), type(default), str)


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def typed_flag(field: dataclasses.Field, value) -> str:
    """`--flag=value` for a config field, as it is typed on a command line (one shell word)."""
    return shlex.quote(f"{flag_name(field.name)}={_syntax(field.default).show(value)}")


def config_flags(config: PipelineConfig) -> list[str]:
    """Command-line arguments that give `config`: one `--flag=value` for every field that
    differs from its default."""
    defaults = PipelineConfig().field_values()
    return [
        f"{flag_name(name)}={_syntax(defaults[name]).show(value)}"
        for name, value in config.field_values().items()
        if value != defaults[name]
    ]


def _help(field: dataclasses.Field, default) -> str:
    """The field's description, its allowed values, and its default as it can be typed."""
    text = field.metadata["help"]
    if field.metadata["choices"]:
        text += f"; one of {', '.join(field.metadata['choices'])}"
    shown = typed_flag(field, default)
    return f"{text} (default: {shown})".replace("%", "%%")


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps help text at spaces only, so a default such as `--flag=a-b` stays whole."""

    def _split_lines(self, text, width):
        return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)


def add_config_flags(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """A flag for every config field, grouped by section; `defaults` (by field name)
    overrides the field defaults."""
    for section, settings_class in SECTIONS.items():
        group = parser.add_argument_group(f"{section} settings")
        for field in dataclasses.fields(settings_class):
            default = defaults.get(field.name, field.default)
            syntax = _syntax(field.default)
            group.add_argument(
                flag_name(field.name),
                dest=field.name,
                type=syntax.parse,
                default=default,
                metavar=syntax.metavar,
                help=_help(field, default),
            )


def _add_config_file_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help='JSON config file, {"section": {"field": value}} (flags override it)',
    )


def _config_file_values(argv: list[str]) -> dict:
    """The field values of the --config file, if one is given, by field name."""
    config_flag = argparse.ArgumentParser(add_help=False)
    config_flag.add_argument("--config")
    known, _ = config_flag.parse_known_args(argv)
    return PipelineConfig.from_file(known.config).field_values() if known.config else {}


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    return PipelineConfig.with_fields(**{name: getattr(args, name) for name in FIELD_SECTIONS})


def _run(args: argparse.Namespace) -> int:
    """Runs the pipeline with a quiet console (pipeline/console.py); returns the exit code."""
    from pipeline.console import RunConsole

    config = config_from_args(args)
    config.check_paths()  # before the console writes its log file into the output root
    with RunConsole(config, verbose=args.verbose) as console:
        log = f"; full log: {console.log_path}" if console.log_path else ""
        name, data_root = config.runtime.pipeline_name, config.data.data_root
        console.say(f"Running pipeline {name!r} on {data_root}{log}")
        stopped_by = _stop_signals()
        try:
            from absl import logging

            from pipeline import local_runner, run_lock

            logging.set_verbosity(logging.INFO)
            local_runner.run_and_report(config, console.say, wait=args.wait)
        except ConfigError:
            raise
        except KeyboardInterrupt:
            return _stopped(console, stopped_by)
        except run_lock.OutputRootBusyError as error:
            console.say(f"nmt-pipeline: {error}")
            return BUSY_EXIT
        except Exception as error:
            if stopped_by:  # a library turned the signal into another error
                return _stopped(console, stopped_by)
            with contextlib.suppress(OSError):  # the log file may be on a full disk
                traceback.print_exc()
            cause = _cause(error, config.metadata_path)
            console.say(f"nmt-pipeline: {console.running or 'the run'} failed: {cause}")
            if console.log_path:
                console.say(f"Full log: {console.log_path}")
            return 1
        if console.log_path:
            console.say(f"Full log: {console.log_path}")
    return 0


def _cause(error: BaseException, metadata_path: str) -> str:
    """One line for a failure: an OSError (the error itself or what it was raised from) as
    its errno name, reason and path, e.g. `ENOSPC, No space left on device: outputs/x`; an
    ML Metadata error with the database's path."""
    if type(error).__module__.startswith("ml_metadata"):
        return f"ML Metadata at {metadata_path}: {error}"
    seen = error
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__cause__ or seen.__context__
    if isinstance(seen, OSError) and seen.errno is not None:
        name = errno.errorcode.get(seen.errno, f"errno {seen.errno}")
        where = f": {seen.filename}" if seen.filename else ""
        return f"{name}, {seen.strerror}{where}"
    return str(error) or type(error).__name__


def _stop_signals() -> list[int]:
    """The signals received (SIGINT, SIGTERM), each raising KeyboardInterrupt: a library
    may catch the interrupt and raise something else, and the list still tells."""
    received: list[int] = []

    def on_signal(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)
    return received


def _stopped(console, stopped_by: list[int]) -> int:
    """Says how to go on after a stop (the runner has marked what was running CANCELED);
    returns 128 + the signal's number, as a shell reports it."""
    signum = stopped_by[0] if stopped_by else signal.SIGINT
    how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    if console.running == "Trainer":
        console.say(
            f"{how}; re-run the same command to resume from epoch "
            f"{console.last_epoch + 1} (finished components are reused)"
        )
    else:
        during = f" during {console.running}" if console.running else ""
        console.say(
            f"{how}{during}; re-run the same command to resume (finished components are reused)"
        )
    return 128 + signum


def _report(args: argparse.Namespace) -> int:
    from pipeline import report

    try:
        path = report.write_report(config_from_args(args), args.out)
    except report.ReportError as error:
        raise SystemExit(f"nmt-pipeline report: {error}") from error
    print(f"Report written to {os.path.abspath(path)}", flush=True)
    return 0


def _translate(args: argparse.Namespace) -> int:
    from pipeline import pushed_models, translate

    try:
        model_dir = args.model or pushed_models.latest_model_dir(
            PipelineConfig.with_fields(output_root=args.output_root).serving_model_dir
        )
    except pushed_models.NoModelError as error:
        raise SystemExit(f"nmt-pipeline translate: {error}") from error
    if args.sentences:
        lines, batch_size = args.sentences, args.batch_size
    else:
        lines = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        batch_size = 1 if sys.stdin.isatty() else args.batch_size
    try:
        translate.translate_lines(
            model_dir,
            lines,
            sys.stdout,
            args.decoding,
            batch_size,
            args.tsv,
            attention_plot_dir=args.attention_plot,
        )
    except pushed_models.NoModelError as error:
        raise SystemExit(f"nmt-pipeline translate: {error}") from error
    return 0


def build_parser(file_values: dict | None = None) -> argparse.ArgumentParser:
    """The command-line parser; `file_values` (from a --config file) become the defaults."""
    file_values = file_values or {}
    parser = argparse.ArgumentParser(prog="nmt-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        formatter_class=_HelpFormatter,
        help="run the whole pipeline locally (LocalDagRunner)",
        description="Runs the pipeline: a line per component on the console, everything "
        "else in <output-root>/logs/<run id>.log. Ctrl-C or SIGTERM stops it; the same "
        "command resumes. One run at a time per output root.",
    )
    run.add_argument(
        "--verbose", action="store_true", help="stream every log line to the console instead"
    )
    run.add_argument(
        "--wait",
        action="store_true",
        help="when another run holds the output root, wait for it to finish instead of "
        f"exiting with status {BUSY_EXIT}",
    )
    _add_config_file_flag(run)
    add_config_flags(run, file_values)
    run.set_defaults(handler=_run)
    report = commands.add_parser(
        "report",
        formatter_class=_HelpFormatter,
        help="write a self-contained HTML report of the latest evaluated model",
    )
    report.add_argument("--out", help="output file (default: <output-root>/report.html)")
    _add_config_file_flag(report)
    add_config_flags(report, file_values)
    report.set_defaults(handler=_report)
    _add_translate_command(commands)
    _add_serve_command(commands)
    return parser


def _add_model_flags(parser: argparse.ArgumentParser, model_help: str) -> None:
    """--model DIR and --output-root: which pushed model a command uses."""
    parser.add_argument("--model", metavar="DIR", help=model_help)
    parser.add_argument(
        "--output-root",
        default=PipelineConfig().runtime.output_root,
        help="the run's output root, whose serving_model/ holds the pushed models "
        f"(default: {PipelineConfig().runtime.output_root})",
    )


def _add_translate_command(commands) -> None:
    translate = commands.add_parser(
        "translate",
        help="translate sentences with the latest pushed model",
        description="Translates the sentences given as arguments or, without any, every "
        "line of standard input (in batches; one line at a time from a terminal). Prints "
        "one translation per line.",
    )
    translate.add_argument("sentences", nargs="*", metavar="SENTENCE")
    _add_model_flags(translate, "a SavedModel (default: the newest pushed model)")
    translate.add_argument(
        "--decoding",
        choices=tuple(signatures.SEARCH_SIGNATURES),
        help="search (default: the model's serving_default, beam unless it was trained with "
        "another --decoding)",
    )
    translate.add_argument(
        "--batch-size",
        type=_positive_int,
        default=32,
        help="lines per batch from a pipe (default: 32)",
    )
    translate.add_argument(
        "--tsv", action="store_true", help="print 'source<TAB>translation' lines"
    )
    translate.add_argument(
        "--attention-plot",
        metavar="DIR",
        help="also write the attention heat-map of input line N to DIR/N.png (0001.png, ...; "
        "the model's default search, as its attention signature runs it)",
    )
    translate.set_defaults(handler=_translate)


def _serve(args: argparse.Namespace) -> int:
    from pipeline import pushed_models
    from pipeline.server import app

    settings = app.ServerSettings(
        **{
            field.name: getattr(args, field.name)
            for field in dataclasses.fields(app.ServerSettings)
        }
    )
    base_dir = PipelineConfig.with_fields(output_root=args.output_root).serving_model_dir
    try:
        app.serve(settings, base_dir=base_dir, model_dir=args.model)
    except pushed_models.NoModelError as error:
        raise SystemExit(f"nmt-pipeline serve: {error}") from error
    return 0


def _add_serve_command(commands) -> None:
    from pipeline.server.settings import ServerSettings

    defaults = ServerSettings()
    serve = commands.add_parser(
        "serve",
        formatter_class=_HelpFormatter,
        help="serve the latest pushed model over TensorFlow Serving's REST API, with a page",
        description="Serves the newest pushed model (and each newer one the Pusher writes) "
        "over TensorFlow Serving's REST API: GET /v1/models/NAME, GET "
        "/v1/models/NAME/metadata, POST /v1/models/NAME:predict; a translator page at /. "
        "Ctrl-C or SIGTERM stops it after the requests in flight. See docs/serving.md.",
    )
    _add_model_flags(serve, "serve this SavedModel only (default: the newest pushed)")
    for field in dataclasses.fields(ServerSettings):
        default, least = getattr(defaults, field.name), field.metadata["least"]
        text = field.metadata["help"]
        if isinstance(default, bool):  # BooleanOptionalAction adds its "(default: ...)"
            action = argparse.BooleanOptionalAction
            serve.add_argument(flag_name(field.name), action=action, default=default, help=text)
            continue
        text += f" (default: {default})"
        serve.add_argument(
            flag_name(field.name),
            type=_at_least(type(default), least) if least is not None else type(default),
            default=default,
            metavar=type(default).__name__.upper(),
            help=text,
        )
    serve.set_defaults(handler=_serve)


def _quiet_libraries(command: str) -> None:
    """TensorFlow's C++ INFO lines off (a run's go to its log file anyway); `translate`
    prints only errors, so that its stderr is not buried under graph-loading warnings."""
    if command in ("translate", "serve"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(_config_file_values(argv)).parse_args(argv)
        _quiet_libraries(args.command)
        return args.handler(args)
    except ConfigError as error:
        print(f"nmt-pipeline: configuration error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
