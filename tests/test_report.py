"""The HTML report: built from two real pipeline runs, checked in headless Chromium."""

import base64
import html
import io
import re
import subprocess
from pathlib import Path

import pytest
import tensorflow as tf
from PIL import Image

from components.tsv_example_gen.executor import pair_to_example
from components.tsv_example_gen.parsing import SentencePair
from pipeline import report
from tests.helpers import ARTIFACTS, chromium, needs_chromium

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


@pytest.fixture(scope="module")
def report_path(untrained_rerun, tmp_path_factory):
    config, _ = untrained_rerun
    return Path(report.write_report(config, str(tmp_path_factory.mktemp("report") / "r.html")))


def test_report_is_one_self_contained_file_with_every_section(report_path):
    page = report_path.read_text(encoding="utf-8")
    for heading in ("BLEU, chrF and loss by slice", "History", "Sample translations", "Attention"):
        assert heading in page
    for column in ("<th>bleu</th>", "<th>bleu_lowercase</th>", "<th>chrf</th>"):
        assert column in page
    assert "nrefs:1|case:mixed|eff:no|tok:13a|" in page  # sacreBLEU's signature
    assert "source_length_bucket=" in page
    assert page.count("not blessed") >= 1 and page.count(">blessed<") >= 1
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing to fetch: opens offline
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 2
    for data in images:
        width, height = Image.open(io.BytesIO(base64.b64decode(data))).size
        assert width > 50 and height > 50


def _dom_after_scripts(page_path: Path, profile: Path) -> str:
    """The page's DOM as headless Chromium leaves it after loading and running it."""
    browser = chromium()
    assert browser, "chromium is required in CI: .ci/run installs Debian's chromium package"
    done = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


# Public corpora are written by the public: each payload marks <body> if it ever runs.
_MARK = "document.body.setAttribute('data-pwned', '1')"
HOSTILE_PAIRS = [
    (f"<script>{_MARK}</script>", f"<script>{_MARK}</script>"),
    (f'<img src=x onerror="{_MARK}">', f'Yo veo <img src=x onerror="{_MARK}"> el gato.'),
    ('"><svg onload="' + _MARK + '">', "</td></table><b>bold?</b>"),
]


def _ran_a_payload(dom: str) -> bool:
    return re.search(r"<body[^>]*data-pwned", dom) is not None


@needs_chromium
def test_hostile_corpus_text_is_shown_as_text_and_never_runs(pushed_model, tmp_path):
    examples = tf.constant(
        [
            pair_to_example(SentencePair(source, target), "spa", "eng").SerializeToString()
            for source, target in HOSTILE_PAIRS
        ]
    )
    section, _ = report.translations_section(pushed_model, examples)
    hostile_page = tmp_path / "hostile.html"
    hostile_page.write_text(report.page("<script>x</script>", section), encoding="utf-8")
    dom = _dom_after_scripts(hostile_page, tmp_path / "profile")
    assert not _ran_a_payload(dom)
    assert "&lt;script&gt;" + html.escape(_MARK, quote=False) in dom  # shown, as text
    assert "&lt;/td&gt;&lt;/table&gt;&lt;b&gt;bold?&lt;/b&gt;" in dom

    # The check itself works: the same payloads written unescaped do run.
    raw_page = tmp_path / "raw.html"
    raw_page.write_text("<html><body>" + HOSTILE_PAIRS[1][0] + "</body></html>")
    assert _ran_a_payload(_dom_after_scripts(raw_page, tmp_path / "profile-raw"))


@needs_chromium
def test_report_renders_in_headless_chromium(report_path, tmp_path):
    browser = chromium()
    assert browser, "chromium is required in CI: .ci/run installs Debian's chromium package"
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, *profile, "--dump-dom", report_path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert '<div id="bleu-table"><table>' in dom.stdout
    assert dom.stdout.count('class="heatmap"') >= 1
    assert "Uncaught" not in dom.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            *profile,
            f"--screenshot={screenshot}",
            "--window-size=1200,2600",
            report_path.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    width, height = Image.open(screenshot).size
    assert (width, height) == (1200, 2600)


@pytest.mark.parametrize("hours_apart", [None, 0.01, 30.0])
def test_the_history_chart_spans_the_evaluations_not_years(hours_apart):
    import datetime

    from matplotlib import dates

    first = datetime.datetime(2026, 12, 1, 21, 0)
    points = [(first, 12.5, True)]
    if hours_apart is not None:
        points.append((first + datetime.timedelta(hours=hours_apart), 13.0, False))
    low, high = report.history_figure(points).axes[0].get_xlim()
    span_hours = (dates.num2date(high) - dates.num2date(low)).total_seconds() / 3600
    spanned = hours_apart or 0.0
    assert spanned < span_hours <= spanned + max(1.0, spanned * 0.1) + 1e-6
