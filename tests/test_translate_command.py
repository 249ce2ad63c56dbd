"""`nmt-pipeline translate` with the tiny pipeline's pushed model, in a fresh process."""

import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from pipeline import cli
from tests.helpers import PROJECT_ROOT


def _translate(config, *args: str, stdin: str | None = None) -> list[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "translate",
            "--output-root",
            config.runtime.output_root,
        ]
        + list(args),
        input=stdin,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split("\n")[:-1]


def _signature(config, name: str, sentences: list[str]) -> list[str]:
    (version,) = Path(config.serving_model_dir).iterdir()
    model = tf.saved_model.load(str(version))
    outputs = model.signatures[name](sentences=tf.constant(sentences))["translation"]
    return [t.decode() for t in outputs.numpy()]


@pytest.mark.parametrize(
    ("options", "signature"), [([], "serving_default"), (["--decoding", "greedy"], "greedy")]
)
def test_translates_arguments_with_the_latest_pushed_model(tiny_pipeline_run, options, signature):
    config, _ = tiny_pipeline_run
    sentences = ["Yo veo el gato.", "", "Ella quiere un libro."]
    translations = _translate(config, *options, *sentences)
    assert translations == _signature(config, signature, sentences)
    assert translations[1] == "" and translations[0] and translations[2]


def test_translates_stdin_line_by_line_in_batches_as_tsv(tiny_pipeline_run):
    config, _ = tiny_pipeline_run
    sentences = ["Yo veo el gato.", "", "Tú tienes\tun libro.", "Nosotros vemos la casa."]
    rows = _translate(
        config, "--decoding", "beam", "--batch-size", "3", "--tsv", stdin="\n".join(sentences)
    )
    expected = _signature(config, "beam_search", sentences)
    assert rows == [
        f"{source.replace(chr(9), ' ')}\t{translation}"
        for source, translation in zip(sentences, expected, strict=True)
    ]


def test_without_a_pushed_model_it_says_what_to_do(tmp_path):
    with pytest.raises(SystemExit, match="no pushed model in .*nmt-pipeline run"):
        cli.main(["translate", "--output-root", str(tmp_path), "Hola."])
