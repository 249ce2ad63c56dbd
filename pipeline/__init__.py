"""The pipeline: its config, definition, runners, console script, report and tools.

Importing this package sets the process environment, so every entry point goes through
here before anything loads TensorFlow: the console script, the runner files (which import
only `pipeline` modules at the top), the tests' and benchmarks' first import. Beam's worker
processes inherit it; the Docker image, whose entry points are TFX's own, sets it itself.
"""

import os
import sys

# TensorFlow Transform and TFMA 0.47 need tf-keras (Keras 2) behind tf.keras: TensorFlow
# gives it when TF_USE_LEGACY_KERAS has one of these values at its first import.
LEGACY_KERAS = ("1", "true", "True")
if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") not in LEGACY_KERAS:
    raise ImportError(
        "TensorFlow was imported before the `pipeline` package, with Keras 3: import "
        "`pipeline` first, or set TF_USE_LEGACY_KERAS=1"
    )
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
