"""TsvExampleGen: a FileBasedExampleGen for `English<TAB>Other` corpora.

The stock CsvExampleGen cannot read these files (it hard-codes ',' and a header row), so
this component reuses FileBasedExampleGen's spec and driver (input fingerprints, spans,
caching) and adds a `rejected_lines` output and the parsing parameters.
"""

from __future__ import annotations

from tfx import types
from tfx.components.example_gen import driver
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.tsv_example_gen import executor

SPLIT_NAMES = ("train", "eval", "test")


class RejectedLines(types.Artifact):
    """Input lines that were not accepted: `rejected-*.tsv` (path, line, reason, content)
    and `summary.json` (lines read, accepted, rejected, counts by reason)."""

    TYPE_NAME = "nmt_tfx.RejectedLines"  # namespaced, as KFP v2 requires of custom types


class TsvExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        executor.DIRECTION_KEY: ExecutionParameter(type=str),
        executor.MAX_LINE_CHARS_KEY: ExecutionParameter(type=int),
        executor.MAX_REJECTED_FRACTION_KEY: ExecutionParameter(type=float),
        executor.CODE_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
    }
    OUTPUTS = {
        **standard_component_specs.FileBasedExampleGenSpec.OUTPUTS,
        executor.REJECTED_LINES_KEY: ChannelParameter(type=RejectedLines),
    }


class TsvExampleGen(base_beam_component.BaseBeamComponent):
    """Reads tab-separated sentence pairs into `train`/`eval`/`test` tf.Examples.

    Outputs `examples` (features `source`, `target`, `source_language`,
    `target_language`) and `rejected_lines`. Splits by a hash of the normalised source
    sentence, so every translation of one source lands in the same split.
    """

    SPEC_CLASS = TsvExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = driver.FileBasedDriver

    def __init__(
        self,
        input_base: str,
        *,
        direction: str,
        split_buckets: tuple[int, int, int],
        max_line_chars: int,
        max_rejected_fraction: float,
        file_pattern: str = "*",
        code_fingerprint: str | None = None,
    ):
        """
        Args:
          input_base: directory holding the corpus files.
          direction: `source-target` language codes, one of them `eng`, e.g. `spa-eng`.
          split_buckets: relative sizes of the train, eval and test splits.
          max_line_chars: longer lines are rejected.
          max_rejected_fraction: fail when more than this fraction of lines is rejected.
          file_pattern: glob under `input_base`; only .txt/.tsv(.gz) files are read, and
            a wildcard skips names starting with `_` or `.` (notes, hidden files).
          code_fingerprint: a digest of the code this component runs; it is part of TFX's
            cache key, so a re-run after the code changed does not reuse old outputs.
        """
        input_config = example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="all", pattern=file_pattern)]
        )
        output_config = example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[
                    example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                    for name, buckets in zip(SPLIT_NAMES, split_buckets, strict=True)
                ]
            )
        )
        spec = TsvExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            direction=direction,
            max_line_chars=max_line_chars,
            max_rejected_fraction=max_rejected_fraction,
            code_fingerprint=code_fingerprint,
            examples=types.Channel(type=standard_artifacts.Examples),
            rejected_lines=types.Channel(type=RejectedLines),
        )
        super().__init__(spec=spec)
