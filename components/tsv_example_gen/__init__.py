"""TsvExampleGen: tab-separated sentence pairs to split tf.Examples, rejects reported."""

from components.tsv_example_gen.component import RejectedLines, TsvExampleGen

__all__ = ["RejectedLines", "TsvExampleGen"]
