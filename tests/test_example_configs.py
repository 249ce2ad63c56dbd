"""The example configs (configs/*.json) are valid configs, every Beam flag in them is an
option Beam knows, and the cluster ones compile for Kubeflow with those flags."""

import json
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import kubeflow_runner
from pipeline.config import PipelineConfig

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.json"))


def test_there_are_configs_for_each_runner_and_model():
    assert {path.stem for path in CONFIGS} >= {
        "dataflow",
        "flink",
        "spark",
        "local-2-workers",
        "portable",
        "sample-quick",
        "quality-60min",
        "transformer",
        "fra-eng",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_every_example_config_loads_and_says_something(path):
    config = PipelineConfig.from_file(str(path))
    assert config != PipelineConfig()
    assert path.name in (path.parent / "README.md").read_text()


def test_the_sample_config_points_at_the_shipped_sample():
    config = PipelineConfig.from_file(str(CONFIGS[0].parent / "sample-quick.json"))
    assert (CONFIGS[0].parent.parent / config.data.data_root).is_file()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_beam_flags_are_known_beam_options(path):
    config = PipelineConfig.from_file(str(path))
    known = PipelineOptions(list(config.runtime.beam_pipeline_args)).get_all_options()
    for flag in config.runtime.beam_pipeline_args:
        assert flag.startswith("--") and flag[2:].split("=")[0] in known, flag


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if "://" in p.read_text()], ids=lambda path: path.stem
)
def test_cluster_configs_compile_for_kubeflow_with_their_beam_flags(path, tmp_path):
    config = PipelineConfig.from_file(str(path))
    job = kubeflow_runner.compile_pipeline(
        config, "registry.example/nmt:1", str(tmp_path / "p.json")
    )
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    beam_steps = [
        name
        for name in ("TsvExampleGen", "StatisticsGen", "Transform", "Evaluator")
        if set(config.runtime.beam_pipeline_args)
        <= set(executors[f"{name}_executor"]["container"]["args"])
    ]
    assert beam_steps == ["TsvExampleGen", "StatisticsGen", "Transform", "Evaluator"]
    assert json.dumps(job).count(config.data.data_root) >= 1
