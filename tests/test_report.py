"""The HTML report: built from two real pipeline runs, checked in headless Chromium."""

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from pipeline import report

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
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
    for heading in ("BLEU and loss by slice", "History", "Sample translations", "Attention"):
        assert heading in page
    assert "source_length_bucket=" in page
    assert page.count("not blessed") >= 1 and page.count(">blessed<") >= 1
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing to fetch: opens offline
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 2
    for data in images:
        width, height = Image.open(io.BytesIO(base64.b64decode(data))).size
        assert width > 50 and height > 50


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    not _chromium() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it; in CI this test runs)",
)
def test_report_renders_in_headless_chromium(report_path, tmp_path):
    browser = _chromium()
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
