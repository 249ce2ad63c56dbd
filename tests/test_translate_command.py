"""`nmt-pipeline translate` with the tiny pipeline's pushed model, in a fresh process."""

import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf
from PIL import Image

from pipeline import attention_plot, cli
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
    assert done.stderr == "", done.stderr[-3000:]  # not even the CUDA build's import noise
    return done.stdout.split("\n")[:-1]


def _signature(model, name: str, sentences: list[str]) -> list[str]:
    outputs = model.signatures[name](sentences=tf.constant(sentences))["translation"]
    return [t.decode() for t in outputs.numpy()]


@pytest.mark.parametrize(
    ("options", "signature"), [([], "serving_default"), (["--decoding", "greedy"], "greedy")]
)
def test_translates_arguments_with_the_latest_pushed_model(
    tiny_pipeline_run, pushed_model, options, signature
):
    config, _ = tiny_pipeline_run
    sentences = ["Yo veo el gato.", "", "Ella quiere un libro."]
    translations = _translate(config, *options, *sentences)
    assert translations == _signature(pushed_model, signature, sentences)
    assert translations[1] == "" and translations[0] and translations[2]


def test_translates_stdin_line_by_line_in_batches_as_tsv(tiny_pipeline_run, pushed_model):
    config, _ = tiny_pipeline_run
    sentences = ["Yo veo el gato.", "", "Tú tienes\tun libro.", "Nosotros vemos la casa."]
    rows = _translate(
        config, "--decoding", "beam", "--batch-size", "3", "--tsv", stdin="\n".join(sentences)
    )
    expected = _signature(pushed_model, "beam_search", sentences)
    assert rows == [
        f"{source.replace(chr(9), ' ')}\t{translation}"
        for source, translation in zip(sentences, expected, strict=True)
    ]


def test_without_a_pushed_model_it_says_what_to_do(tmp_path):
    with pytest.raises(SystemExit, match="no pushed model in .*nmt-pipeline run"):
        cli.main(["translate", "--output-root", str(tmp_path), "Hola."])


def _corrupt_model(directory: Path) -> Path:
    directory.mkdir()
    (directory / "saved_model.pb").write_bytes(b"\x08\x96\x01 not a SavedModel \xff" * 40)
    return directory


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (lambda tmp: tmp / "missing", "no such directory"),
        (lambda tmp: tmp, "not a SavedModel (no saved_model.pb in it); give a version directory"),
        (lambda tmp: _corrupt_model(tmp / "v1"), "the SavedModel does not load (Cannot parse"),
    ],
)
def test_a_model_dir_that_holds_no_model_is_one_line_naming_it(tmp_path, model, message):
    model_dir = model(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "translate", "--model", str(model_dir), "Hola."],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"nmt-pipeline translate: --model {model_dir}: {message}")
    assert done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize("size", ["0", "-1", "many"])
def test_a_batch_size_under_one_is_refused(size, capsys):
    with pytest.raises(SystemExit) as refused:
        cli.main(["translate", "--batch-size", size, "Hola."])
    assert refused.value.code == 2
    assert "--batch-size: expected a whole number of 1 or more" in capsys.readouterr().err


def test_attention_plot_writes_one_png_per_input_line(tiny_pipeline_run, pushed_model, tmp_path):
    config, _ = tiny_pipeline_run
    sentences = ["Yo veo el gato.", "", "Ella quiere un libro."]
    plots = tmp_path / "plots"
    translations = _translate(
        config, "--attention-plot", str(plots), "--batch-size", "2", stdin="\n".join(sentences)
    )
    assert translations == _signature(pushed_model, "serving_default", sentences)
    assert sorted(path.name for path in plots.iterdir()) == ["0001.png", "0002.png", "0003.png"]
    for path in plots.iterdir():
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100


def test_the_heat_map_is_labelled_with_the_pieces(pushed_model):
    model = pushed_model
    (attended,) = attention_plot.attend(model, [b"Yo veo el gato."])
    outputs = model.signatures["attention"](sentences=tf.constant(["Yo veo el gato."]))
    source = [t.decode() for t in outputs["source_tokens"][0].numpy()]
    assert attended.source_tokens == source and "".join(source).replace("\u2581", " ").strip() == (
        "Yo veo el gato."
    )
    assert attended.output_tokens[-1] == "[END]"
    assert attended.weights.shape == (len(attended.output_tokens), len(source))
    figure = attention_plot.figure(attended)
    (axes,) = figure.axes
    assert [label.get_text() for label in axes.get_xticklabels()] == attended.source_tokens
    assert [label.get_text() for label in axes.get_yticklabels()] == attended.output_tokens
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("source", "output")
