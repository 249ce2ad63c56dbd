"""The test suite. Every test module and test script (`python -m tests.<name>`) is imported
as part of this package, so this import of `pipeline` runs first and sets the process
environment before anything loads TensorFlow."""

import pipeline  # noqa: F401
