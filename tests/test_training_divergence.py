"""A diverged training run fails the Trainer with what to change, and exports nothing (the
Trainer's `run_fn` on the tiny run's Transform output)."""

from pathlib import Path

import pytest
from tfx.components.trainer.fn_args_utils import FnArgs

from modules.training import callbacks, trainer
from tests.helpers import trainer_fn_args


def test_a_loss_that_turns_nan_stops_training_and_nothing_is_exported(tiny_pipeline_run, tmp_path):
    # A finite rate that no weight survives: Adam's first step moves every weight by ~1e38,
    # so the logits overflow (at 1e30 the loss stays finite, ~1e31: the floor stops that one).
    fn_args = FnArgs(
        **trainer_fn_args(
            tiny_pipeline_run, tmp_path, epochs=2, learning_rate=1e38, gradient_clip_norm=0.0
        )
    )
    with pytest.raises(callbacks.TrainingDivergedError) as diverged:
        trainer.run_fn(fn_args)
    message = str(diverged.value)
    assert message.startswith("training diverged: the training loss at step ")
    assert "of epoch 1 is " in message and "learning_rate=1e+38" in message
    assert "lower learning_rate" in message
    assert not Path(fn_args.serving_model_dir).exists()
