"""Pure-Python line handling for the TSV reader: no Beam, no TensorFlow.

Each input line becomes exactly one of `SentencePair` (accepted) or `RejectedLine`
(reported with file, line number and reason), so `accepted + rejected == lines read`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO

ENGLISH = "eng"
UTF8_BOM = b"\xef\xbb\xbf"
SUPPORTED_SUFFIXES = (".txt", ".tsv", ".txt.gz", ".tsv.gz", ".gz")
_PREVIEW_CHARS = 200
_LINE_END = re.compile(b"\r\n|\r|\n")


@dataclasses.dataclass(frozen=True)
class SentencePair:
    """An accepted line, already oriented in the translation direction."""

    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class Rejection:
    """Why a line was not accepted: a fixed `reason` (counted) and a free `detail`."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclasses.dataclass(frozen=True)
class RejectedLine:
    """A line that was not accepted, with where it came from and why."""

    path: str
    line_number: int
    rejection: Rejection
    content: bytes

    def to_tsv(self) -> str:
        """`path<TAB>line<TAB>reason<TAB>preview`, the preview escaped onto one line."""
        preview = repr(self.content[:_PREVIEW_CHARS])[2:-1]
        if len(self.content) > _PREVIEW_CHARS:
            preview += "..."
        return f"{self.path}\t{self.line_number}\t{self.rejection}\t{preview}"


def is_supported_file(path: str) -> bool:
    return path.lower().endswith(SUPPORTED_SUFFIXES)


def iter_raw_lines(stream: BinaryIO, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """Yields the lines of a binary stream without their endings.

    LF, CRLF and lone CR all end a line; bytes are passed through untouched, so decoding
    errors are reported per line. A UTF-8 byte-order mark at the start is dropped.
    """
    lines = _split_lines(stream, chunk_bytes)
    first = next(lines, None)
    if first is not None:
        yield first.removeprefix(UTF8_BOM)
        yield from lines


def _split_lines(stream: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    pending = b""
    while chunk := stream.read(chunk_bytes):
        # A CR at the end of the buffer may be the first half of a CRLF: keep it pending.
        data = pending + chunk
        held = b"\r" if data.endswith(b"\r") else b""
        lines = _LINE_END.split(data[: len(data) - len(held)])
        pending = lines.pop() + held
        yield from lines
    if pending:
        yield pending.removesuffix(b"\r")


def parse_line(
    raw: bytes,
    *,
    source_language: str,
    max_line_chars: int,
) -> SentencePair | Rejection:
    """Parses `English<TAB>Other[<TAB>ignored...]`.

    Returns the pair oriented so that `source` is in `source_language`, or why the line
    is rejected.
    """
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection("invalid UTF-8", f"byte {error.start}")
    if len(line) > max_line_chars:
        return Rejection("line too long", f"{len(line)} > max_line_chars={max_line_chars}")
    if "\x00" in line:
        return Rejection("NUL byte")
    if not line.strip():
        return Rejection("blank line")
    columns = line.split("\t")
    if len(columns) < 2:
        return Rejection("no tab", "expected English<TAB>translation")
    english, other = columns[0].strip(), columns[1].strip()
    if not english:
        return Rejection("empty English side")
    if not other:
        return Rejection("empty translation side")
    if source_language == ENGLISH:
        return SentencePair(source=english, target=other)
    return SentencePair(source=other, target=english)


def split_key(source: str) -> str:
    """The normalised source that decides the split: case, width and spacing ignored.

    All translations of one source sentence share this key and so land in one split.
    """
    return " ".join(unicodedata.normalize("NFKC", source).casefold().split())


def split_index(source: str, cumulative_buckets: list[int]) -> int:
    """Index of the split whose hash-bucket range holds `source`'s key.

    `cumulative_buckets` are running totals, e.g. [8, 9, 10] for an 8:1:1 split.
    """
    digest = hashlib.sha256(split_key(source).encode("utf-8")).hexdigest()
    bucket = int(digest, 16) % cumulative_buckets[-1]
    return next(i for i, upper in enumerate(cumulative_buckets) if bucket < upper)
