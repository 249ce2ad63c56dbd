"""Config values of the wrong type or not finite are configuration errors naming the field,
from a JSON file and from flags alike; nothing else gets through (hypothesis)."""

import dataclasses
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import cli
from pipeline.config import FIELD_SECTIONS, SECTIONS, ConfigError, PipelineConfig

DEFAULTS = {
    field.name: field.default
    for settings_class in SECTIONS.values()
    for field in dataclasses.fields(settings_class)
}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def has_the_defaults_type(value, default) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, float) and math.isfinite(value)
    if isinstance(default, tuple):
        return isinstance(value, tuple) and all(
            has_the_defaults_type(item, default[0]) for item in value
        )
    return isinstance(value, type(default))


@settings(max_examples=600, deadline=None)
@given(name=st.sampled_from(sorted(FIELD_SECTIONS)), value=json_values)
def test_any_json_value_for_any_field_is_taken_with_its_type_or_refused_naming_it(name, value):
    section = FIELD_SECTIONS[name]
    # The value as a config file gives it (JSON lists become tuples).
    document = json.loads(json.dumps({section: {name: value}}))
    try:
        config = PipelineConfig.from_dict(document)
    except ConfigError as error:
        assert str(error).startswith(f"{section}: {name}="), error
        return
    assert has_the_defaults_type(config.field_values()[name], DEFAULTS[name])


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("model", {"bidirectional": "false"}, "bidirectional='false': expected true or false"),
        ("model", {"bidirectional": "false", "units": 33}, "bidirectional='false'"),
        ("model", {"units": 64.5}, "units=64.5: expected a whole number"),
        ("model", {"units": "sixty"}, "units='sixty': expected a whole number"),
        ("training", {"epochs": True}, "epochs=True: expected a whole number"),
        ("training", {"learning_rate": None}, "learning_rate=null: expected a number"),
        ("data", {"split_buckets": [8, "1", 1]}, "split_buckets=.*expected a whole number"),
        ("runtime", {"beam_pipeline_args": "--runner=X"}, "beam_pipeline_args=.*a list"),
    ],
)
def test_the_reported_cases_name_the_file_the_field_and_the_type(
    tmp_path, section, values, message
):
    config_file = tmp_path / "run.json"
    config_file.write_text(json.dumps({section: values}))
    with pytest.raises(ConfigError, match=f"{config_file}.*{section}: {message}"):
        PipelineConfig.from_file(str(config_file))


def test_a_whole_number_is_a_floats_value_and_stays_a_float():
    config = PipelineConfig.from_dict({"training": {"learning_rate": 1, "train_minutes": 12}})
    assert config.training.learning_rate == 1.0 and isinstance(config.training.learning_rate, float)
    assert isinstance(config.training.train_minutes, float)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_non_finite_settings_on_the_command_line_are_configuration_errors(capsys, value):
    assert cli.main(["run", f"--learning-rate={value}", "--bleu-floor", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nmt-pipeline: configuration error: learning_rate=")
    assert "expected a finite number" in err


@pytest.mark.parametrize("flag", ["--bleu-floor", "--train-minutes", "--dropout"])
def test_every_float_flag_refuses_nan(capsys, flag):
    assert cli.main(["run", flag, "nan"]) == 2
    assert "expected a finite number" in capsys.readouterr().err
