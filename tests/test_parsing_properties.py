"""Property-based tests of the TSV reader's pure parts: nothing lost, nothing crashes."""

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from components.tsv_example_gen import parsing
from tests.helpers import corpora, expected_lines


@settings(max_examples=300, deadline=None)
@given(corpora(), st.integers(min_value=1, max_value=64))
def test_every_line_is_read_once_whatever_the_endings_and_chunks(data, chunk_bytes):
    lines = list(parsing.iter_raw_lines(io.BytesIO(data), chunk_bytes=chunk_bytes))
    assert lines == expected_lines(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["spa", "eng"]), st.integers(1, 300))
def test_every_line_is_accepted_or_rejected_with_a_reason(raw, source_language, max_chars):
    parsed = parsing.parse_line(raw, source_language=source_language, max_line_chars=max_chars)
    if isinstance(parsed, parsing.SentencePair):
        assert parsed.source.strip() and parsed.target.strip()
        assert len(raw.decode("utf-8")) <= max_chars
    else:
        assert isinstance(parsed, parsing.Rejection) and parsed.reason
        row = parsing.RejectedLine("f.txt", 3, parsed, raw).to_tsv()
        assert row.startswith("f.txt\t3\t") and "\n" not in row and "\r" not in row


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from([[8, 9, 10], [1, 2, 3], [60, 80, 100]]))
def test_split_index_is_stable_and_in_range(source, buckets):
    index = parsing.split_index(source, buckets)
    assert 0 <= index < len(buckets)
    assert parsing.split_index(f"  {source.upper()} ", buckets) == parsing.split_index(
        source.upper(), buckets
    )
