import io

import pytest

from components.tsv_example_gen import parsing


def _parse(raw: bytes, source_language: str = "spa", max_line_chars: int = 100):
    return parsing.parse_line(raw, source_language=source_language, max_line_chars=max_line_chars)


def test_good_line_is_oriented_by_direction():
    line = b"Go.\tVe."
    assert _parse(line, "spa") == parsing.SentencePair(source="Ve.", target="Go.")
    assert _parse(line, "eng") == parsing.SentencePair(source="Go.", target="Ve.")


def test_attribution_column_is_ignored_and_sides_are_stripped():
    line = " Hi. \t ¡Hola! \tCC-BY 2.0 (France) Attribution: tatoeba.org #538123".encode()
    assert _parse(line) == parsing.SentencePair(source="¡Hola!", target="Hi.")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"no tab here", "no tab"),
        (b"", "blank line"),
        (b"  \t  ", "blank line"),
        (b"\tHola.", "empty English side"),
        (b"Hello.\t  ", "empty translation side"),
        (b"Hello.\t\xffHola", "invalid UTF-8"),
        (b"Hel\x00lo.\tHola.", "NUL byte"),
        (b"x" * 101 + b"\ty", "line too long"),
    ],
)
def test_every_bad_line_kind_has_its_reason(raw, reason):
    rejection = _parse(raw)
    assert isinstance(rejection, parsing.Rejection)
    assert rejection.reason == reason


def test_rejection_details_say_where_and_how_much():
    assert _parse(b"ab\t\xc3(") == parsing.Rejection("invalid UTF-8", "byte 3")
    assert _parse(b"x" * 120, max_line_chars=100).detail == "120 > max_line_chars=100"


def test_rejected_line_tsv_row_names_file_line_and_reason_on_one_line():
    rejected = parsing.RejectedLine("a.txt", 7, parsing.Rejection("no tab"), b"bad\rline\xff")
    assert rejected.to_tsv() == "a.txt\t7\tno tab\tbad\\rline\\xff"


def test_raw_lines_split_on_lf_crlf_and_cr_and_drop_a_leading_bom():
    stream = io.BytesIO(parsing.UTF8_BOM + b"a\tb\r\nc\td\re\tf\ng\th")
    assert list(parsing.iter_raw_lines(stream)) == [b"a\tb", b"c\td", b"e\tf", b"g\th"]


def test_raw_lines_keep_undecodable_bytes_and_blank_lines():
    stream = io.BytesIO(b"\xff\xfe\n\nx\n")
    assert list(parsing.iter_raw_lines(stream)) == [b"\xff\xfe", b"", b"x"]


def test_split_key_ignores_case_width_and_spacing():
    assert parsing.split_key("  Ve   AHORA. ") == parsing.split_key("ve ahora.")
    assert parsing.split_key("ＶＥ") == parsing.split_key("ve")


def test_split_index_is_deterministic_and_follows_bucket_ratios(sample_lines):
    buckets = [8, 9, 10]
    sources = [line.split("\t")[1] for line in sample_lines]
    first = [parsing.split_index(s, buckets) for s in sources]
    assert first == [parsing.split_index(s, buckets) for s in sources]
    train_fraction = first.count(0) / len(first)
    assert 0.75 < train_fraction < 0.85
    assert first.count(1) > 0 and first.count(2) > 0


@pytest.mark.parametrize("path", ["a.txt", "b.TSV", "c.txt.gz", "d.tsv.gz", "e.gz"])
def test_supported_files(path):
    assert parsing.is_supported_file(path)


@pytest.mark.parametrize("path", ["a.csv", "_about", "b.json", "c.txt.bak"])
def test_unsupported_files(path):
    assert not parsing.is_supported_file(path)


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 1024])
def test_raw_lines_are_the_same_whatever_the_chunk_boundaries(chunk_bytes):
    data = parsing.UTF8_BOM + b"a\r\n\r\nb\rc\n\rd\r"
    lines = list(parsing.iter_raw_lines(io.BytesIO(data), chunk_bytes=chunk_bytes))
    assert lines == [b"a", b"", b"b", b"c", b"", b"d"]
