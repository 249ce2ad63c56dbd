"""One worker of MultiWorkerMirroredStrategy Trainer runs, as a TFX Trainer process would.

Run as `python -m tests.multi_worker_training FN_ARGS_JSON WEIGHTS_NPZ [FN_ARGS_JSON
WEIGHTS_NPZ ...]` with TF_CONFIG set: one strategy, then for each pair a training with
modules.training.trainer whose final weights go to WEIGHTS_NPZ; the last is exported.
Prints a JSON list with a summary of each training.
"""

import json
import sys


def main(*files: str) -> None:
    import numpy as np

    from modules.training import distribution, trainer

    strategy = distribution.choose_strategy()  # before any TensorFlow op, as in run_fn
    from tfx.components.trainer.fn_args_utils import FnArgs

    trainings = list(zip(files[::2], files[1::2], strict=True))
    summaries = []
    for index, (fn_args_file, weights_file) in enumerate(trainings):
        with open(fn_args_file) as f:
            fn_args = FnArgs(**json.load(f))
        config = trainer.TrainerConfig.from_custom_config(fn_args.custom_config)
        model, tft_output = trainer.train(config, fn_args, strategy)
        np.savez(weights_file, *model.get_weights())
        if index == len(trainings) - 1:
            trainer.export_trained(model, tft_output, config, fn_args)
        summaries.append(
            {
                "replicas": strategy.num_replicas_in_sync,
                "chief": distribution.is_chief(),
                "epochs_run": len(model.history.epoch),
            }
        )
    print(json.dumps(summaries))


if __name__ == "__main__":
    main(*sys.argv[1:])
