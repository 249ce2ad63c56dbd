"""Everything one pipeline run needs: each part's settings, composed and validated here.

A `PipelineConfig` has one section per part, each a small dataclass kept where its code is:

  data        DataConfig       (below)                       TsvExampleGen
  transform   TransformConfig  (modules/text/config.py) Transform, the exported model
  model       ModelConfig      (modules/model/config.py)     the Trainer's model
  training    TrainingConfig   (modules/training/config.py)  the Trainer
  decoding    DecodingConfig   (modules/serving/config.py)  the exported model's searches
  evaluation  EvaluationConfig (below)                       the Evaluator's blessing
  runtime     RuntimeConfig    (below)                       names, paths, Beam options

In JSON the sections nest (`{"model": {"units": 512}, "training": {"epochs": 5}}`); on the
command line every field is a flag of its own name (`--units 512`), field names being unique
across sections. Each component gets only its sections (pipeline/definition.py).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import tempfile
from pathlib import Path

from modules.model.config import ModelConfig
from modules.serving.config import DecodingConfig
from modules.settings import ConfigError, Settings, setting
from modules.text.config import TransformConfig
from modules.training.config import TrainingConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_ROOT = PROJECT_ROOT / "data" / "spa-eng"  # the whole spa-eng corpus

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")

# Runner files started without arguments (`tfx pipeline create`, `tfx run create`) read
# their configuration from the JSON file this environment variable names.
CONFIG_FILE_ENV = "NMT_PIPELINE_CONFIG"


@dataclasses.dataclass(frozen=True)
class DataConfig(Settings):
    """The corpus and how TsvExampleGen reads and splits it."""

    data_root: str = setting(
        str(DEFAULT_DATA_ROOT),
        "corpus directory, file or glob of .txt/.tsv(.gz) files, one English<TAB>other "
        "pair per line; a directory or glob skips names starting with '_' or '.'",
    )
    direction: str = setting(
        "spa-eng", "translation direction 'source-target' in language codes, one side 'eng'"
    )
    split_buckets: tuple[int, int, int] = setting(
        (8, 1, 1), "relative sizes of the train, eval and test splits (hash of the source)"
    )
    max_line_chars: int = setting(1000, "longer input lines are rejected (and reported)")
    max_rejected_fraction: float = setting(
        0.01, "fail when more than this fraction of input lines is rejected (0 to 1)"
    )
    language_check: bool = setting(
        True,
        "refuse a corpus whose translations read as another language than direction "
        "names (lingua's detector on a sample of up to 200 lines, before the run)",
    )

    def validate(self) -> None:
        parts = self.direction.split("-")
        if (
            len(parts) != 2
            or not all(_LANGUAGE_CODE.match(code) for code in parts)
            or parts.count("eng") != 1
        ):
            raise ConfigError(
                f"direction={self.direction!r}: write it as 'source-target' with language "
                "codes, one side English, e.g. 'spa-eng' (Spanish to English) or 'eng-spa'"
            )
        if len(self.split_buckets) != 3 or any(
            not isinstance(b, int) or b < 1 for b in self.split_buckets
        ):
            raise ConfigError(
                f"split_buckets={self.split_buckets!r}: give three positive integers, the "
                "relative sizes of the train, eval and test splits, e.g. (8, 1, 1)"
            )
        self.require_at_least(1, ("max_line_chars",))
        if not 0.0 <= self.max_rejected_fraction <= 1.0:
            raise ConfigError(
                f"max_rejected_fraction={self.max_rejected_fraction}: must be in [0, 1]"
            )


@dataclasses.dataclass(frozen=True)
class EvaluationConfig(Settings):
    """When the Evaluator blesses a model (pipeline/evaluation.py), on the test split."""

    bleu_floor: float = setting(
        10.0,
        "lowest test-split BLEU (cased) that blesses (and pushes); a model that cannot "
        "translate scores under 2",
    )
    max_bleu_regression: float = setting(
        1.0, "BLEU a new model may lose against the last blessed one and still be blessed"
    )

    def validate(self) -> None:
        self.require_at_least(0, ("bleu_floor", "max_bleu_regression"))


@dataclasses.dataclass(frozen=True)
class RuntimeConfig(Settings):
    """The run's name, where its outputs go, and the Beam options of the data components."""

    pipeline_name: str = setting(
        "nmt-attention", "pipeline name in ML Metadata (letters, digits, '.', '_', '-')"
    )
    output_root: str = setting(
        "outputs", "where artifacts, metadata, logs, the report and pushed models go"
    )
    # Beam: the DirectRunner with one worker process per core (0 = all cores); give e.g.
    # --runner=DataflowRunner ... to scale out (docs/gpu-and-cluster.md, "Scaling out").
    beam_pipeline_args: tuple[str, ...] = setting(
        ("--direct_running_mode=multi_processing", "--direct_num_workers=0"),
        "Beam options of the data components, as one shell-quoted string",
    )

    def validate(self) -> None:
        if not self.pipeline_name or not re.fullmatch(r"[A-Za-z0-9_.-]+", self.pipeline_name):
            raise ConfigError(
                f"pipeline_name={self.pipeline_name!r}: use letters, digits, '.', '_', '-'"
            )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """One run of the pipeline, a section per part (see the module docstring)."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    transform: TransformConfig = dataclasses.field(default_factory=TransformConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    decoding: DecodingConfig = dataclasses.field(default_factory=DecodingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        """Checks the rules that span two sections (each section checks its own)."""
        if self.training.subword_sampling and self.transform.tokenizer != "sentencepiece":
            raise ConfigError(
                f"training.subword_sampling={self.training.subword_sampling} samples "
                "SentencePiece segmentations: it needs transform.tokenizer=sentencepiece "
                f"(not {self.transform.tokenizer!r}), or set it to 0"
            )

    # ------------------------------------------------------------------ derived values
    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.runtime.output_root, "pipeline_root")

    @property
    def serving_model_dir(self) -> str:
        """Where the Pusher writes models, in the TF Serving layout `<dir>/<version>/`."""
        return os.path.join(self.runtime.output_root, "serving_model")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.runtime.output_root, "metadata.sqlite")

    # ------------------------------------------------------------------ fields by name
    @classmethod
    def with_fields(cls, **values) -> PipelineConfig:
        """The defaults with the named fields (of any section) set: `with_fields(units=64)`."""
        return cls().replace(**values)

    def replace(self, **values) -> PipelineConfig:
        """A copy with the named fields (of any section) changed."""
        changes: dict[str, dict] = {}
        for name, value in values.items():
            if name not in FIELD_SECTIONS:
                raise ConfigError(
                    f"unknown config field {name!r}; known fields are {list(FIELD_SECTIONS)}"
                )
            changes.setdefault(FIELD_SECTIONS[name], {})[name] = value
        return dataclasses.replace(
            self,
            **{section: getattr(self, section).replace(**c) for section, c in changes.items()},
        )

    def field_values(self) -> dict:
        """Every field's value by name, all sections together."""
        return {
            name: getattr(getattr(self, section), name) for name, section in FIELD_SECTIONS.items()
        }

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        """`{section: {field: value}}`, the layout of a JSON config file."""
        return {section: getattr(self, section).to_dict() for section in SECTIONS}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, values: dict) -> PipelineConfig:
        """The config of `{section: {field: value}}`; missing sections or fields keep their
        defaults."""
        misplaced = sorted((set(values) - set(SECTIONS)) & set(FIELD_SECTIONS))
        if misplaced:
            hints = ", ".join(f'"{name}" under "{FIELD_SECTIONS[name]}"' for name in misplaced)
            raise ConfigError(f"config fields belong in their section: put {hints}")
        unknown = sorted(set(values) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown}; sections are {list(SECTIONS)}")
        parts = {}
        for section, settings_class in SECTIONS.items():
            section_values = values.get(section, {})
            if not isinstance(section_values, dict):
                raise ConfigError(f"section {section!r}: expected an object of field values")
            try:
                parts[section] = settings_class.from_dict(section_values)
            except ConfigError as error:
                raise ConfigError(f"{section}: {error}") from error
        return cls(**parts)

    @classmethod
    def from_file(cls, path: str) -> PipelineConfig:
        """The config in a JSON file (unset sections and fields keep their defaults)."""
        try:
            with open(path) as f:
                values = json.load(f)
        except OSError as error:
            raise ConfigError(f"config file {path!r} cannot be read: {error}") from error
        except json.JSONDecodeError as error:
            raise ConfigError(f"config file {path!r} is not valid JSON: {error}") from error
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path!r}: expected a JSON object of sections")
        try:
            return cls.from_dict(values)
        except (ConfigError, TypeError) as error:
            raise ConfigError(f"config file {path!r}: {error}") from error

    @classmethod
    def from_environment(cls) -> PipelineConfig:
        """The config in the file named by $NMT_PIPELINE_CONFIG, else the defaults."""
        path = os.environ.get(CONFIG_FILE_ENV)
        return cls.from_file(path) if path else cls()

    # ------------------------------------------------------------------ checks
    def check_paths(self) -> None:
        """Fails early when the input data or the output root cannot be used."""
        data_root, output_root = self.data.data_root, self.runtime.output_root
        if not glob.glob(data_root):
            raise ConfigError(
                f"data_root={data_root!r} does not exist: point it at a directory, "
                "file or glob of .txt/.tsv(.gz) corpora"
            )
        if os.path.exists(output_root) and not os.path.isdir(output_root):
            raise ConfigError(
                f"output_root={output_root!r} is a file, not a directory: choose another path"
            )
        try:
            os.makedirs(output_root, exist_ok=True)
            # A real write: os.access says yes to root on a read-only directory.
            with tempfile.TemporaryFile(dir=output_root):
                pass
        except OSError as error:
            raise ConfigError(
                f"output_root={output_root!r} is not a writable directory "
                f"({error.strerror or error}): choose a directory this user can write"
            ) from error


SECTIONS: dict[str, type[Settings]] = {
    field.name: field.default_factory for field in dataclasses.fields(PipelineConfig)
}


def _field_sections() -> dict[str, str]:
    """Which section each field is in; a flag names a field, so names must be unique."""
    sections: dict[str, str] = {}
    for section, part in SECTIONS.items():
        for name in part.field_names():
            if name in sections:
                raise TypeError(
                    f"config field {name!r} is in sections {sections[name]!r} "
                    f"and {section!r}: every field needs its own flag name"
                )
            sections[name] = section
    return sections


FIELD_SECTIONS = _field_sections()
