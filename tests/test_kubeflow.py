"""The Kubeflow V2 runner compiles a pipeline that runs from the image, not from this machine."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.client import client as kfp_client
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import kubeflow_runner
from pipeline.config import PROJECT_ROOT, ConfigError, PipelineConfig
from pipeline.definition import create_pipeline

IMAGE = "registry.example.com/nmt-tfx:test"
CLUSTER_CONFIG = PipelineConfig.with_fields(
    output_root="gs://example-bucket/nmt",
    beam_pipeline_args=("--runner=DataflowRunner", "--region=europe-west4"),
    epochs=3,
)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    job_file = tmp_path_factory.mktemp("kfp") / "nmt.json"
    kubeflow_runner.compile_pipeline(CLUSTER_CONFIG, IMAGE, str(job_file))
    return job_file, json.loads(job_file.read_text())


def test_compiled_json_is_a_pipeline_spec_naming_every_component(compiled):
    _, job = compiled
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    tasks = set(spec.root.dag.tasks)
    for component in create_pipeline(CLUSTER_CONFIG).components:
        assert any(task.split("-")[0] == component.id for task in tasks), component.id
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://example-bucket/nmt/pipeline_root"


def test_dag_edges_are_the_pipelines_data_dependencies(compiled):
    _, job = compiled
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    for component in create_pipeline(CLUSTER_CONFIG).components:
        if component.id not in tasks:  # the resolver compiles to several resolver tasks
            continue
        upstream = {task.split("-")[0] for task in tasks[component.id].get("dependentTasks", [])}
        assert upstream == {node.id for node in component.upstream_nodes}, component.id


def test_every_step_runs_in_the_image_with_module_paths_not_local_files(compiled):
    job_file, job = compiled
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"].values()
    containers = [executor["container"] for executor in executors if "container" in executor]
    assert containers and all(container["image"] == IMAGE for container in containers)
    text = job_file.read_text()
    assert str(PROJECT_ROOT) not in text
    for module_path in (
        "modules.text.transform.preprocessing_fn",
        "modules.training.trainer.run_fn",
    ):
        assert module_path in text
    assert f"{kubeflow_runner.IMAGE_PROJECT_ROOT}/data/spa-eng" in text
    assert "--runner=DataflowRunner" in text


def test_pipeline_spec_package_loads_with_the_kfp_client_reader(compiled):
    job_file, job = compiled
    package = kubeflow_runner.write_pipeline_spec(job, str(job_file))
    loaded = kfp_client._extract_pipeline_yaml(package)
    assert set(loaded.pipeline_spec.root.dag.tasks) == set(
        job["pipelineSpec"]["root"]["dag"]["tasks"]
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"output_root": "outputs"}, "local path"),
        ({"output_root": "gs://b/n", "data_root": "/srv/corpora"}, "on this machine only"),
    ],
)
def test_host_only_paths_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        kubeflow_runner.for_image(PipelineConfig.with_fields(**changes))


def test_submit_without_a_target_is_a_usage_error(tmp_path, capsys):
    assert kubeflow_runner.main(["--submit", "--output", str(tmp_path / "p.json")]) == 2
    assert "--submit needs --host" in capsys.readouterr().err


def test_dockerfile_builds_on_the_pinned_tfx_image_and_copies_what_the_pipeline_imports():
    import tfx

    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert f"FROM tensorflow/tfx:{tfx.__version__}\n" in dockerfile
    assert f"WORKDIR {kubeflow_runner.IMAGE_PROJECT_ROOT}\n" in dockerfile
    for package in ("components", "modules", "pipeline", "data"):
        assert f"COPY {package} {package}\n" in dockerfile


def test_the_gpu_image_adds_the_cuda_wheels_that_the_constraints_pin():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "ARG VARIANT=cpu\n" in dockerfile and "gpu) extras=kfp,gpu" in dockerfile
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert 'gpu = ["tensorflow[and-cuda]~=2.16.1"]' in pyproject
    constraints = (PROJECT_ROOT / "requirements" / "constraints.txt").read_text().splitlines()
    pinned = {line.split("==")[0]: line.split("==")[1] for line in constraints if "==" in line}
    # What TensorFlow 2.16.2's `and-cuda` extra requires, each pinned to its exact version.
    metadata = importlib.metadata.metadata("tensorflow").get_all("Requires-Dist")
    cuda = [r for r in metadata if "extra == 'and-cuda'" in r or 'extra == "and-cuda"' in r]
    assert len(cuda) == 12
    for requirement in cuda:
        name, version = requirement.split(";")[0].replace(" ", "").split("==")
        assert pinned.get(name) == version, requirement


def test_the_trainer_step_asks_for_the_accelerators_given(tmp_path):
    job_file = tmp_path / "gpu.json"
    kubeflow_runner.compile_pipeline(CLUSTER_CONFIG, IMAGE, str(job_file), "NVIDIA_L4", 2)
    executors = json.loads(job_file.read_text())["pipelineSpec"]["deploymentSpec"]["executors"]
    resources = {
        name: spec.get("container", {}).get("resources") for name, spec in executors.items()
    }
    assert resources.pop("Trainer_executor") == {"accelerator": {"type": "NVIDIA_L4", "count": "2"}}
    assert set(resources.values()) == {None}  # the other steps ask for none


def test_tfx_cli_vertex_compile_works_as_the_readme_writes_it(tmp_path):
    """`PATH="$PWD/.venv/bin:$PATH" tfx pipeline compile --engine vertex ...`: the TFX CLI looks
    for kfp with the `pip` on PATH, so the venv's bin must come first (README, Runners)."""
    config_file = tmp_path / "cluster.json"
    config_file.write_text(CLUSTER_CONFIG.to_json())
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": venv_bin + os.pathsep + os.environ["PATH"],
        "NMT_PIPELINE_CONFIG": str(config_file),
        kubeflow_runner.IMAGE_ENV: IMAGE,
    }
    done = subprocess.run(
        [
            "tfx",
            "pipeline",
            "compile",
            "--engine",
            "vertex",
            "--pipeline_path",
            str(PROJECT_ROOT / "pipeline" / "kubeflow_runner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "Pipeline nmt-attention compiled successfully." in done.stdout
    job = json.loads((tmp_path / "build" / "nmt-attention.json").read_text())
    assert "Trainer" in job["pipelineSpec"]["root"]["dag"]["tasks"]
