"""A corpus whose translations read as another language than `direction` names is refused
before a run (lingua on a sample, pipeline/language_check.py); the right one passes."""

import pytest

from pipeline import language_check
from pipeline.config import ConfigError, DataConfig
from tests.helpers import SAMPLE_CORPUS, write_corpus


@pytest.mark.parametrize("direction", ["spa-eng", "eng-spa"])
def test_the_named_language_passes(direction):
    language_check.check(DataConfig(data_root=str(SAMPLE_CORPUS), direction=direction))


def test_a_spanish_corpus_named_french_is_refused_with_the_direction_to_give():
    data = DataConfig(data_root=str(SAMPLE_CORPUS), direction="fra-eng")
    with pytest.raises(ConfigError) as refused:
        language_check.check(data)
    message = str(refused.value)
    assert message.startswith(
        f"direction='fra-eng', but the translations in {SAMPLE_CORPUS} read as Spanish (spa): "
    )
    assert "give --direction spa-eng, or give --language-check false" in message


def test_swapped_columns_are_refused(tmp_path, sample_lines):
    swapped = ["\t".join(reversed(line.split("\t")[:2])) for line in sample_lines]
    corpus = write_corpus(tmp_path / "swapped.txt", swapped)
    with pytest.raises(ConfigError, match=r"read as English \(eng\).*first column must be English"):
        language_check.check(DataConfig(data_root=str(corpus), direction="spa-eng"))


def test_a_language_the_detector_does_not_know_and_unreadable_input_are_not_judged(tmp_path):
    language_check.check(DataConfig(data_root=str(SAMPLE_CORPUS), direction="tlh-eng"))
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(b"not gzip")
    assert language_check.sample_translations(DataConfig(data_root=str(broken))) == []
    language_check.check(DataConfig(data_root=str(broken), direction="fra-eng"))
