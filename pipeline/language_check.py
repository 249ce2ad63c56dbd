"""Does the corpus hold the language the direction names? Checked on a sample before a run,
with lingua's language detector (which names languages by ISO 639-3 codes, as `direction`
does), so that `--direction fra-eng` on a Spanish corpus is refused instead of trained.

The sample: the longest `SAMPLED` translations among each local corpus file's first
`HEAD_LINES` lines (the Anki files start with one-word sentences, which no detector can
place). The run is refused only when the translations plainly read as another language:
that language has at least `REFUSE_SHARE` of the sample and the named one under
`NAMED_SHARE` (on the shipped corpora the named language has 68-86%).
"""

from __future__ import annotations

import collections
import itertools

from components.tsv_example_gen import executor, parsing
from modules.settings import ConfigError
from pipeline import definition
from pipeline.config import DataConfig

HEAD_LINES = 5000
SAMPLED = 200
REFUSE_SHARE = 0.4
NAMED_SHARE = 0.1


def sample_translations(data: DataConfig) -> list[str]:
    """The non-English side of up to SAMPLED lines of the corpus (see the module
    docstring); empty where the files cannot be listed or read here (the run reports that)."""
    other = next(code for code in data.direction.split("-") if code != parsing.ENGLISH)
    try:
        files = executor.list_input_files(*definition.data_input(data.data_root))
        translations = []
        for path in files:
            with executor.open_corpus(path) as stream:
                for raw in itertools.islice(parsing.iter_raw_lines(stream), HEAD_LINES):
                    pair = parsing.parse_line(
                        raw, source_language=other, max_line_chars=data.max_line_chars
                    )
                    if isinstance(pair, parsing.SentencePair):
                        translations.append(pair.source)
    except Exception:  # noqa: BLE001  (TsvExampleGen reports unreadable input itself)
        return []
    return sorted(translations, key=len)[-SAMPLED:]


def check(data: DataConfig) -> None:
    """ConfigError when the corpus's translations read as another language than
    `data.direction` names (nothing is checked for a language lingua does not know)."""
    from lingua import IsoCode639_3, Language, LanguageDetectorBuilder

    other = next(code for code in data.direction.split("-") if code != parsing.ENGLISH)
    try:
        named = Language.from_iso_code_639_3(IsoCode639_3.from_str(other))
    except ValueError:
        return
    sample = sample_translations(data)
    if not sample:
        return
    detector = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
    found = collections.Counter(detector.detect_languages_in_parallel_of(sample))
    (language, count), *_ = found.most_common(1)
    if language is None or language == named:
        return
    if count < REFUSE_SHARE * len(sample) or found[named] >= NAMED_SHARE * len(sample):
        return
    code = language.iso_code_639_3.name.lower()
    hint = (
        "the first column must be English"
        if code == parsing.ENGLISH
        else f"give --direction {data.direction.replace(other, code)}"
    )
    raise ConfigError(
        f"direction={data.direction!r}, but the translations in {data.data_root} read as "
        f"{language.name.title()} ({code}): {count} of {len(sample)} sampled lines, "
        f"{found[named]} as {named.name.title()}; {hint}, or give --language-check false "
        "if the detector is wrong"
    )
