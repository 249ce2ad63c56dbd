import dataclasses
import re
import shlex

import pytest

from modules.training.config import TrainingConfig
from pipeline import cli
from pipeline.config import SECTIONS, ConfigError, PipelineConfig


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"direction": "spa-fra"}, "one side English"),
        ({"direction": "spanish"}, "source-target"),
        ({"vocab_size": 0}, "vocab_size=0"),
        ({"vocab_size": 0, "tokenizer": "word"}, "vocab_size=0"),
        ({"vocab_size": 200}, "sentencepiece needs at least 261"),
        ({"keep_accents": True}, "tokenizer=word only"),
        ({"tokenizer": "bpe"}, "sentencepiece"),
        ({"split_buckets": (8, 0, 1)}, "three positive integers"),
        ({"max_target_tokens": 2}, "at least 3"),
        ({"max_rejected_fraction": 1.5}, r"\[0, 1\]"),
        ({"label_smoothing": 1.0}, r"label_smoothing=1.0: must be in \[0, 1\)"),
        ({"gradient_clip_norm": -1.0}, "gradient_clip_norm=-1.0"),
        ({"learning_rate": -1e-3}, "learning_rate=-0.001: must be 0 or more"),
        ({"decay_fraction": 0.0}, r"decay_fraction=0.0: must be in \(0, 1\]"),
        ({"batch_tokens": -5}, "batch_tokens=-5"),
        ({"seed": -1}, "seed=-1: must be 0 or more"),
        ({"seed": 2**32}, r"seed=4294967296: must be less than 2\*\*32"),
        ({"pipeline_name": "a b"}, "pipeline_name"),
    ],
)
def test_invalid_values_fail_with_a_message_naming_the_field(changes, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.with_fields(**changes)


def test_the_auto_learning_rate_and_schedule_follow_the_architecture():
    rnn = TrainingConfig().schedule_for("rnn")
    assert (rnn.name, rnn.rate, rnn.decay_fraction) == ("linear_decay", 3e-3, 0.2)
    assert rnn.describe() == "0.003 until the last 0.2 of the run, then linear decay to 0"
    transformer = TrainingConfig().schedule_for("transformer")
    assert (transformer.name, transformer.rate, transformer.decay_fraction) == (
        "inverse_sqrt",
        2e-3,
        0.0,
    )
    assert transformer.describe() == (
        "linear warm-up to 0.002 over 1000 steps, then inverse square root decay"
    )
    chosen = TrainingConfig(learning_rate=1e-3, learning_rate_schedule="constant")
    constant = chosen.schedule_for("transformer")
    assert (constant.rate, constant.decay_fraction, constant.warmup_steps) == (1e-3, 0.0, 0)
    assert constant.describe() == "0.001, constant"


def test_json_round_trip_and_unknown_fields():
    config = PipelineConfig.with_fields(direction="eng-spa", split_buckets=(6, 2, 2))
    assert PipelineConfig.from_json(config.to_json()) == config
    with pytest.raises(ConfigError, match="unknown config field.*vocab"):
        PipelineConfig.from_dict({"transform": {"vocab": 10}})


def test_a_field_outside_its_section_is_named_with_its_section():
    with pytest.raises(ConfigError, match='put "units" under "model"'):
        PipelineConfig.from_dict({"units": 64})
    with pytest.raises(ConfigError, match=r"unknown config section\(s\) \['modle'\]"):
        PipelineConfig.from_dict({"modle": {"units": 64}})


def test_missing_data_root_is_reported_before_anything_runs(tmp_path):
    config = PipelineConfig.with_fields(
        data_root=str(tmp_path / "nope"), output_root=str(tmp_path / "o")
    )
    with pytest.raises(ConfigError, match="does not exist"):
        config.check_paths()


def test_every_config_field_is_a_cli_flag():
    args = cli.build_parser().parse_args(
        [
            "run",
            "--direction",
            "eng-spa",
            "--split-buckets",
            "6,2,2",
            "--tokenizer",
            "word",
            "--keep-accents",
            "true",
            "--vocab-size",
            "800",
            "--beam-pipeline-args=--direct_num_workers=2 --experiments=a,b",
        ]
    )
    config = cli.config_from_args(args)
    assert config == PipelineConfig.with_fields(
        direction="eng-spa",
        split_buckets=(6, 2, 2),
        tokenizer="word",
        keep_accents=True,
        vocab_size=800,
        beam_pipeline_args=("--direct_num_workers=2", "--experiments=a,b"),
    )


def test_cli_reports_config_errors_with_exit_code_2(capsys):
    assert cli.main(["run", "--direction", "xx-yy"]) == 2
    assert "configuration error: direction='xx-yy'" in capsys.readouterr().err


def test_an_output_root_that_cannot_be_created_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = PipelineConfig.with_fields(output_root=str(blocker / "outputs"))
    with pytest.raises(ConfigError, match="is not a writable directory"):
        config.check_paths()


def test_batch_smaller_than_local_replicas_fails_before_any_component(tmp_path, monkeypatch):
    from modules.training import distribution
    from pipeline import local_runner

    config = PipelineConfig.with_fields(output_root=str(tmp_path / "o"), batch_size=1)
    local_runner.preflight(config)  # one CPU replica: fine
    monkeypatch.setattr(distribution, "local_devices", lambda: ["/gpu:0", "/gpu:1"])
    with pytest.raises(ConfigError, match="batch_size=1 is smaller than the 2 local replicas"):
        local_runner.run(config)
    assert not (tmp_path / "o" / "metadata.sqlite").exists()


def test_config_file_sets_defaults_and_flags_override_them(tmp_path):
    config_file = tmp_path / "config.json"
    config_file.write_text(
        '{"model": {"units": 64}, "data": {"split_buckets": [6, 2, 2]}, "training": {"epochs": 3}}'
    )
    argv = ["run", "--config", str(config_file), "--epochs", "5"]
    args = cli.build_parser(cli._config_file_values(argv)).parse_args(argv)
    config = cli.config_from_args(args)
    assert (config.model.units, config.data.split_buckets, config.training.epochs) == (
        64,
        (6, 2, 2),
        5,
    )
    assert PipelineConfig.from_file(str(config_file)).training.epochs == 3


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON"),
        ('{"model": {"unit": 64}}', "unknown config field(s) ['unit']"),
        ('{"model": {"units": 0}}', "units=0: must be at least 1"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_config_file_names_the_file_and_the_problem(tmp_path, content, message):
    config_file = tmp_path / "bad.json"
    config_file.write_text(content)
    with pytest.raises(ConfigError) as error:
        PipelineConfig.from_file(str(config_file))
    assert str(config_file) in str(error.value) and message in str(error.value)


def _help_of(flag: str, help_text: str) -> str:
    """The help paragraph of `flag` in `nmt-pipeline run --help`, on one line."""
    paragraph = re.search(
        rf"^  {re.escape(flag)} .*?(?=^  -|^\S|\Z)", help_text, re.MULTILINE | re.DOTALL
    )
    assert paragraph, f"{flag} is not in --help"
    return " ".join(paragraph.group(0).split())


def test_help_describes_every_setting_and_shows_defaults_that_can_be_typed_back(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--help"])
    help_text = capsys.readouterr().out
    fields = [field for part in SECTIONS.values() for field in dataclasses.fields(part)]
    for field in fields:
        flag = cli.flag_name(field.name)
        paragraph = _help_of(flag, help_text)
        assert len(field.metadata["help"]) > 20 and field.metadata["help"][:20] in paragraph
        shown = re.search(r"\(default: (.*)\)$", paragraph).group(1)
        # The default as shown, typed back as shell words, gives the default value.
        args = cli.build_parser().parse_args(["run", *shlex.split(shown)])
        assert getattr(args, field.name) == field.default, (flag, shown)
    choices = [field for field in fields if field.metadata["choices"]]
    assert {field.name for field in choices} >= {
        "attention",
        "cell",
        "decoding",
        "precision",
        "tokenizer",
    }
    for field in choices:
        assert ", ".join(field.metadata["choices"]) in _help_of(
            cli.flag_name(field.name), help_text
        )


def test_config_flags_give_back_the_config():
    config = PipelineConfig.with_fields(
        split_buckets=(6, 2, 2),
        tokenizer="word",
        keep_accents=True,
        dropout=0.25,
        beam_pipeline_args=("--direct_running_mode=in_memory", "--label=a b"),
    )
    args = cli.build_parser().parse_args(["run", *cli.config_flags(config)])
    assert cli.config_from_args(args) == config
