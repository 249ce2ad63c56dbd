"""Compiles the pipeline for Kubeflow Pipelines / Vertex AI and, if asked, submits a run.

    python -m pipeline.kubeflow_runner --config cluster.json --image REGISTRY/nmt-tfx:0.1.0 \\
        --output build/nmt-attention.json [--submit --host https://KFP-HOST]
        [--submit --vertex-project PROJECT --vertex-region REGION]

The components run in the image built from the project's Dockerfile, so every path in the
compiled pipeline must be valid there: the output root is shared storage (gs://, s3://, or
a volume mounted in every pod) and data inside this project is read from the image's copy.
Also a runner file for `tfx pipeline compile --engine vertex --pipeline_path <this file>`
(config from $NMT_PIPELINE_CONFIG, image from $NMT_PIPELINE_IMAGE).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipeline.config import PROJECT_ROOT, ConfigError, PipelineConfig

IMAGE_ENV = "NMT_PIPELINE_IMAGE"
DEFAULT_IMAGE = "nmt-tfx:0.1.0"
# Where the Dockerfile copies the project inside the image.
IMAGE_PROJECT_ROOT = "/nmt-tfx"


def for_image(config: PipelineConfig) -> PipelineConfig:
    """The config with paths that resolve inside the image; fails on host-only paths."""
    if "://" not in config.runtime.output_root:
        raise ConfigError(
            f"output_root={config.runtime.output_root!r} is a local path, but on Kubeflow every "
            "component runs in its own container: use shared storage such as "
            "gs://BUCKET/nmt-tfx"
        )
    data_root = config.data.data_root
    if "://" not in data_root:
        absolute = Path(data_root).resolve()
        if not absolute.is_relative_to(PROJECT_ROOT):
            raise ConfigError(
                f"data_root={data_root!r} is on this machine only: copy the corpus to "
                "shared storage (e.g. gs://BUCKET/corpora/spa-eng) and point data_root there"
            )
        data_root = f"{IMAGE_PROJECT_ROOT}/{absolute.relative_to(PROJECT_ROOT).as_posix()}"
    return config.replace(data_root=data_root)


def trainer_resources(accelerator: str, count: int):
    """The Trainer's container resources: `count` accelerators of type `accelerator` (as
    Vertex AI names them, e.g. NVIDIA_L4, NVIDIA_TESLA_T4; for Kubeflow on GKE the node
    pool's GPU)."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    resources = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec()
    resources.accelerator.type = accelerator
    resources.accelerator.count = count
    return resources


def compile_pipeline(
    config: PipelineConfig,
    image: str,
    output_file: str,
    trainer_accelerator: str | None = None,
    trainer_accelerator_count: int = 1,
) -> dict:
    """Writes the KFP v2 PipelineJob JSON to `output_file` and returns it as a dict; with
    `trainer_accelerator`, the Trainer's step asks for that many of it."""
    from tfx import v1 as tfx

    from pipeline.definition import create_pipeline

    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(os.path.abspath(output_file)),
        output_filename=os.path.basename(output_file),
    )
    pipeline = create_pipeline(for_image(config))
    if trainer_accelerator:
        (trainer,) = [c for c in pipeline.components if c.id == "Trainer"]
        trainer.with_platform_config(
            trainer_resources(trainer_accelerator, trainer_accelerator_count)
        )
    return runner.run(pipeline)


def write_pipeline_spec(job: dict, job_file: str) -> str:
    """Writes the PipelineSpec inside a PipelineJob as the YAML package the kfp client reads."""
    import yaml

    spec_file = os.path.splitext(job_file)[0] + ".pipeline_spec.yaml"
    with open(spec_file, "w") as f:
        yaml.safe_dump(job["pipelineSpec"], f, sort_keys=False)
    return spec_file


def submit_to_kfp(job: dict, job_file: str, config: PipelineConfig, host: str, experiment: str):
    """Starts a run on a Kubeflow Pipelines endpoint; returns the kfp RunPipelineResult."""
    import kfp

    client = kfp.Client(host=host)
    return client.create_run_from_pipeline_package(
        write_pipeline_spec(job, job_file),
        run_name=f"{config.runtime.pipeline_name}-{os.urandom(3).hex()}",
        experiment_name=experiment,
        pipeline_root=config.pipeline_root,
        enable_caching=True,
    )


def submit_to_vertex(job_file: str, config: PipelineConfig, project: str, region: str):
    """Starts a run on Vertex AI Pipelines; returns the aiplatform PipelineJob."""
    from google.cloud import aiplatform

    job = aiplatform.PipelineJob(
        display_name=config.runtime.pipeline_name,
        template_path=job_file,
        pipeline_root=config.pipeline_root,
        project=project,
        location=region,
        enable_caching=True,
    )
    job.submit()
    return job


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.kubeflow_runner", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", help="JSON config file [$NMT_PIPELINE_CONFIG or defaults]")
    parser.add_argument("--image", default=os.environ.get(IMAGE_ENV, DEFAULT_IMAGE))
    parser.add_argument("--output", default="build/nmt-attention.json", help="[%(default)s]")
    parser.add_argument("--submit", action="store_true", help="start a run after compiling")
    parser.add_argument("--host", help="Kubeflow Pipelines endpoint for --submit")
    parser.add_argument("--experiment", default="nmt-tfx", help="KFP experiment [%(default)s]")
    parser.add_argument("--vertex-project", help="submit to Vertex AI in this GCP project")
    parser.add_argument("--vertex-region", default="us-central1", help="[%(default)s]")
    parser.add_argument(
        "--trainer-accelerator",
        metavar="TYPE",
        help="accelerator the Trainer's step asks for, e.g. NVIDIA_L4 or NVIDIA_TESLA_T4 "
        "(give a GPU image: docker build --build-arg VARIANT=gpu; docs/gpu-and-cluster.md)",
    )
    parser.add_argument(
        "--trainer-accelerator-count",
        type=int,
        default=1,
        metavar="N",
        help="how many (MirroredStrategy uses them all) [%(default)s]",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.submit and not (args.host or args.vertex_project):
            raise ConfigError("--submit needs --host (Kubeflow) or --vertex-project (Vertex AI)")
        config = (
            PipelineConfig.from_file(args.config)
            if args.config
            else PipelineConfig.from_environment()
        )
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        if args.trainer_accelerator_count < 1:
            raise ConfigError("--trainer-accelerator-count: give 1 or more")
        job = compile_pipeline(
            config,
            args.image,
            args.output,
            args.trainer_accelerator,
            args.trainer_accelerator_count,
        )
    except ConfigError as error:
        print(f"kubeflow_runner: configuration error: {error}", file=sys.stderr)
        return 2
    tasks = json.dumps(sorted(job["pipelineSpec"]["root"]["dag"]["tasks"]))
    print(f"Compiled {args.output} (image {args.image}): tasks {tasks}", flush=True)
    if args.submit and args.host:
        run = submit_to_kfp(job, args.output, config, args.host, args.experiment)
        print(f"Submitted Kubeflow run {run.run_id} to {args.host}", flush=True)
    elif args.submit:
        vertex_job = submit_to_vertex(args.output, config, args.vertex_project, args.vertex_region)
        print(f"Submitted Vertex AI pipeline job {vertex_job.resource_name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
