"""Trains a tiny model under N replicas and prints its loss curve as JSON.

Run as `python -m tests.replica_training N ARCHITECTURE` in a fresh process: the logical
CPU devices must be configured before TensorFlow starts.
"""

import json
import sys

import tensorflow as tf

# Tiny sizes of each architecture, and a learning rate that trains it fast but smoothly
# (chaotic training would amplify the replicas' different summation order).
MODELS = {
    "rnn": ({"embedding_dim": 16, "units": 32}, 0.01),
    "transformer": ({"layers": 1, "model_width": 16, "heads": 2, "feed_forward_width": 32}, 0.005),
}


def main(replicas: int, architecture: str) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from modules.model.config import ModelConfig
    from modules.training import distribution, trainer
    from modules.training.config import TrainingConfig
    from tests.helpers import toy_batch

    strategy = (
        distribution.choose_strategy()
        if replicas == 2
        else tf.distribute.MirroredStrategy(["/cpu:0"])
    )
    inputs, target_out = toy_batch(seed=5, batch=64)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, target_out)).batch(16)
    sizes, learning_rate = MODELS[architecture]
    model_config = ModelConfig(architecture=architecture, dropout=0.0, **sizes)
    tf.keras.utils.set_random_seed(7)
    with strategy.scope():
        # A constant rate: the Transformer's warm-up would outlast these 80 steps.
        training_config = TrainingConfig(
            learning_rate=learning_rate, learning_rate_schedule="constant", precision="float32"
        )
        model = trainer.build_model(model_config, training_config, 20, 20)
    history = model.fit(dataset, epochs=20, verbose=0)
    print(
        json.dumps(
            {
                "replicas": strategy.num_replicas_in_sync,
                "loss": history.history["loss"],
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
