"""The training seed: a re-run with the same seed starts from the same weights, another
seed from others (the Trainer's `train` on the tiny run's Transform output)."""

import numpy as np
from tfx.components.trainer.fn_args_utils import FnArgs

from modules.training import distribution, trainer
from tests.helpers import trainer_fn_args


def initial_weights(tiny_pipeline_run, run_dir, seed: int) -> list[np.ndarray]:
    fn_args = FnArgs(**trainer_fn_args(tiny_pipeline_run, run_dir, epochs=0, seed=seed))
    trainer_config = trainer.TrainerConfig.from_custom_config(fn_args.custom_config)
    model, _ = trainer.train(trainer_config, fn_args, distribution.choose_strategy())
    return model.get_weights()


def test_the_same_seed_gives_the_same_initial_weights_and_another_seed_others(
    tiny_pipeline_run, tmp_path
):
    first, again, other = (
        initial_weights(tiny_pipeline_run, tmp_path / f"run{index}", seed)
        for index, seed in enumerate((1, 1, 2))
    )
    assert len(first) == len(again) == len(other) > 0
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first, other, strict=True):
        randomly_drawn = np.ptp(a) > 0  # not a constant start such as a zero bias
        assert np.array_equal(a, b) != randomly_drawn
