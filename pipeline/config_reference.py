"""Writes docs/configuration.md from the settings' own metadata (field, type, default, help,
choices), so the reference cannot drift from the code; tests/test_docs.py fails when the
file is stale.

    .venv/bin/python -m pipeline.config_reference > docs/configuration.md
"""

from __future__ import annotations

import dataclasses
import json

from pipeline import cli
from pipeline.config import PROJECT_ROOT, SECTIONS, PipelineConfig

_INTRO = """# Configuration

<!-- Written by `python -m pipeline.config_reference > docs/configuration.md`: edit the
settings' help texts in the code, not this file. -->

Every setting is a field of one section of `PipelineConfig` (`pipeline/config.py`), each
section a small validated dataclass kept beside the code it configures. Give them as flags
(`--units 512 --epochs 5`: field names are unique across sections), as a JSON file of
sections (`--config run.json`, `{{"model": {{"units": 512}}, "training": {{"epochs": 5}}}}`;
unset fields keep their defaults), or both: flags win. Every value is checked before any
component runs: its type (that of its default; numbers must be finite), its range and its
choices, with an error naming the section and field ([troubleshooting.md](troubleshooting.md)).
The runners started without arguments (`tfx pipeline create`, `tfx run create`) read the JSON
file named by `NMT_PIPELINE_CONFIG`. Example files: [`configs/`](../configs/).

| section | class (file) | read by |
|---|---|---|
{sections}
"""

_READ_BY = {
    "data": "TsvExampleGen; the preflight checks",
    "transform": "Transform; the exported model cuts requests the same way",
    "model": "Trainer (`modules.model.architectures.build`)",
    "training": "Trainer",
    "decoding": "the exported model's searches",
    "evaluation": "Evaluator (blessing)",
    "runtime": "runners: name, output root, Beam options",
}


def _json_value(value) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)


def reference() -> str:
    """The whole of docs/configuration.md."""
    defaults = PipelineConfig().field_values()
    sections = "\n".join(
        f"| `{name}` | `{settings.__name__}` (`{settings.__module__.replace('.', '/')}.py`) | "
        f"{_READ_BY[name]} |"
        for name, settings in SECTIONS.items()
    )
    parts = [_INTRO.format(sections=sections)]
    for name, settings in SECTIONS.items():
        parts.append(f"## `{name}`\n\n{(settings.__doc__ or '').strip()}\n")
        parts.append("| field (JSON) | flag, as its default | meaning |\n|---|---|---|")
        for field in dataclasses.fields(settings):
            meaning = field.metadata["help"].replace("|", "\\|").replace("<", "&lt;")
            if field.metadata["choices"]:
                choices = ", ".join(f"`{choice}`" for choice in field.metadata["choices"])
                meaning += f"; one of {choices}"
            default = defaults[field.name]
            if isinstance(default, str) and default.startswith(str(PROJECT_ROOT)):
                default = default.replace(f"{PROJECT_ROOT}/", "", 1)  # as in a clone
            parts.append(
                f"| `{field.name}`: `{_json_value(default)}` | "
                f"`{cli.typed_flag(field, default)}` | {meaning} |"
            )
        parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
