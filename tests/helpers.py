"""Helpers shared by the tests."""

import gzip
import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import strategies as st

from components.tsv_example_gen import parsing

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# 4,000 short Spanish-English pairs from the Tatoeba corpus (tests/data/ABOUT.md).
SAMPLE_CORPUS = PROJECT_ROOT / "tests" / "data" / "spa-sample.txt"
# Screenshots that the browser tests keep.
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def chromium() -> str | None:
    """Debian's Chromium, which the browser tests drive (.ci/run installs it)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


needs_chromium = pytest.mark.skipif(
    not chromium() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it; in CI this test runs)",
)
# Token ids of `toy_batch`: the special tokens, then words.
TOY_VOCAB = 20


def toy_batch(seed=0, batch=8):
    """Random source sentences; the target is the reversed source in [START] ... [END].

    -> ({"source_ids": [batch, src_len], "target_in": [batch, tgt_len]}, target_out
    [batch, tgt_len]), int32, 0-padded, ids below TOY_VOCAB.
    """
    import numpy as np
    import tf_keras as keras

    from modules.text import words

    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 7, size=batch)
    first_word = len(words.SPECIAL_TOKENS)
    sources = [rng.integers(first_word, TOY_VOCAB, size=n) for n in lengths]
    targets = [[words.START_ID, *s[::-1], words.END_ID] for s in sources]
    source_ids = keras.utils.pad_sequences(sources, padding="post")
    target_ids = keras.utils.pad_sequences(targets, padding="post")
    inputs = {"source_ids": source_ids, "target_in": target_ids[:, :-1]}
    return inputs, target_ids[:, 1:]


def write_corpus(path: Path, lines: list[str] | bytes, compress: bool = False) -> Path:
    """Writes `lines` (text lines, or raw bytes as they are) to `path`, gzipped if asked."""
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


_SUBJECTS = [
    ("I", "Yo", 0),
    ("You", "Tú", 1),
    ("He", "Él", 2),
    ("She", "Ella", 2),
    ("We", "Nosotros", 3),
    ("They", "Ellos", 4),
]
_VERBS = {
    "see": ("sees", ["veo", "ves", "ve", "vemos", "ven"]),
    "want": ("wants", ["quiero", "quieres", "quiere", "queremos", "quieren"]),
    "have": ("has", ["tengo", "tienes", "tiene", "tenemos", "tienen"]),
    "need": ("needs", ["necesito", "necesitas", "necesita", "necesitamos", "necesitan"]),
}
_OBJECTS = [
    ("the cat", "el gato"),
    ("the dog", "el perro"),
    ("a book", "un libro"),
    ("the house", "la casa"),
    ("a car", "un coche"),
    ("the water", "el agua"),
    ("a friend", "un amigo"),
    ("the key", "la llave"),
]


def synthetic_corpus() -> list[str]:
    """192 `English<TAB>Spanish` pairs from one small grammar: learnable in seconds, so a
    tiny model reaches a clearly non-zero BLEU on held-out sentences."""
    lines = []
    for english_subject, spanish_subject, person in _SUBJECTS:
        for verb, (third_person, spanish_forms) in _VERBS.items():
            english_verb = third_person if person == 2 else verb
            for english_object, spanish_object in _OBJECTS:
                lines.append(
                    f"{english_subject} {english_verb} {english_object}.\t"
                    f"{spanish_subject} {spanish_forms[person]} {spanish_object}."
                )
    return lines


LINE_ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r"])
PIECES = st.sampled_from(
    [
        b"Go.",
        b"Ve.",
        b"\t",
        b"\t\t",
        b" ",
        b"\x00",
        b"\xff",
        b"\xef\xbb\xbf",
        b"\xc3\xb1",
        "¿Qué?".encode(),
        "日本".encode(),
        "🙂".encode(),
        b"x" * 50,
    ]
)


@st.composite
def corpora(draw):
    """Raw file contents: lines of odd pieces joined by mixed line endings."""
    lines = draw(st.lists(st.lists(PIECES, max_size=6).map(b"".join), max_size=20))
    endings = draw(st.lists(LINE_ENDINGS, min_size=len(lines), max_size=len(lines)))
    final_newline = draw(st.booleans())
    data = b"".join(line + end for line, end in zip(lines, endings, strict=True))
    if not final_newline and data:
        data = data.rstrip(b"\r\n")
    return draw(st.one_of(st.just(data), st.binary(max_size=300)))


def expected_lines(data: bytes) -> list[bytes]:
    """Reference split: LF, CRLF and CR end lines; no empty line after a final ending."""
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and lines[-1] == b"":
        lines.pop()
    if lines and lines[0].startswith(parsing.UTF8_BOM):
        lines[0] = lines[0][len(parsing.UTF8_BOM) :]
    return lines


def directory_digest(directory: Path) -> str:
    """SHA-256 over every file's relative path and bytes below `directory`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def synthetic_pipeline_config(root: Path, **overrides):
    """A PipelineConfig for a tiny model on `synthetic_corpus()`, written under `root`."""
    from pipeline.config import PipelineConfig

    corpus = write_corpus(root / "data" / "tiny.txt", synthetic_corpus())
    settings = dict(
        data_root=str(corpus.parent),
        output_root=str(root / "outputs"),
        vocab_size=320,  # the most SentencePiece can learn from this corpus is 333
        # SentencePiece spells these sentences in about 12 pieces (3 a word): keep them whole.
        max_source_tokens=24,
        max_target_tokens=24,
        architecture="rnn",
        precision="float32",  # not `auto`: the same arithmetic on every CPU
        embedding_dim=16,
        units=32,
        batch_size=16,
        # Worker processes cost more than they give on a tiny corpus (test_tsv_example_gen
        # runs the default multi-processing DirectRunner).
        beam_pipeline_args=("--direct_running_mode=in_memory",),
    )
    return PipelineConfig.with_fields(**{**settings, **overrides})


def run_with_tfx_cli(config, work_dir: Path) -> None:
    """Runs the whole pipeline for `config` with `tfx pipeline create` then `tfx run create`
    (--engine=local, runner file pipeline/local_runner.py); fails on any error."""
    import os
    import subprocess
    import sys

    from pipeline.config import CONFIG_FILE_ENV

    config_file = work_dir / "config.json"
    config_file.write_text(config.to_json())
    env = {**os.environ, CONFIG_FILE_ENV: str(config_file), "LOCAL_HOME": str(work_dir / "tfx")}
    tfx = str(Path(sys.executable).with_name("tfx"))
    commands = [
        ["pipeline", "create", "--engine=local", "--pipeline_path=pipeline/local_runner.py"],
        ["run", "create", "--engine=local", f"--pipeline_name={config.runtime.pipeline_name}"],
    ]
    for command in commands:
        done = subprocess.run(
            [tfx, *command], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        if command[:2] == ["pipeline", "create"]:
            assert f'Pipeline "{config.runtime.pipeline_name}" created successfully' in done.stdout
            assert not Path(config.pipeline_root, "TsvExampleGen").exists(), "create ran it"
            assert "Report: " not in done.stdout
        else:  # like `nmt-pipeline run`: the verdict, and the report written
            assert "Test-split BLEU " in done.stdout, done.stdout[-2000:]
            assert (
                f"Report: {Path(config.runtime.output_root, 'report.html').resolve()}"
                in done.stdout
            )


# Written as people write: case, apostrophes, accents, inverted marks (Spanish, English).
REAL_TEXT_PAIRS = [
    ("Estoy aquí.", "I'm here."),
    ("El coche de Tom es rojo.", "Tom's car is red."),
    ("¿Qué hora es?", "What time is it?"),
    ("No puedo vivir sin televisión.", "I can't live without a TV."),
    ("¡Él está en el Café Ñandú!", "He's at the Ñandú Café!"),
]


def transform_in_memory(pairs, transform_config, output_dir: Path):
    """Runs modules/text/transform.py's preprocessing_fn over (source, target) pairs with
    tf.Transform on Beam's DirectRunner; writes the Transform output to `output_dir` and
    returns it as a TFTransformOutput."""
    import functools
    import tempfile

    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import metadata_io

    from modules import signatures
    from modules.text import transform

    names = (signatures.SOURCE_FEATURE, signatures.TARGET_FEATURE)
    rows = [
        {name: np.array([value]) for name, value in zip(names, pair, strict=True)} for pair in pairs
    ]
    metadata = tft.DatasetMetadata.from_feature_spec(
        {name: tf.io.FixedLenFeature([1], tf.string) for name in names}
    )
    preprocessing_fn = functools.partial(
        transform.preprocessing_fn,
        custom_config={transform.CUSTOM_CONFIG_KEY: transform_config.to_dict()},
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=output_dir)):
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(output_dir))
    # The raw schema, which the exported model's `evaluate` signature parses with.
    metadata_io.write_metadata(metadata, str(output_dir / tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(str(output_dir))


def transformed_batch(tft_output, pairs):
    """(source, target) pairs through the Transform graph -> one padded training batch:
    ({"source_ids": [batch, src_len], "target_in": [batch, tgt_len]}, target_out)."""
    import tensorflow as tf

    from modules import signatures

    features = tft_output.transform_features_layer()(
        {
            signatures.SOURCE_FEATURE: tf.constant([[source] for source, _ in pairs]),
            signatures.TARGET_FEATURE: tf.constant([[target] for _, target in pairs]),
        }
    )
    source_ids = features["source_ids"].to_tensor()
    target_ids = features["target_ids"].to_tensor()
    return {"source_ids": source_ids, "target_in": target_ids[:, :-1]}, target_ids[:, 1:]


def translate_in_fresh_process(model_dir: Path, sentences: list[str]) -> dict:
    """What tests/translate_in_fresh_process.py prints for `sentences`: a serving process
    with no legacy-Keras switch and nothing of this project on its path."""
    import json
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "tests/translate_in_fresh_process.py", str(model_dir), *sentences],
        cwd=PROJECT_ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "PYTHONPATH")},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def greedy_words(model, source_ids) -> list[list[int]]:
    """Greedy decoding of `source_ids` [batch, src_len] by `model`: each sentence's ids
    before [END] (at most 12)."""
    import tensorflow as tf

    from modules.serving import decoding

    memory, state = model.encode(tf.constant(source_ids))
    max_lengths = tf.fill([source_ids.shape[0]], 12)
    hyps = decoding.decode(
        model.decoder.step, memory, memory.mask, state, max_lengths, decoding.Greedy()
    )
    return [
        row[: n - 1].tolist()
        for row, n in zip(hyps.token_ids.numpy(), hyps.lengths.numpy(), strict=True)
    ]


def fit_until_memorised(model, inputs, target_out) -> dict:
    """Fits `model` on one batch for 150 epochs (batches of 8), asserts that greedy
    decoding then writes every target sentence back, and returns the history."""
    from modules.text import words

    history = model.fit(inputs, target_out, batch_size=8, epochs=150, verbose=0).history
    expected = [[t for t in row if t not in (words.PAD_ID, words.END_ID)] for row in target_out]
    assert greedy_words(model, inputs["source_ids"]) == expected
    return history


def trainer_fn_args(tiny_pipeline_run, run_dir: Path, **changes) -> dict:
    """The Trainer's FnArgs (as a dict) for a run on the tiny pipeline's Transform output
    with the config `changes`, everything it writes under `run_dir`."""
    from pipeline import definition

    config, components = tiny_pipeline_run
    (examples,) = components["Transform"].artifacts["transformed_examples"]
    (transform_graph,) = components["Transform"].artifacts["transform_graph"]
    run_config = config.replace(**changes, output_root=str(run_dir / "outputs"))
    return {
        "train_files": [f"{examples}/Split-train/*"],
        "eval_files": [f"{examples}/Split-eval/*"],
        "transform_output": transform_graph,
        "serving_model_dir": str(run_dir / "serving_model"),
        "model_run_dir": str(run_dir / "model_run"),
        "custom_config": definition.trainer_config(run_config).to_custom_config(),
    }
