"""Helpers shared by the tests."""

import gzip
from pathlib import Path


def write_corpus(path: Path, lines: list[str] | bytes, compress: bool = False) -> Path:
    """Writes `lines` (text lines, or raw bytes as they are) to `path`, gzipped if asked."""
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path
