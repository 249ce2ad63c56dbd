"""The training seed: a re-run with the same seed starts from the same weights, another
seed from others (the Trainer's `train` on the tiny run's Transform output)."""

import numpy as np
from tfx.components.trainer.fn_args_utils import FnArgs

from modules import distribution, trainer
from pipeline import definition


def initial_weights(tiny_pipeline_run, tmp_path, seed: int) -> list[np.ndarray]:
    config, components = tiny_pipeline_run
    (examples,) = components["Transform"].artifacts["transformed_examples"]
    (transform_graph,) = components["Transform"].artifacts["transform_graph"]
    run_config = config.replace(epochs=0, seed=seed, output_root=str(tmp_path / "outputs"))
    fn_args = FnArgs(
        train_files=[f"{examples}/Split-train/*"],
        eval_files=[f"{examples}/Split-eval/*"],
        transform_output=transform_graph,
        model_run_dir=str(tmp_path / f"model_run_{seed}"),
        custom_config=definition.trainer_config(run_config).to_custom_config(),
    )
    trainer_config = trainer.TrainerConfig.from_custom_config(fn_args.custom_config)
    model, _ = trainer.train(trainer_config, fn_args, distribution.choose_strategy())
    return model.get_weights()


def test_the_same_seed_gives_the_same_initial_weights_and_another_seed_others(
    tiny_pipeline_run, tmp_path
):
    first, again, other = (initial_weights(tiny_pipeline_run, tmp_path, s) for s in (1, 1, 2))
    assert len(first) == len(again) == len(other) > 0
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first, other, strict=True):
        randomly_drawn = np.ptp(a) > 0  # not a constant start such as a zero bias
        assert np.array_equal(a, b) != randomly_drawn
