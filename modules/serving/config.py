"""`DecodingConfig`: the searches of the exported model (modules/serving/decoding.py)."""

from __future__ import annotations

import dataclasses

from modules.settings import Settings, setting

SEARCHES = ("greedy", "sampling", "beam")
# Searches that score BLEU reproducibly (sampling is random).
EVALUATION_SEARCHES = ("greedy", "beam")


@dataclasses.dataclass(frozen=True)
class DecodingConfig(Settings):
    """The exported model's searches: which one serves, and their settings."""

    decoding: str = setting(
        "beam",
        "search of the serving_default signature; beam 4 gave 2.2 BLEU more than greedy "
        "at a third of its speed (docs/benchmarks.md, 10)",
        SEARCHES,
    )
    beam_width: int = setting(4, "hypotheses kept by beam search")
    length_penalty: float = setting(
        0.6,
        "beam search's GNMT length penalty alpha (0: none); 0 to 1.5 moved a 12-minute "
        "model's eval-split BLEU by 0.3 (docs/benchmarks.md)",
    )
    temperature: float = setting(1.0, "softmax temperature of the sampling search (> 0)")
    eval_decoding: str = setting(
        "beam",
        "search used to score BLEU on the test split (the serving default's, unless you "
        "want to score another)",
        EVALUATION_SEARCHES,
    )

    def validate(self) -> None:
        self.require_at_least(1, ("beam_width",))
        self.require_at_least(0, ("length_penalty",))
        self.require_positive(("temperature",))
