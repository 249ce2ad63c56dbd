"""How `nmt-pipeline serve` listens, batches and what it accepts; each field is a flag."""

from __future__ import annotations

import dataclasses


def _setting(default, help: str, least: float | None = 1):
    """A field with its flag's help and, for numbers, the least value it takes."""
    return dataclasses.field(default=default, metadata={"help": help, "least": least})


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    model_name: str = _setting("nmt", "the NAME in /v1/models/NAME", None)
    host: str = _setting("127.0.0.1", "address to listen on (0.0.0.0: every interface)", None)
    port: int = _setting(8501, "port to listen on (0: a free one; TF Serving's REST port)", 0)
    batching: bool = _setting(
        True, "translate concurrent requests in one model call, as TF Serving's batching does"
    )
    max_batch_size: int = _setting(32, "most sentences in one batched model call")
    batch_timeout_ms: float = _setting(
        0.0,
        "how long a batch waits for more requests (0: it takes those that arrived while the "
        "model was busy with the one before)",
        0,
    )
    max_queued_sentences: int = _setting(
        1024, "sentences waiting for a batch before requests are refused with 503"
    )
    max_sentences: int = _setting(64, "most sentences (instances) in one request")
    max_sentence_chars: int = _setting(1000, "most characters in one sentence")
    max_body_bytes: int = _setting(1 << 20, "largest request body; a larger one gets 413")
    poll_seconds: float = _setting(1.0, "how often to look for a newly pushed version", 0.1)
    model_threads: int = _setting(2, "threads that call the model")
