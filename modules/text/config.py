"""`TransformConfig`: how Transform (modules/text/transform.py) and the exported model turn text
into ids."""

from __future__ import annotations

import dataclasses

from modules.settings import ConfigError, Settings, setting

TOKENIZERS = ("sentencepiece", "word")
# SentencePiece's byte fallback reserves 256 pieces, the special tokens 4 more.
MIN_SENTENCEPIECE_VOCAB = 256 + 4 + 1


@dataclasses.dataclass(frozen=True)
class TransformConfig(Settings):
    """How Transform cuts sentences into ids: the tokenizer, its vocabulary, the lengths."""

    tokenizer: str = setting(
        "sentencepiece",
        "sentencepiece: subwords learned from the data, text kept as written; word: the "
        "TF tutorial's lower-cased words (for comparison)",
        TOKENIZERS,
    )
    vocab_size: int = setting(
        8000,
        "tokens per vocabulary at most (a small text gives fewer), the 4 special tokens "
        "(and sentencepiece's 256 bytes) included; the tutorial's word vocabulary has 5000",
    )
    shared_vocabulary: bool = setting(
        True, "sentencepiece: one model and vocabulary for both languages (false: one each)"
    )
    sentencepiece_sample: int = setting(
        1_000_000, "sentencepiece: training sentences (of both languages) it learns from, at most"
    )
    max_source_tokens: int = setting(
        64, "source tokens kept per sentence, in training and serving; the rest is cut"
    )
    max_target_tokens: int = setting(
        64, "target tokens per sentence with [START] and [END]; also bounds output length"
    )
    keep_accents: bool = setting(
        False, "word: keep accents and every Unicode letter (false: the tutorial's a-z only)"
    )

    @property
    def ids_shared(self) -> bool:
        """Whether a source id and a target id name the same piece (one joint vocabulary),
        so that a model may share its source and target embeddings."""
        return self.tokenizer == "sentencepiece" and self.shared_vocabulary

    def validate(self) -> None:
        self.require_at_least(1, ("max_source_tokens", "sentencepiece_sample"))
        if self.max_target_tokens < 3:
            raise ConfigError(
                f"max_target_tokens={self.max_target_tokens}: must be at least 3 "
                "([START], one token, [END])"
            )
        if self.tokenizer == "word":
            if self.vocab_size < 3:
                raise ConfigError(
                    f"vocab_size={self.vocab_size}: must be at least 3 (padding, one word "
                    "and the out-of-vocabulary id); the tutorial uses 5000"
                )
            return
        if self.vocab_size < MIN_SENTENCEPIECE_VOCAB:
            raise ConfigError(
                f"vocab_size={self.vocab_size}: sentencepiece needs at least "
                f"{MIN_SENTENCEPIECE_VOCAB} (256 byte pieces, 4 special tokens, one more)"
            )
        if self.keep_accents:
            raise ConfigError(
                "keep_accents applies to tokenizer=word only: sentencepiece keeps the text "
                "as written"
            )
