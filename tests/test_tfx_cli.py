"""The TFX CLI runs the pipeline through the runner file pipeline/local_runner.py.

The session's tiny pipeline run (conftest.tiny_pipeline_run) is made with
`tfx pipeline create` + `tfx run create --engine=local` from a config file; the
end-to-end tests check its outputs. This checks the run itself.
"""

from pathlib import Path


def test_tfx_cli_ran_every_component_and_pushed_the_model(tiny_pipeline_run):
    config, components = tiny_pipeline_run
    assert set(components) >= {"TsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"}
    assert all(component.state == "ran" for component in components.values())
    assert list(Path(config.serving_model_dir).iterdir()), "the blessed model was not pushed"
