"""Runs the real TsvExampleGen executor (Beam DirectRunner) on small corpora."""

import collections
import gzip
import json
from pathlib import Path

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.tsv_example_gen import RejectedLines, TsvExampleGen, executor, parsing
from pipeline.config import PipelineConfig
from tests.helpers import corpora, expected_lines, write_corpus

GOOD = ["Go.\tVe.", "Go.\tVete.", "Go.\tVaya.", "Hi.\tHola.", "Run!\t¡Corre!"]


def run_example_gen(
    input_base: Path, tmp_path: Path, beam_pipeline_args=(), empty_splits_fail=False, **overrides
):
    """Runs the executor; returns (examples by split, rejected rows, summary).

    Most corpora here are a few lines, too few to fill three splits: the executor's
    EmptySplitError, raised once every output is written, is let through only with
    `empty_splits_fail` (the test of that check)."""
    params = dict(
        direction="spa-eng",
        split_buckets=(8, 1, 1),
        max_line_chars=200,
        max_rejected_fraction=1.0,
    )
    params.update(overrides)
    component = TsvExampleGen(str(input_base), **params)
    exec_properties = {
        key: proto_utils.proto_to_json(value) if hasattr(value, "DESCRIPTOR") else value
        for key, value in component.exec_properties.items()
        if value is not None
    }
    examples, rejected = standard_artifacts.Examples(), RejectedLines()
    # TFX's layout: <pipeline root>/<component>/<output key>/<execution id>
    rejected_dir = tmp_path / "rejected_lines" / "1"
    examples.uri, rejected.uri = str(tmp_path / "examples"), str(rejected_dir)
    context = executor.Executor.Context(beam_pipeline_args=list(beam_pipeline_args))
    try:
        executor.Executor(context).Do(
            {}, {"examples": [examples], "rejected_lines": [rejected]}, exec_properties
        )
    except executor.EmptySplitError:
        if empty_splits_fail:
            raise
    by_split = {
        split: [_pair(record) for record in _read_records(tmp_path / "examples" / f"Split-{split}")]
        for split in ("train", "eval", "test")
    }
    rows = []
    for path in sorted(rejected_dir.glob("rejected-*.tsv")):
        rows += [line.split("\t") for line in path.read_text().splitlines()[1:]]
    summary = json.loads((rejected_dir / executor.SUMMARY_FILE).read_text())
    assert examples.get_int_custom_property("lines_read") == summary["lines_read"]
    return by_split, rows, summary


def _read_records(directory: Path):
    files = sorted(str(p) for p in directory.glob("*.gz"))
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, "GZIP")]


def _pair(example):
    feature = example.features.feature
    return tuple(
        feature[k].bytes_list.value[0].decode()
        for k in ("source", "target", "source_language", "target_language")
    )


def _all(by_split):
    return [pair for pairs in by_split.values() for pair in pairs]


def test_reads_txt_gz_and_three_column_files(tmp_path):
    write_corpus(tmp_path / "in" / "a.txt", GOOD[:2])
    write_corpus(tmp_path / "in" / "b.tsv.gz", GOOD[2:4], compress=True)
    write_corpus(tmp_path / "in" / "c.tsv", [GOOD[4] + "\tCC-BY 2.0 #123"])
    write_corpus(tmp_path / "in" / "_about.md", ["not a corpus"])
    # Notes and hidden files beside the corpus are not read (the Anki folders ship _about.txt).
    write_corpus(tmp_path / "in" / "_about.txt", ["Tatoeba sentences, CC-BY 2.0"])
    write_corpus(tmp_path / "in" / ".hidden.tsv", ["not\ta corpus"])
    by_split, rows, summary = run_example_gen(tmp_path / "in", tmp_path)
    assert sorted(_all(by_split)) == sorted(
        (other, english, "spa", "eng") for english, other in (g.split("\t") for g in GOOD)
    )
    assert rows == []
    assert summary == {
        "lines_read": 5,
        "accepted": 5,
        "rejected": 0,
        "header_lines": 0,
        "rejected_by_reason": {},
    }


def test_a_file_named_exactly_is_read_even_if_its_name_starts_with_underscore(tmp_path):
    write_corpus(tmp_path / "in" / "_pairs.txt", GOOD[:1])
    by_split, _, _ = run_example_gen(tmp_path / "in", tmp_path, file_pattern="_pairs.txt")
    assert len(_all(by_split)) == 1


def test_a_header_line_is_counted_as_a_header_not_as_a_pair(tmp_path):
    write_corpus(tmp_path / "in" / "a.tsv", ["English\tSpanish\tAttribution", *GOOD])
    write_corpus(tmp_path / "in" / "b.tsv", ["eng\tspa", GOOD[0]])
    by_split, rows, summary = run_example_gen(tmp_path / "in", tmp_path)
    assert ("Spanish", "English", "spa", "eng") not in _all(by_split)
    assert (summary["accepted"], summary["rejected"], summary["header_lines"]) == (6, 0, 2)
    assert summary["lines_read"] == 8


def _gzip_bytes(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8"))


def test_a_truncated_gz_fails_naming_the_file(tmp_path):
    lines = [f"Line {i}.\tLínea {i}." for i in range(2000)]
    data = _gzip_bytes(lines)
    write_corpus(tmp_path / "in" / "cut.txt.gz", data[: len(data) // 2])
    with pytest.raises(Exception, match=r"cut\.txt\.gz: not a readable gzip file") as error:
        run_example_gen(tmp_path / "in", tmp_path)
    assert "gzip -t" in str(error.value)


def test_plain_text_named_gz_fails_naming_the_file(tmp_path):
    write_corpus(tmp_path / "in" / "plain.txt.gz", GOOD)
    with pytest.raises(executor.InputFileError, match=r"plain\.txt\.gz: not a readable gzip"):
        run_example_gen(tmp_path / "in", tmp_path)


@pytest.mark.parametrize(
    ("encoding", "looks_like"),
    [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("cp1252", "Latin-1 / Windows-1252")],
)
def test_a_file_in_another_encoding_fails_naming_it_and_how_to_convert(
    tmp_path, sample_lines, encoding, looks_like
):
    text = "\n".join(sample_lines[:50]) + "\n"
    write_corpus(tmp_path / "in" / "other.txt", text.encode(encoding))
    with pytest.raises(executor.InputFileError) as error:
        run_example_gen(tmp_path / "in", tmp_path)
    message = str(error.value)
    assert "other.txt is not UTF-8" in message and looks_like in message and "iconv" in message


def test_direction_eng_spa_swaps_source_and_target(tmp_path):
    write_corpus(tmp_path / "in" / "a.txt", ["Hi.\tHola."])
    by_split, _, _ = run_example_gen(tmp_path / "in", tmp_path, direction="eng-spa")
    assert _all(by_split) == [("Hi.", "Hola.", "eng", "spa")]


def test_every_bad_line_is_reported_with_file_line_and_reason(tmp_path):
    lines = (
        b"\n".join(
            [
                b"Go.\tVe.",
                b"no tab",
                b"",
                b"\tHola.",
                b"Hi.\t",
                b"Hi.\t\xffHola",
                b"N\x00UL\tx",
                b"x" * 300 + b"\ty",
                b"Hi.\tHola.",
            ]
        )
        + b"\n"
    )
    write_corpus(tmp_path / "in" / "bad.txt", lines)
    by_split, rows, summary = run_example_gen(tmp_path / "in", tmp_path)
    assert len(_all(by_split)) == 2
    reported = sorted(
        (Path(path).name, int(line), reason.split(" (")[0]) for path, line, reason, _ in rows
    )
    assert reported == [
        ("bad.txt", 2, "no tab"),
        ("bad.txt", 3, "blank line"),
        ("bad.txt", 4, "empty English side"),
        ("bad.txt", 5, "empty translation side"),
        ("bad.txt", 6, "invalid UTF-8"),
        ("bad.txt", 7, "NUL byte"),
        ("bad.txt", 8, "line too long"),
    ]
    assert summary["lines_read"] == 9 == summary["accepted"] + summary["rejected"]
    assert summary["rejected_by_reason"]["no tab"] == 1


def test_multi_processing_direct_runner_gives_the_same_output(tmp_path, sample_lines):
    write_corpus(tmp_path / "in" / "corpus.txt", sample_lines[:300] + ["no tab", ""])
    in_memory = run_example_gen(tmp_path / "in", tmp_path / "in_memory")
    workers = run_example_gen(
        tmp_path / "in",
        tmp_path / "workers",
        beam_pipeline_args=PipelineConfig().runtime.beam_pipeline_args,
    )
    by_split, rows, summary = workers
    assert summary == in_memory[2] and summary["rejected"] == 2
    assert sorted(row[1:3] for row in rows) == sorted(row[1:3] for row in in_memory[1])
    assert {k: sorted(v) for k, v in by_split.items()} == {
        k: sorted(v) for k, v in in_memory[0].items()
    }


def test_too_many_rejected_lines_fail_naming_them_and_keeping_them(tmp_path):
    write_corpus(tmp_path / "in" / "a.txt", ["Go.\tVe.", "broken", "also broken"])
    with pytest.raises(executor.TooManyRejectedLinesError, match=r"2 of 3 lines .*rejected") as e:
        run_example_gen(tmp_path / "in", tmp_path, max_rejected_fraction=0.5)
    message = str(e.value)
    corpus = tmp_path / "in" / "a.txt"
    assert f"{corpus}:2: no tab" in message and f"{corpus}:3: no tab" in message
    # TFX deletes a failed execution's outputs: the rejected lines are kept beside them.
    kept = tmp_path / executor.FAILED_CHECKS_DIR / "1"
    assert str(kept) in message
    rows = [
        line.split("\t")[:3]
        for path in kept.glob("rejected-*.tsv")
        for line in path.read_text().splitlines()[1:]
    ]
    assert sorted(rows) == [
        [str(corpus), "2", "no tab (expected English<TAB>translation)"],
        [str(corpus), "3", "no tab (expected English<TAB>translation)"],
    ]


def test_no_matching_file_names_the_path_and_the_expected_files(tmp_path):
    write_corpus(tmp_path / "in" / "a.csv", ["Go.,Ve."])
    with pytest.raises(FileNotFoundError, match=r"no corpus file found at .*\.txt"):
        run_example_gen(tmp_path / "in", tmp_path)


def test_split_is_leak_free_and_deterministic(tmp_path, sample_lines):
    corpus = sample_lines[:600]
    # Alternative translations and case/spacing variants of one source must share a split.
    corpus += [
        f"Alt {i}.\t  {line.split(chr(9))[1].upper()} " for i, line in enumerate(sample_lines[:200])
    ]
    write_corpus(tmp_path / "in" / "a.txt", corpus)
    first, _, _ = run_example_gen(tmp_path / "in", tmp_path / "run1")
    second, _, _ = run_example_gen(tmp_path / "in", tmp_path / "run2")
    assert {s: sorted(p) for s, p in first.items()} == {s: sorted(p) for s, p in second.items()}
    splits_of_key = collections.defaultdict(set)
    for split, pairs in first.items():
        for pair in pairs:
            splits_of_key[parsing.split_key(pair[0])].add(split)
    assert all(len(splits) == 1 for splits in splits_of_key.values())
    assert len(_all(first)) == 800
    assert len(first["train"]) > 4 * len(first["eval"]) > 0 and first["test"]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["Hola.\tHello."], "the corpus has 1 accepted pair with 1 distinct source sentence"),
        (["Hola.\tHello."] * 500, "has 500 accepted pairs with 1 distinct source sentence"),
    ],
)
def test_too_few_distinct_sentences_for_the_splits_fail_before_transform(tmp_path, lines, message):
    write_corpus(tmp_path / "in" / "a.txt", lines)
    with pytest.raises(executor.EmptySplitError) as empty:
        run_example_gen(tmp_path / "in", tmp_path, empty_splits_fail=True)
    assert str(empty.value).startswith("split(s) ")
    assert "got no example" in str(empty.value) and message in str(empty.value)
    assert "more distinct sentences" in str(empty.value)


def test_every_split_filled_passes_the_check(tmp_path, sample_lines):
    write_corpus(tmp_path / "in" / "a.txt", sample_lines[:100])
    by_split, _, _ = run_example_gen(tmp_path / "in", tmp_path, empty_splits_fail=True)
    assert all(by_split.values())


def test_empty_files_fail_with_a_clear_error(tmp_path):
    write_corpus(tmp_path / "in" / "a.txt", b"")
    write_corpus(tmp_path / "in" / "b.txt.gz", b"", compress=True)
    with pytest.raises(executor.EmptyInputError, match=r"hold no lines at all"):
        run_example_gen(tmp_path / "in", tmp_path)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=corpora())
def test_random_files_lose_no_line(tmp_path_factory, data):
    """Whatever the bytes: lines read == accepted + rejected == lines in the file, and every
    rejected line is reported with its line number."""
    root = tmp_path_factory.mktemp("random")
    write_corpus(root / "in" / "random.txt", data)
    expected = expected_lines(data)
    if parsing.encoding_problem(data):  # not UTF-8 as a whole: one clear error instead
        with pytest.raises(executor.InputFileError, match="is not UTF-8"):
            run_example_gen(root / "in", root)
        return
    if not expected:
        with pytest.raises(executor.EmptyInputError):
            run_example_gen(root / "in", root)
        return
    by_split, rows, summary = run_example_gen(root / "in", root)
    assert summary["lines_read"] == len(expected)
    assert summary["accepted"] == len(_all(by_split))
    assert summary["rejected"] == len(rows)
    assert summary["header_lines"] == 0  # no random line names the columns
    reported = sorted(int(line) for _, line, _, _ in rows)
    accepted_lines = [
        number
        for number, raw in enumerate(expected, start=1)
        if isinstance(
            parsing.parse_line(raw, source_language="spa", max_line_chars=200), parsing.SentencePair
        )
    ]
    assert sorted(reported + accepted_lines) == list(range(1, len(expected) + 1))
