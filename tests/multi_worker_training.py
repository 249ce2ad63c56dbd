"""One worker of a MultiWorkerMirroredStrategy Trainer run, as a TFX Trainer process would.

Run as `python -m tests.multi_worker_training FN_ARGS_JSON WEIGHTS_NPZ` with TF_CONFIG
set: trains with modules.training.trainer, saves the final weights, exports, prints a JSON summary.
"""

import json
import sys


def main(fn_args_file: str, weights_file: str) -> None:
    import numpy as np

    from modules.training import distribution, trainer

    strategy = distribution.choose_strategy()  # before any TensorFlow op, as in run_fn
    from tfx.components.trainer.fn_args_utils import FnArgs

    with open(fn_args_file) as f:
        fn_args = FnArgs(**json.load(f))
    config = trainer.TrainerConfig.from_custom_config(fn_args.custom_config)
    model, tft_output = trainer.train(config, fn_args, strategy)
    np.savez(weights_file, *model.get_weights())
    trainer.export_trained(model, tft_output, config, fn_args)
    summary = {
        "replicas": strategy.num_replicas_in_sync,
        "chief": distribution.is_chief(),
        "epochs_run": len(model.history.epoch),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(*sys.argv[1:3])
