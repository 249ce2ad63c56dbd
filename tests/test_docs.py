"""The docs as a newcomer meets them: a short README linking every page, commands in it that
the command-line parsers accept, links that resolve, and a configuration reference that is
the code's own (regenerate it with `python -m pipeline.config_reference`)."""

import re
import shlex

import pytest

from pipeline import cli, config_reference, kubeflow_runner
from tests.helpers import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
PAGES = sorted((PROJECT_ROOT / "docs").glob("*.md"))


def shell_lines(markdown: str) -> list[str]:
    """The commands of the ```bash blocks, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", markdown, re.DOTALL)
    return [
        line.strip()
        for block in blocks
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_readme_is_short_and_links_every_docs_page():
    assert len(README.splitlines()) <= 250
    for page in PAGES:
        assert f"(docs/{page.name})" in README, page.name
    for name in ("CONTRIBUTING.md", "CHANGELOG.md", "LICENSE"):
        assert f"({name})" in README and (PROJECT_ROOT / name).is_file()


def test_the_configuration_reference_is_up_to_date():
    written = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    assert written == config_reference.reference(), (
        "docs/configuration.md is stale: run "
        "`.venv/bin/python -m pipeline.config_reference > docs/configuration.md`"
    )


@pytest.mark.parametrize("path", [PROJECT_ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_relative_links_resolve(path):
    prose = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)#]+)\)", prose):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{path.name} links to {target}"


def test_the_readmes_commands_parse(monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    commands = shell_lines(README)
    checked = 0
    for command in commands:
        for part in command.split("&&"):
            command_line = part.split("|")[-1].strip().removesuffix("&")  # `... &`: background
            words = shlex.split(command_line, comments=True)
            if not words:
                continue
            if words[0] == "make":
                makefile = (PROJECT_ROOT / "Makefile").read_text()
                assert all(f"\n{target}:" in makefile for target in words[1:]), part
            elif words[0].endswith("nmt-pipeline") and "--help" not in words:
                cli.build_parser(cli._config_file_values(words[1:])).parse_args(words[1:])
            elif words[:3] == [".venv/bin/python", "-m", "pipeline.kubeflow_runner"]:
                kubeflow_runner.build_parser().parse_args(words[3:])
            else:
                continue
            checked += 1
    assert checked >= 8, commands
