"""Code fingerprints: what makes TFX's cache notice edited code.

TFX's cache key covers a component's parameters and inputs, and the contents of a
`module_file`, but not the code behind an import path such as `modules.training.trainer.run_fn`.
The pipeline therefore hands each custom step a digest of the source files it runs (the
entry module and every project module it imports, directly or not) and of the project's
version, as one of its parameters: edit any of those files and that step, and every step
downstream of it, runs again.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
from pathlib import Path

# The key under which a step's custom_config (or metric config) carries the fingerprint.
SETTING_NAME = "code_fingerprint"
PROJECT_DISTRIBUTION = "nmt-tfx"
PROJECT_PACKAGES = ("components", "modules", "pipeline")
# The directory holding the project packages: this file is <root>/pipeline/fingerprint.py.
_ROOT = Path(__file__).resolve().parent.parent


def _module_file(name: str) -> Path | None:
    """The source file of the project module `name`; None for other names (libraries,
    or a class or function imported with `from module import name`)."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = _ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_names(path: Path, module: str) -> set[str]:
    """Absolute names of the modules (and `from` targets) that the file imports."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def source_files(entry_module: str) -> list[Path]:
    """The entry module's file and those of every project module it imports, sorted."""
    seen: dict[str, Path] = {}
    pending = [entry_module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        parents = {name.rsplit(".", level)[0] for level in range(1, name.count(".") + 1)}
        pending.extend((_imported_names(path, name) | parents) - set(seen))
    return sorted(set(seen.values()))


def code_fingerprint(entry_module: str) -> str:
    """SHA-256 (hex, 16 digits) of the project version and the source files behind
    `entry_module`, e.g. "modules.training.trainer"."""
    digest = hashlib.sha256(importlib.metadata.version(PROJECT_DISTRIBUTION).encode())
    for path in source_files(entry_module):
        digest.update(path.relative_to(_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
