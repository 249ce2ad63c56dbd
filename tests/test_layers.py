"""The code's layering: data flows config -> pipeline -> components -> modules, never back,
and the settings and the command line load without TensorFlow."""

import os
import subprocess
import sys

import pytest

from pipeline import fingerprint
from tests.helpers import PROJECT_ROOT


def _module_name(path) -> str:
    relative = path.relative_to(PROJECT_ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


@pytest.mark.parametrize("package", ["modules", "components"])
def test_no_module_below_the_pipeline_imports_it(package):
    modules = [_module_name(p) for p in sorted((PROJECT_ROOT / package).rglob("*.py"))]
    assert len(modules) > 3
    for module in modules:
        imported = fingerprint.source_files(module)
        upward = [p for p in imported if p.relative_to(PROJECT_ROOT).parts[0] == "pipeline"]
        assert upward == [], f"{module} imports {upward}"


# The packages of `modules/`, lowest first: each may import only those before it (and the
# shared files beside them, settings.py and signatures.py).
MODULE_PACKAGES = ("text", "model", "serving", "training")


@pytest.mark.parametrize("package", MODULE_PACKAGES)
def test_the_packages_of_modules_import_one_way(package):
    above = MODULE_PACKAGES[MODULE_PACKAGES.index(package) + 1 :]
    files = sorted((PROJECT_ROOT / "modules" / package).rglob("*.py"))
    assert files
    for path in files:
        imported = fingerprint.source_files(_module_name(path))
        upward = [
            p
            for p in imported
            if p.relative_to(PROJECT_ROOT).parts[:2] in {("modules", name) for name in above}
        ]
        assert upward == [], f"{_module_name(path)} imports {upward}"


def _python(code: str, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_console_script_and_every_config_load_without_tensorflow():
    done = _python(
        "import sys; import pipeline.cli; pipeline.cli.build_parser(); "
        "from pipeline.config import PipelineConfig; PipelineConfig(); "
        "print(sorted(m for m in ('tensorflow', 'tfx', 'apache_beam') if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_importing_pipeline_sets_legacy_keras_and_refuses_to_come_after_keras_3():
    done = _python("import pipeline, tensorflow as tf; print(tf.keras.__name__)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith("tf_keras")
    late = _python("import tensorflow, pipeline")
    assert late.returncode != 0 and "import `pipeline` first" in late.stderr
