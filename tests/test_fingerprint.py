"""Code fingerprints follow the project modules a step imports, and nothing else."""

from pipeline import fingerprint
from tests.helpers import PROJECT_ROOT


def _files(entry_module: str) -> set[str]:
    return {
        path.relative_to(PROJECT_ROOT).as_posix() for path in fingerprint.source_files(entry_module)
    }


def test_a_step_is_fingerprinted_by_the_project_modules_it_imports():
    transform = _files("modules.text.transform")
    assert {"modules/text/transform.py", "modules/text/words.py"} <= transform
    assert "modules/model/rnn_decoder.py" not in transform
    trainer = _files("modules.training.trainer")
    assert {
        "modules/model/rnn_decoder.py",
        "modules/serving/decoding.py",
        "modules/text/words.py",
    } <= trainer
    assert "modules/model/__init__.py" in trainer  # parent packages run on import too
    assert "components/tsv_example_gen/parsing.py" in _files("components.tsv_example_gen.executor")
    assert all(name.endswith(".py") for name in trainer)


def test_fingerprints_are_stable_and_differ_between_steps():
    assert fingerprint.code_fingerprint("modules.training.trainer") == fingerprint.code_fingerprint(
        "modules.training.trainer"
    )
    assert fingerprint.code_fingerprint("modules.training.trainer") != fingerprint.code_fingerprint(
        "modules.text.transform"
    )
