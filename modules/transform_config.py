"""`TransformConfig`: how Transform (modules/transform.py) and the exported model turn text
into ids."""

from __future__ import annotations

import dataclasses

from modules.settings import ConfigError, Settings, setting


@dataclasses.dataclass(frozen=True)
class TransformConfig(Settings):
    vocab_size: int = setting(
        5000, "words per vocabulary (source and target), the 4 special tokens included"
    )
    max_source_tokens: int = setting(
        64, "source words kept per sentence, in training and serving; the rest is cut"
    )
    max_target_tokens: int = setting(
        64, "target tokens per sentence with [START] and [END]; also bounds output length"
    )
    keep_accents: bool = setting(
        False, "keep accents and every Unicode letter (false: the tutorial's a-z only)"
    )

    def validate(self) -> None:
        self.require_at_least(1, ("max_source_tokens",))
        if self.max_target_tokens < 3:
            raise ConfigError(
                f"max_target_tokens={self.max_target_tokens}: must be at least 3 "
                "([START], one word, [END])"
            )
        if self.vocab_size < 3:
            raise ConfigError(
                f"vocab_size={self.vocab_size}: must be at least 3 (padding, one word "
                "and the out-of-vocabulary id); the tutorial uses 5000"
            )
