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
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
SUPPORTED_SUFFIXES = (".txt", ".tsv", ".txt.gz", ".tsv.gz", ".gz")
# Files whose names start with these are notes or hidden files (`_about.txt`, `.DS_Store`),
# not corpora: a glob skips them; naming such a file exactly still reads it.
SKIPPED_NAME_PREFIXES = ("_", ".")
# A first line `English<TAB>Spanish[<TAB>Attribution]` names the columns: a header.
_ENGLISH_COLUMN_NAMES = ("english", "eng", "en")
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


def is_skipped_name(path: str) -> bool:
    """True for notes and hidden files (`_about.txt`, `.hidden.tsv`) that a glob skips."""
    return path.replace("\\", "/").rsplit("/", 1)[-1].startswith(SKIPPED_NAME_PREFIXES)


def is_header_line(raw: bytes) -> bool:
    """True for a column-name line such as `English<TAB>Spanish<TAB>Attribution`.

    Only a file's first line is checked (by the reader, after `iter_raw_lines` dropped any
    byte-order mark): its first column is "English" ("eng", "en", any case) and its second
    a single word of letters, e.g. "Spanish".
    """
    try:
        columns = raw.decode("utf-8").split("\t")
    except UnicodeDecodeError:
        return False
    return (
        len(columns) >= 2
        and columns[0].strip().lower() in _ENGLISH_COLUMN_NAMES
        and columns[1].strip().isalpha()
    )


def encoding_problem(head: bytes) -> str | None:
    """Why a file whose first whole lines are `head` is not UTF-8 text, or None.

    UTF-16 (a UTF-16 byte-order mark, or NUL in every other byte) and single-byte
    encodings such as Latin-1 / Windows-1252 (most lines with non-ASCII bytes are not valid
    UTF-8) are recognised; a UTF-8 file with a few corrupt lines is not flagged here, its
    bad lines are rejected one by one.
    """
    if head.startswith(UTF16_BOMS):
        return "looks like UTF-16: it starts with a UTF-16 byte-order mark"
    if len(head) >= 4 and head.count(b"\x00") * 3 >= len(head):
        return "looks like UTF-16: every other byte is NUL"
    lines = _LINE_END.split(head)
    non_ascii = [line for line in lines if any(byte >= 0x80 for byte in line)]
    invalid = [line for line in non_ascii if not _is_utf8(line)]
    if len(invalid) >= 2 and len(invalid) * 2 > len(non_ascii):
        return (
            f"looks like Latin-1 / Windows-1252: {len(invalid)} of the {len(non_ascii)} "
            "first lines with non-ASCII characters are not valid UTF-8"
        )
    return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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


def whole_lines(head: bytes, complete: bool) -> bytes:
    """`head`, the start of a file, cut after its last line ending unless it is `complete`."""
    if complete:
        return head
    cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
    return head[: cut + 1] if cut >= 0 else head


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
