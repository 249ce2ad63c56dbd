"""Beam executor of TsvExampleGen: read, parse, report rejects, split by source."""

from __future__ import annotations

import contextlib
import glob
import gzip
import json
import os
import zlib
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.tsv_example_gen import parsing
from modules import signatures

REJECTED_LINES_KEY = "rejected_lines"
DIRECTION_KEY = "direction"
MAX_LINE_CHARS_KEY = "max_line_chars"
MAX_REJECTED_FRACTION_KEY = "max_rejected_fraction"
# A digest of this component's code: part of TFX's cache key, so edited code re-runs.
CODE_FINGERPRINT_KEY = "code_fingerprint"

REJECTED_FILE_PREFIX = "rejected"
SUMMARY_FILE = "summary.json"
# Examples per split and distinct split keys (normalised sources), beside the summary.
SPLIT_COUNTS_FILE = "split_counts.json"
_DISTINCT_SOURCES = "distinct_sources"
# Beside the rejected_lines artifacts: TFX deletes a failed execution's outputs, so the
# rejected lines of a run that failed its input check are copied here, by execution id.
FAILED_CHECKS_DIR = "rejected_lines_of_failed_runs"
# How many rejected lines the error message of a failed input check quotes.
QUOTED_REJECTED_LINES = 5
# How much of each file is read up front to check its encoding.
_SNIFF_BYTES = 1 << 16
_REJECTED_URI_KEY = "_rejected_lines_uri"
_ACCEPTED = "accepted"
_REJECTED = "rejected"
_HEADER = "header"


class EmptyInputError(RuntimeError):
    """The matching corpus files are all empty."""


class InputFileError(RuntimeError):
    """A corpus file cannot be read as text as a whole: wrong encoding, corrupt archive."""


class TooManyRejectedLinesError(RuntimeError):
    """More input lines were rejected than `max_rejected_fraction` allows."""


class EmptySplitError(RuntimeError):
    """A split got no example: too few distinct sentences for the split buckets."""


def _bytes_feature(value: str) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))


def pair_to_example(
    pair: parsing.SentencePair, source_language: str, target_language: str
) -> tf.train.Example:
    """tf.Example with `source`, `target`, `source_language`, `target_language`."""
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                signatures.SOURCE_FEATURE: _bytes_feature(pair.source),
                signatures.TARGET_FEATURE: _bytes_feature(pair.target),
                "source_language": _bytes_feature(source_language),
                "target_language": _bytes_feature(target_language),
            }
        )
    )


def example_source(example: tf.train.Example) -> str:
    return example.features.feature[signatures.SOURCE_FEATURE].bytes_list.value[0].decode("utf-8")


def list_input_files(input_base: str, pattern: str) -> list[str]:
    """Supported corpus files matching `pattern` under `input_base`, sorted.

    A wildcard pattern skips notes and hidden files (names starting with `_` or `.`).
    """
    matched = fileio.glob(os.path.join(input_base, pattern))
    wildcard = glob.has_magic(pattern)
    files = sorted(
        path
        for path in matched
        if not fileio.isdir(path)
        and parsing.is_supported_file(path)
        and not (wildcard and parsing.is_skipped_name(path))
    )
    if not files:
        raise FileNotFoundError(
            f"no corpus file found at {os.path.join(input_base, pattern)!r} "
            f"(matched {len(matched)} path(s)); expected files ending in "
            f"{', '.join(parsing.SUPPORTED_SUFFIXES)}, one 'English<TAB>translation' "
            "pair per line, with names not starting with '_' or '.'"
        )
    return files


@contextlib.contextmanager
def open_corpus(path: str):
    """A binary stream of the file's text, gunzipped for `.gz`.

    Raises InputFileError naming the file when a `.gz` is not gzip data, is corrupt or is
    cut short (Beam's own decompression reads a truncated file without a word).
    """
    with beam.io.filesystems.FileSystems.open(
        path, compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED
    ) as raw:
        if not path.lower().endswith(".gz"):
            yield raw
            return
        try:
            with gzip.GzipFile(fileobj=raw) as stream:
                yield stream
        except (OSError, EOFError, zlib.error) as error:
            raise InputFileError(
                f"{path}: not a readable gzip file ({error}); check it with `gzip -t`, or "
                "drop the .gz suffix if it is plain text"
            ) from error


def check_input_file(path: str) -> None:
    """Fails with InputFileError when `path` is not UTF-8 text or not readable gzip."""
    with open_corpus(path) as stream:
        head = stream.read(_SNIFF_BYTES + 1)
    head = parsing.whole_lines(head[:_SNIFF_BYTES], complete=len(head) <= _SNIFF_BYTES)
    problem = parsing.encoding_problem(head)
    if problem:
        encoding = "UTF-16" if "UTF-16" in problem else "WINDOWS-1252"
        raise InputFileError(
            f"{path} is not UTF-8 ({problem}): convert it, e.g. "
            f"`iconv -f {encoding} -t UTF-8 FILE > FILE.utf8.txt`"
        )


class _ParseLines(beam.DoFn):
    """(path, line number, raw bytes) -> tf.Example, or a RejectedLine on `rejected`."""

    def __init__(self, direction: str, max_line_chars: int):
        self._source_language, self._target_language = direction.split("-")
        self._max_line_chars = max_line_chars

    def process(self, numbered_line):
        path, line_number, raw = numbered_line
        if line_number == 1 and parsing.is_header_line(raw):
            yield beam.pvalue.TaggedOutput(_HEADER, path)
            return
        parsed = parsing.parse_line(
            raw, source_language=self._source_language, max_line_chars=self._max_line_chars
        )
        if isinstance(parsed, parsing.SentencePair):
            yield pair_to_example(parsed, self._source_language, self._target_language)
        else:
            yield beam.pvalue.TaggedOutput(
                _REJECTED, parsing.RejectedLine(path, line_number, parsed, raw)
            )


def _read_numbered_lines(path: str):
    with open_corpus(path) as stream:
        for line_number, raw in enumerate(parsing.iter_raw_lines(stream), start=1):
            yield path, line_number, raw


def _summarise(accepted: int, rejected_reasons: list[tuple[str, int]], header_lines: int) -> str:
    reasons = dict(sorted(rejected_reasons))
    rejected = sum(reasons.values())
    return json.dumps(
        {
            "lines_read": accepted + rejected + header_lines,
            "accepted": accepted,
            "rejected": rejected,
            "header_lines": header_lines,
            "rejected_by_reason": reasons,
        },
        sort_keys=True,
    )


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _TsvToExample(pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str):
    """Reads every matching file, writes rejected lines and a summary, returns examples."""
    files = list_input_files(
        exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern
    )
    for path in files:
        check_input_file(path)
    logging.info("TsvExampleGen reading %d file(s): %s", len(files), files)
    parsed = (
        pipeline
        | "ListFiles" >> beam.Create(files)
        | "ReadNumberedLines" >> beam.FlatMap(_read_numbered_lines)
        | "Distribute" >> beam.Reshuffle()
        | "Parse"
        >> beam.ParDo(
            _ParseLines(exec_properties[DIRECTION_KEY], exec_properties[MAX_LINE_CHARS_KEY])
        ).with_outputs(_REJECTED, _HEADER, main=_ACCEPTED)
    )
    rejected_uri = exec_properties[_REJECTED_URI_KEY]
    _ = (
        parsed[_REJECTED]
        | "RejectedToTsv" >> beam.Map(parsing.RejectedLine.to_tsv)
        | "WriteRejected"
        >> beam.io.WriteToText(
            os.path.join(rejected_uri, REJECTED_FILE_PREFIX),
            file_name_suffix=".tsv",
            header="path\tline\treason\tcontent",
        )
    )
    accepted_count = parsed[_ACCEPTED] | "CountAccepted" >> beam.combiners.Count.Globally()
    reason_counts = (
        parsed[_REJECTED]
        | "ReasonKind" >> beam.Map(lambda rejected: rejected.rejection.reason)
        | "CountReasons" >> beam.combiners.Count.PerElement()
        | "GatherReasons" >> beam.combiners.ToList()
    )
    header_count = parsed[_HEADER] | "CountHeaders" >> beam.combiners.Count.Globally()
    _ = (
        accepted_count
        | "Summarise"
        >> beam.Map(
            _summarise,
            rejected_reasons=beam.pvalue.AsSingleton(reason_counts),
            header_lines=beam.pvalue.AsSingleton(header_count),
        )
        | "WriteSummary"
        >> beam.io.WriteToText(
            os.path.join(rejected_uri, SUMMARY_FILE), num_shards=1, shard_name_template=""
        )
    )
    return parsed[_ACCEPTED]


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Reads `English<TAB>Other` corpora into tf.Examples split by a hash of the source.

    Every line read is an example, a row of the `rejected_lines` artifact (file, line,
    reason) or a file's header line; the artifact's `summary.json` holds the counts, which
    are also recorded as custom properties of both output artifacts.
    """

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TsvToExample

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.pvalue.PCollection]:
        """Splits by the normalised source, so all translations of a source share a split."""
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
        )
        if len(input_config.splits) != 1 or not output_config.split_config.splits:
            raise ValueError(
                "TsvExampleGen reads one input pattern and splits it by hash; give one "
                "input split and output hash buckets"
            )
        split_names = example_gen_utils.generate_output_split_names(input_config, output_config)
        cumulative, total = [], 0
        for split in output_config.split_config.splits:
            total += split.hash_buckets
            cumulative.append(total)
        examples = pipeline | "InputToRecord" >> self.GetInputSourceToExamplePTransform()(
            exec_properties, input_config.splits[0].pattern
        )
        splits = examples | "SplitBySource" >> beam.Partition(
            lambda example, _: parsing.split_index(example_source(example), cumulative),
            len(cumulative),
        )
        by_name = dict(zip(split_names, splits, strict=True))
        _write_split_counts(examples, by_name, exec_properties[_REJECTED_URI_KEY])
        return by_name

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        rejected_artifact = artifact_utils.get_single_instance(output_dict[REJECTED_LINES_KEY])
        exec_properties = {**exec_properties, _REJECTED_URI_KEY: rejected_artifact.uri}
        super().Do(input_dict, output_dict, exec_properties)

        with fileio.open(os.path.join(rejected_artifact.uri, SUMMARY_FILE)) as f:
            summary = json.loads(f.read())
        examples_artifact = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        for artifact in (examples_artifact, rejected_artifact):
            for name in ("lines_read", "accepted", "rejected", "header_lines"):
                artifact.set_int_custom_property(name, summary[name])
        logging.info(
            "TsvExampleGen: %d lines read, %d accepted, %d rejected %s, %d header line(s); "
            "rejected lines in %s",
            summary["lines_read"],
            summary["accepted"],
            summary["rejected"],
            summary["rejected_by_reason"],
            summary["header_lines"],
            rejected_artifact.uri,
        )
        if summary["lines_read"] == 0:
            raise EmptyInputError(
                f"the corpus files under {exec_properties[standard_component_specs.INPUT_BASE_KEY]}"
                " hold no lines at all"
            )
        _check_rejected_fraction(
            summary, exec_properties[MAX_REJECTED_FRACTION_KEY], rejected_artifact.uri
        )
        with fileio.open(os.path.join(rejected_artifact.uri, SPLIT_COUNTS_FILE)) as f:
            _check_splits(json.loads(f.read()), summary["accepted"])


def _write_split_counts(examples, splits: dict, output_dir: str) -> None:
    """Writes `{split name: examples, "distinct_sources": distinct split keys}`."""
    counts = [
        split
        | f"Count{name}" >> beam.combiners.Count.Globally()
        | f"Name{name}" >> beam.Map(lambda count, name=name: (name, count))
        for name, split in splits.items()
    ]
    distinct = (
        examples
        | "SplitKeys" >> beam.Map(lambda example: parsing.split_key(example_source(example)))
        | "DistinctKeys" >> beam.Distinct()
        | "CountKeys" >> beam.combiners.Count.Globally()
        | "NameKeys" >> beam.Map(lambda count: (_DISTINCT_SOURCES, count))
    )
    _ = (
        [*counts, distinct]
        | "GatherCounts" >> beam.Flatten()
        | "CountsToDict" >> beam.combiners.ToDict()
        | "CountsToJson" >> beam.Map(json.dumps, sort_keys=True)
        | "WriteCounts"
        >> beam.io.WriteToText(
            os.path.join(output_dir, SPLIT_COUNTS_FILE), num_shards=1, shard_name_template=""
        )
    )


def _check_splits(counts: dict, accepted: int) -> None:
    """EmptySplitError when a split got no example, saying why (before Transform fails
    on it for want of data)."""
    distinct = counts.pop(_DISTINCT_SOURCES)
    empty = sorted(name for name, count in counts.items() if count == 0)
    if not empty:
        return
    pairs = "1 accepted pair" if accepted == 1 else f"{accepted:,} accepted pairs"
    sentences = "1 distinct source sentence" if distinct == 1 else f"{distinct:,} distinct ones"
    raise EmptySplitError(
        f"split(s) {', '.join(empty)} got no example: the corpus has {pairs} with "
        f"{sentences}, and all translations of a sentence go to one split (split_buckets); "
        "give a corpus with more distinct sentences (hundreds at least) or check data_root"
    )


def _check_rejected_fraction(summary: dict, max_fraction: float, rejected_uri: str) -> None:
    fraction = summary["rejected"] / summary["lines_read"]
    if fraction <= max_fraction:
        return
    kept = preserve_rejected_lines(rejected_uri)
    quoted = "\n".join(
        f"  {path}:{line}: {reason}" for path, line, reason in first_rejected_lines(kept)
    )
    raise TooManyRejectedLinesError(
        f"{summary['rejected']} of {summary['lines_read']} lines ({fraction:.2%}) were "
        f"rejected, more than max_rejected_fraction={max_fraction:.2%}; reasons: "
        f"{summary['rejected_by_reason']}. The first rejected lines:\n{quoted}\n"
        f"All rejected lines (file, line, reason, content) are in {kept}; fix the input or "
        "raise max_rejected_fraction."
    )


def preserve_rejected_lines(rejected_uri: str) -> str:
    """Copies the artifact's files to FAILED_CHECKS_DIR/<execution id>, which outlives the
    failed execution whose outputs TFX removes; returns that directory."""
    artifacts_dir, execution_id = os.path.split(rejected_uri.rstrip("/"))
    kept = os.path.join(os.path.dirname(artifacts_dir), FAILED_CHECKS_DIR, execution_id)
    fileio.makedirs(kept)
    for name in fileio.listdir(rejected_uri):
        fileio.copy(os.path.join(rejected_uri, name), os.path.join(kept, name), overwrite=True)
    return kept


def first_rejected_lines(
    directory: str, count: int = QUOTED_REJECTED_LINES
) -> list[tuple[str, int, str]]:
    """(path, line number, reason) of the first `count` rejected lines, in input order."""
    rows = []
    for name in fileio.glob(os.path.join(directory, REJECTED_FILE_PREFIX + "*.tsv")):
        with fileio.open(name, "rb") as f:
            for row in f.read().decode("utf-8").splitlines()[1:]:
                path, line, reason, _ = row.split("\t", 3)
                rows.append((path, int(line), reason))
    return sorted(rows)[:count]
