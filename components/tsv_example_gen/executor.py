"""Beam executor of TsvExampleGen: read, parse, report rejects, split by source."""

from __future__ import annotations

import json
import os
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

REJECTED_LINES_KEY = "rejected_lines"
DIRECTION_KEY = "direction"
MAX_LINE_CHARS_KEY = "max_line_chars"
MAX_REJECTED_FRACTION_KEY = "max_rejected_fraction"

REJECTED_FILE_PREFIX = "rejected"
SUMMARY_FILE = "summary.json"
_REJECTED_URI_KEY = "_rejected_lines_uri"
_ACCEPTED = "accepted"
_REJECTED = "rejected"


class EmptyInputError(RuntimeError):
    """The matching corpus files are all empty."""


class TooManyRejectedLinesError(RuntimeError):
    """More input lines were rejected than `max_rejected_fraction` allows."""


def _bytes_feature(value: str) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))


def pair_to_example(
    pair: parsing.SentencePair, source_language: str, target_language: str
) -> tf.train.Example:
    """tf.Example with `source`, `target`, `source_language`, `target_language`."""
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "source": _bytes_feature(pair.source),
                "target": _bytes_feature(pair.target),
                "source_language": _bytes_feature(source_language),
                "target_language": _bytes_feature(target_language),
            }
        )
    )


def example_source(example: tf.train.Example) -> str:
    return example.features.feature["source"].bytes_list.value[0].decode("utf-8")


def list_input_files(input_base: str, pattern: str) -> list[str]:
    """Supported corpus files matching `pattern` under `input_base`, sorted."""
    matched = fileio.glob(os.path.join(input_base, pattern))
    files = sorted(
        path for path in matched if not fileio.isdir(path) and parsing.is_supported_file(path)
    )
    if not files:
        raise FileNotFoundError(
            f"no corpus file found at {os.path.join(input_base, pattern)!r} "
            f"(matched {len(matched)} path(s)); expected files ending in "
            f"{', '.join(parsing.SUPPORTED_SUFFIXES)}, one 'English<TAB>translation' "
            "pair per line"
        )
    return files


class _ParseLines(beam.DoFn):
    """(path, line number, raw bytes) -> tf.Example, or a RejectedLine on `rejected`."""

    def __init__(self, direction: str, max_line_chars: int):
        self._source_language, self._target_language = direction.split("-")
        self._max_line_chars = max_line_chars

    def process(self, numbered_line):
        path, line_number, raw = numbered_line
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
    with beam.io.filesystems.FileSystems.open(path) as stream:
        for line_number, raw in enumerate(parsing.iter_raw_lines(stream), start=1):
            yield path, line_number, raw


def _summarise(accepted: int, rejected_reasons: list[tuple[str, int]]) -> str:
    reasons = dict(sorted(rejected_reasons))
    rejected = sum(reasons.values())
    return json.dumps(
        {
            "lines_read": accepted + rejected,
            "accepted": accepted,
            "rejected": rejected,
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
    logging.info("TsvExampleGen reading %d file(s): %s", len(files), files)
    parsed = (
        pipeline
        | "ListFiles" >> beam.Create(files)
        | "ReadNumberedLines" >> beam.FlatMap(_read_numbered_lines)
        | "Distribute" >> beam.Reshuffle()
        | "Parse"
        >> beam.ParDo(
            _ParseLines(exec_properties[DIRECTION_KEY], exec_properties[MAX_LINE_CHARS_KEY])
        ).with_outputs(_REJECTED, main=_ACCEPTED)
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
    _ = (
        accepted_count
        | "Summarise"
        >> beam.Map(_summarise, rejected_reasons=beam.pvalue.AsSingleton(reason_counts))
        | "WriteSummary"
        >> beam.io.WriteToText(
            os.path.join(rejected_uri, SUMMARY_FILE), num_shards=1, shard_name_template=""
        )
    )
    return parsed[_ACCEPTED]


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Reads `English<TAB>Other` corpora into tf.Examples split by a hash of the source.

    Every line read is either an example or a row of the `rejected_lines` artifact
    (file, line, reason); the artifact's `summary.json` holds the counts, which are also
    recorded as custom properties of both output artifacts.
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
        splits = (
            pipeline
            | "InputToRecord"
            >> self.GetInputSourceToExamplePTransform()(
                exec_properties, input_config.splits[0].pattern
            )
            | "SplitBySource"
            >> beam.Partition(
                lambda example, _: parsing.split_index(example_source(example), cumulative),
                len(cumulative),
            )
        )
        return dict(zip(split_names, splits, strict=True))

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
            for name in ("lines_read", "accepted", "rejected"):
                artifact.set_int_custom_property(name, summary[name])
        logging.info(
            "TsvExampleGen: %d lines read, %d accepted, %d rejected %s; rejected lines in %s",
            summary["lines_read"],
            summary["accepted"],
            summary["rejected"],
            summary["rejected_by_reason"],
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


def _check_rejected_fraction(summary: dict, max_fraction: float, rejected_uri: str) -> None:
    fraction = summary["rejected"] / summary["lines_read"]
    if fraction > max_fraction:
        raise TooManyRejectedLinesError(
            f"{summary['rejected']} of {summary['lines_read']} lines ({fraction:.2%}) were "
            f"rejected, more than max_rejected_fraction={max_fraction:.2%}; reasons: "
            f"{summary['rejected_by_reason']}. See the rejected lines (file, line, reason) "
            f"in {rejected_uri}, fix the input or raise max_rejected_fraction."
        )
