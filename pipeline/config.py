"""Everything one pipeline run needs, in one validated place.

`PipelineConfig` is built by the CLI or the runners, validated before any component runs,
and handed to components as plain JSON (`to_json`) through `custom_config`, so the module
files read exactly the values the pipeline was built with.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_ROOT = PROJECT_ROOT / "data" / "spa-eng"

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")

# Runner files started without arguments (`tfx pipeline create`, `tfx run create`) read
# their configuration from the JSON file this environment variable names.
CONFIG_FILE_ENV = "NMT_PIPELINE_CONFIG"


class ConfigError(ValueError):
    """A configuration value is invalid; the message says which field and what to change."""


# The settings that take one of a fixed set of values, and those values.
CHOICES = {
    "attention": ("bahdanau", "luong_general", "luong_dot"),
    "cell": ("gru", "lstm"),
    "decoding": ("greedy", "sampling", "beam"),
    "eval_decoding": ("greedy", "beam"),
    "precision": ("float32", "mixed_bfloat16"),
}


def _setting(default, help_text: str):
    """A config field with its `--help` text (allowed values are added from CHOICES)."""
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """One run of the pipeline: data, splits, vocabulary, model, training and runtime."""

    # Data and ingestion.
    data_root: str = _setting(
        str(SAMPLE_DATA_ROOT),
        "corpus directory, file or glob of .txt/.tsv(.gz) files, one English<TAB>other "
        "pair per line; a directory or glob skips names starting with '_' or '.'",
    )
    direction: str = _setting(
        "spa-eng", "translation direction 'source-target' in language codes, one side 'eng'"
    )
    split_buckets: tuple[int, int, int] = _setting(
        (8, 1, 1), "relative sizes of the train, eval and test splits (hash of the source)"
    )
    max_line_chars: int = _setting(1000, "longer input lines are rejected (and reported)")
    max_rejected_fraction: float = _setting(
        0.01, "fail when more than this fraction of input lines is rejected (0 to 1)"
    )

    # Transform.
    vocab_size: int = _setting(
        5000, "words per vocabulary (source and target), the 4 special tokens included"
    )
    max_source_tokens: int = _setting(
        64, "source words kept per sentence, in training and serving; the rest is cut"
    )
    max_target_tokens: int = _setting(
        64, "target tokens per sentence with [START] and [END]; also bounds output length"
    )
    keep_accents: bool = _setting(
        False, "keep accents and every Unicode letter (false: the tutorial's a-z only)"
    )

    # Model (modules/model/).
    embedding_dim: int = _setting(128, "size of the word embeddings")
    units: int = _setting(256, "recurrent units of the encoder and decoder")
    attention: str = _setting(
        "bahdanau", "attention over the encoder outputs: additive (Bahdanau) or Luong's"
    )
    cell: str = _setting("gru", "recurrent cell of the encoder and the decoder")
    bidirectional: bool = _setting(False, "bidirectional encoder (units split over both)")
    encoder_layers: int = _setting(1, "stacked encoder RNN layers")
    dropout: float = _setting(0.1, "dropout on embeddings and attention vectors, in [0, 1)")

    # Training (modules/trainer.py).
    epochs: int = _setting(20, "training epochs (0 exports an untrained model)")
    steps_per_epoch: int = _setting(0, "batches per epoch; 0 means one pass over the train split")
    batch_size: int = _setting(64, "sentences per global batch, split over all replicas")
    learning_rate: float = _setting(1e-3, "learning rate of the Adam optimizer")
    early_stopping_patience: int = _setting(
        3, "stop after this many epochs without a better eval loss (0: never)"
    )
    # "mixed_bfloat16" computes in bfloat16 with float32 weights: 1.7x faster training at
    # the tutorial's sizes on a CPU with AMX (benchmarks/); "float32" is exact.
    precision: str = _setting("float32", "compute precision; mixed_bfloat16 keeps float32 weights")

    # Decoding in the exported model (modules/decoding.py).
    decoding: str = _setting("greedy", "search of the serving_default signature")
    beam_width: int = _setting(4, "hypotheses kept by beam search")
    length_penalty: float = _setting(0.6, "beam search's GNMT length penalty alpha (0: none)")
    temperature: float = _setting(1.0, "softmax temperature of the sampling search (> 0)")

    # Evaluation and blessing (pipeline/evaluation.py), on the test split.
    eval_decoding: str = _setting("greedy", "search used to score BLEU on the test split")
    bleu_floor: float = _setting(1.0, "lowest test-split BLEU that blesses (and pushes)")
    max_bleu_regression: float = _setting(
        1.0, "BLEU a new model may lose against the last blessed one and still be blessed"
    )

    # Runtime.
    pipeline_name: str = _setting(
        "nmt-attention", "pipeline name in ML Metadata (letters, digits, '.', '_', '-')"
    )
    output_root: str = _setting(
        "outputs", "where artifacts, metadata, logs, the report and pushed models go"
    )
    # Beam: the DirectRunner with one worker process per core (0 = all cores); give e.g.
    # --runner=DataflowRunner ... to scale out (README, "Scaling out").
    beam_pipeline_args: tuple[str, ...] = _setting(
        ("--direct_running_mode=multi_processing", "--direct_num_workers=0"),
        "Beam options of the data components, as one shell-quoted string",
    )

    def __post_init__(self) -> None:
        self._validate()

    # ------------------------------------------------------------------ derived values
    @property
    def source_language(self) -> str:
        return self.direction.split("-")[0]

    @property
    def target_language(self) -> str:
        return self.direction.split("-")[1]

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_root, "pipeline_root")

    @property
    def serving_model_dir(self) -> str:
        """Where the Pusher writes models, in the TF Serving layout `<dir>/<version>/`."""
        return os.path.join(self.output_root, "serving_model")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_root, "metadata.sqlite")

    # ------------------------------------------------------------------ (de)serialisation
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, values: dict) -> PipelineConfig:
        known = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown config field(s) {unknown}; known fields are {sorted(known)}"
            )
        coerced = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in values.items()
        }
        return cls(**coerced)

    @classmethod
    def from_file(cls, path: str) -> PipelineConfig:
        """The config in a JSON file of field values (unset fields keep their defaults)."""
        return cls.from_dict(read_config_file(path))

    @classmethod
    def from_environment(cls) -> PipelineConfig:
        """The config in the file named by $NMT_PIPELINE_CONFIG, else the defaults."""
        path = os.environ.get(CONFIG_FILE_ENV)
        return cls.from_file(path) if path else cls()

    def replace(self, **changes) -> PipelineConfig:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        self._validate_direction()
        if len(self.split_buckets) != 3 or any(
            not isinstance(b, int) or b < 1 for b in self.split_buckets
        ):
            raise ConfigError(
                f"split_buckets={self.split_buckets!r}: give three positive integers, the "
                "relative sizes of the train, eval and test splits, e.g. (8, 1, 1)"
            )
        for name in ("max_line_chars", "max_source_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.max_target_tokens < 3:
            raise ConfigError(
                f"max_target_tokens={self.max_target_tokens}: must be at least 3 "
                "([START], one word, [END])"
            )
        if self.vocab_size < 3:
            raise ConfigError(
                f"vocab_size={self.vocab_size}: must be at least 3 (padding, one word "
                "and the out-of-vocabulary id); the tutorial uses 5000"
            )
        if not 0.0 <= self.max_rejected_fraction <= 1.0:
            raise ConfigError(
                f"max_rejected_fraction={self.max_rejected_fraction}: must be in [0, 1]"
            )
        self._validate_model_and_training()
        if not self.pipeline_name or not re.fullmatch(r"[A-Za-z0-9_.-]+", self.pipeline_name):
            raise ConfigError(
                f"pipeline_name={self.pipeline_name!r}: use letters, digits, '.', '_', '-'"
            )

    def _validate_model_and_training(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}={getattr(self, name)!r}: choose one of {allowed}")
        positive = ("embedding_dim", "units", "encoder_layers", "batch_size", "beam_width")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1")
        for name in ("epochs", "steps_per_epoch", "early_stopping_patience"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}: must be 0 or more")
        if self.bidirectional and self.units % 2:
            raise ConfigError(
                f"units={self.units}: a bidirectional encoder splits units over two "
                "directions, so give an even number"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout}: must be in [0, 1)")
        for name in ("learning_rate", "temperature"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)}: must be greater than 0")
        for name in ("length_penalty", "bleu_floor", "max_bleu_regression"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}: must be 0 or more")

    def _validate_direction(self) -> None:
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

    def check_paths(self) -> None:
        """Fails early when the input data or the output root cannot be used."""
        if not glob.glob(self.data_root):
            raise ConfigError(
                f"data_root={self.data_root!r} does not exist: point it at a directory, "
                "file or glob of .txt/.tsv(.gz) corpora"
            )
        try:
            os.makedirs(self.output_root, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"output_root={self.output_root!r} cannot be created ({error}): choose a "
                "writable directory"
            ) from error
        if not os.access(self.output_root, os.W_OK):
            raise ConfigError(f"output_root={self.output_root!r} is not writable")


def read_config_file(path: str) -> dict:
    """The field values in a JSON config file (a subset of the fields is fine)."""
    try:
        with open(path) as f:
            values = json.load(f)
    except OSError as error:
        raise ConfigError(f"config file {path!r} cannot be read: {error}") from error
    except json.JSONDecodeError as error:
        raise ConfigError(f"config file {path!r} is not valid JSON: {error}") from error
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path!r}: expected a JSON object of field values")
    try:
        PipelineConfig.from_dict(values)
    except (ConfigError, TypeError) as error:
        raise ConfigError(f"config file {path!r}: {error}") from error
    return values
