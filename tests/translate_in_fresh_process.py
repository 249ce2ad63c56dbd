"""Loads a pushed SavedModel with nothing but TensorFlow and TF Text, translates, prints JSON.

Run as `python tests/translate_in_fresh_process.py MODEL_DIR SENTENCE...`.
"""

import json
import sys

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the normalisation ops the model uses)


def main(model_dir: str, sentences: list[str]) -> None:
    model = tf.saved_model.load(model_dir)
    batch = tf.constant(sentences)
    attention = model.signatures["attention"](batch)
    result = {
        "signatures": sorted(model.signatures),
        "translations": {
            name: [t.decode() for t in model.signatures[name](batch)["translation"].numpy()]
            for name in ("serving_default", "greedy", "beam_search")
        },
        "output_tokens": [[t.decode() for t in row] for row in attention["output_tokens"].numpy()],
        "attention_row_sums": attention["attention"].numpy().sum(-1).tolist(),
        "foreign_modules": sorted(
            name
            for name in ("tensorflow_transform", "tfx", "tf_keras", "apache_beam")
            if name in sys.modules
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
