"""This project against JoeyNMT 2.3.0 side by side: same splits, subwords, minutes, sacreBLEU.

For each budget: the whole pipeline with `--train-minutes MINUTES` (or a finished run given
with `--output-roots`), then JoeyNMT, in its own virtualenv, on that run's own train, eval and
test splits (normalised as the pipeline normalises them) and its own SentencePiece model and
pieces, trained for the same minutes with the settings in `joeynmt_config` and stopped with
SIGINT (JoeyNMT saves a checkpoint then). Both systems decode the whole test split at batch
64, beam 4 and greedy, and are scored with the same sacreBLEU call against the raw
references. Example (the docs' table):

    python -m benchmarks.peer_joeynmt --minutes 5 12

JoeyNMT's virtualenv (`--peer-venv`, made once with `--peer-python`, Python 3.11 for the CPU
build of torch on these machines) never touches `.venv`; its pins are
benchmarks/peer_joeynmt_requirements.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from benchmarks import common, scored_run, search_quality

REQUIREMENTS = common.PROJECT_ROOT / "benchmarks" / "peer_joeynmt_requirements.txt"
DEFAULT_VENV = common.PROJECT_ROOT / "build" / "peer-joeynmt-venv"
BATCH = search_quality.BATCH
BEAM = 4
# The split files JoeyNMT reads: <split>.<language>, as its plain dataset expects.
SPLITS = {"train": "train", "eval": "dev", "test": "test"}
# JoeyNMT validates (greedy decoding of the dev set) this often, and on this many sentences.
VALIDATION_STEPS = 500
DEV_SENTENCES = 1000


def ensure_venv(venv: Path, python: str) -> Path:
    """JoeyNMT's virtualenv at `venv`, made and installed once; -> its python."""
    peer_python = venv / "bin" / "python"
    installed = venv / ".installed"
    if installed.exists() and installed.read_text() == REQUIREMENTS.read_text():
        return peer_python
    print(f"Installing JoeyNMT into {venv} (once)", flush=True)
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(peer_python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True
    )
    installed.write_text(REQUIREMENTS.read_text())
    return peer_python


def split_files(run: dict, directory: Path, languages: tuple[str, str]) -> dict[str, Path]:
    """Writes the run's splits as JoeyNMT's `<split>.<language>` files, normalised as the
    pipeline normalises text before SentencePiece (the test references raw, for scoring);
    -> {split: path prefix}. The dev file holds the first DEV_SENTENCES eval pairs."""
    import tensorflow as tf

    from modules.text import subwords

    directory.mkdir(parents=True, exist_ok=True)
    examples = run["TsvExampleGen"].single_uri("examples")
    prefixes = {}
    for split, name in SPLITS.items():
        pairs = common.split_pairs(examples, split)
        if name == "dev":
            pairs = pairs[:DEV_SENTENCES]
        for side, language in enumerate(languages):
            sentences = [pair[side] for pair in pairs]
            normalised = subwords.normalise(tf.constant(sentences)).numpy()
            text = "".join(s.decode("utf-8") + "\n" for s in normalised)
            (directory / f"{name}.{language}").write_text(text, encoding="utf-8")
        if name == "test":
            references = "".join(target + "\n" for _, target in pairs)
            (directory / "test.references").write_text(references, encoding="utf-8")
        prefixes[split] = directory / name
    return prefixes


def sentencepiece_files(run: dict) -> tuple[Path, Path]:
    """(model, pieces) of the run's shared SentencePiece vocabulary, from Transform's assets."""
    from modules.text import subwords

    graph = Path(run["Transform"].single_uri("transform_graph"))
    models = sorted(graph.glob(f"**/*{subwords.MODEL_SUFFIX}"))
    if len(models) != 1:
        raise SystemExit(
            f"{graph}: expected one SentencePiece model (shared_vocabulary=true, "
            f"tokenizer=sentencepiece), found {len(models)}"
        )
    (model,) = models
    return model, model.with_name(model.name.replace(subwords.MODEL_SUFFIX, subwords.PIECES_SUFFIX))


def joeynmt_config(config, data: dict[str, Path], languages, spm: tuple[Path, Path], model_dir):
    """JoeyNMT's config matched to the project's RNN: GRU encoder, two-directional of
    units/2 per direction (JoeyNMT's one-directional encoder crashes), GRU decoder of
    `units` with Bahdanau attention, the same embeddings, dropout, batch, Adam rate (the
    resolved `auto` rate, kept constant: `exponential` with factor 1; JoeyNMT has no
    cool-down at the end of a time budget), clipping (over tokens, as here) and beam."""
    from modules.text import words

    model_file, pieces_file = spm
    model, training, transform = config.model, config.training, config.transform

    def side(language, max_length):
        return {
            "lang": language,
            "level": "bpe",
            "lowercase": False,
            "normalize": False,
            "max_length": max_length,
            "voc_file": str(pieces_file),
            "tokenizer_type": "sentencepiece",
            "tokenizer_cfg": {"model_file": str(model_file), "pretokenizer": "none"},
        }

    def embeddings():
        return {"embedding_dim": model.embedding_dim, "scale": False}

    return {
        "name": "peer_joeynmt",
        "joeynmt_version": "2.3.0",
        "data": {
            **{split: str(prefix) for split, prefix in data.items() if split != "eval"},
            "dev": str(data["eval"]),
            "dataset_type": "plain",
            "src": side(languages[0], transform.max_source_tokens),
            "trg": side(languages[1], transform.max_target_tokens - 2),
            # The project's special pieces, at the ids JoeyNMT gives them (it puts
            # unk, pad, bos, eos first, then the pieces file without them).
            "special_symbols": {
                "unk_token": words.UNKNOWN_TOKEN,
                "unk_id": 0,
                "pad_token": words.PAD_TOKEN,
                "pad_id": 1,
                "bos_token": words.START_TOKEN,
                "bos_id": 2,
                "eos_token": words.END_TOKEN,
                "eos_id": 3,
            },
        },
        "testing": {
            "beam_size": BEAM,
            "beam_alpha": config.decoding.length_penalty,
            "batch_size": BATCH,
            "batch_type": "sentence",
            "max_output_length": transform.max_target_tokens,
            "eval_metrics": ["bleu"],
            "sacrebleu_cfg": {"tokenize": "13a"},
        },
        "training": {
            "random_seed": training.seed,
            "optimizer": "adam",
            "learning_rate": training.schedule_for(model.architecture).rate,
            "scheduling": "exponential",
            "decrease_factor": 1.0,
            "clip_grad_norm": training.gradient_clip_norm,
            "normalization": "tokens",
            "loss": "crossentropy",
            "label_smoothing": training.label_smoothing,
            "batch_size": training.batch_size,
            "batch_type": "sentence",
            "epochs": 1000,  # stopped by the budget
            "validation_freq": VALIDATION_STEPS,
            "logging_freq": 100,
            "early_stopping_metric": "loss",
            "keep_best_ckpts": 1,
            "model_dir": str(model_dir),
            "overwrite": True,
            "shuffle": True,
            "use_cuda": False,
            "print_valid_sents": [],
        },
        "model": {
            "initializer": "xavier_uniform",
            "bias_initializer": "zeros",
            "tied_embeddings": False,
            "encoder": {
                "type": "recurrent",
                "rnn_type": model.cell,
                "embeddings": embeddings(),
                "hidden_size": model.units // 2,
                "bidirectional": True,
                "dropout": model.dropout,
                "num_layers": model.encoder_layers,
            },
            "decoder": {
                "type": "recurrent",
                "rnn_type": model.cell,
                "embeddings": embeddings(),
                "hidden_size": model.units,
                "attention": model.attention,
                "dropout": model.dropout,
                "hidden_dropout": model.dropout,
                "num_layers": 1,
                "input_feeding": True,
                "init_hidden": "bridge",
            },
        },
    }


def train_for(peer_python: Path, config_file: Path, minutes: float, log_path: Path) -> dict:
    """`joeynmt train` for `minutes` from its first epoch's start, then SIGINT (JoeyNMT
    saves its current weights on it; `joeynmt test` takes the best validated checkpoint,
    by dev loss, as it does by default); -> {steps, epochs, train_s}."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(peer_python), "-m", "joeynmt", "train", str(config_file), "--skip-test"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A benchmark started in the background (`... &`) has SIGINT ignored, and a child
            # would inherit that: JoeyNMT then never stops. It gets the default back.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        started = None
        deadline = time.monotonic() + 600
        while started is None or time.monotonic() - started < minutes * 60:
            if process.poll() is not None:
                raise SystemExit(f"joeynmt train exited {process.returncode}: see {log_path}")
            if started is None:
                if "EPOCH 1" in log_path.read_text(errors="replace"):
                    started = time.monotonic()
                elif time.monotonic() > deadline:
                    raise SystemExit(f"joeynmt train never started an epoch: see {log_path}")
            time.sleep(1)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=300)
    text = log_path.read_text(errors="replace")
    steps = [int(s) for s in re.findall(r"Step:\s+(\d+)", text)]
    epochs = [int(e) for e in re.findall(r"EPOCH (\d+)", text)]
    return {
        "steps": max(steps, default=0),
        "epochs": max(epochs, default=0),
        "train_s": time.monotonic() - started,
    }


def decode_test(peer_python: Path, config: dict, work: Path, beam: int) -> tuple[list[str], float]:
    """`joeynmt test` with beam `beam` (1: greedy) on the test split -> (translations,
    seconds of its generation, as JoeyNMT logs it)."""
    config = {**config, "testing": {**config["testing"], "beam_size": beam}}
    config["data"] = {k: v for k, v in config["data"].items() if k != "dev"}
    config_file = work / f"test_beam{beam}.json"
    config_file.write_text(json.dumps(config, indent=2))
    output = work / f"hypotheses_beam{beam}"
    done = subprocess.run(
        [str(peer_python), "-m", "joeynmt", "test", str(config_file), "-o", str(output)],
        capture_output=True,
        text=True,
    )
    log = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"joeynmt test failed:\n{log[-3000:]}")
    (generation,) = re.findall(r"test.*?[Gg]eneration took ([\d.]+)", log, re.DOTALL)[-1:]
    translations = Path(f"{output}.test").read_text(encoding="utf-8").splitlines()
    return translations, float(generation)


def peer_rows(run_config, run: dict, minutes: float, peer_python: Path, work: Path) -> list[dict]:
    """JoeyNMT trained for `minutes` on the run's splits; a row per search."""
    from modules import metrics

    direction = run_config.data.direction.split("-")
    data = split_files(run, work / "data", (direction[0], direction[1]))
    config = joeynmt_config(run_config, data, direction, sentencepiece_files(run), work / "model")
    config_file = work / "train.json"
    config_file.write_text(json.dumps(config, indent=2))
    print(f"JoeyNMT: training {minutes:g} min in {work}", flush=True)
    trained = train_for(peer_python, config_file, minutes, work / "train.log")
    references = (work / "data" / "test.references").read_text(encoding="utf-8").splitlines()
    rows = []
    for search, beam in (("greedy", 1), ("beam", BEAM)):
        translations, seconds = decode_test(peer_python, config, work, beam)
        if len(translations) != len(references):
            raise SystemExit(
                f"JoeyNMT gave {len(translations)} translations for {len(references)} sources"
            )
        rows.append(
            {
                "system": "JoeyNMT 2.3.0",
                "train_minutes": minutes,
                "search": search,
                **metrics.corpus_scores(translations, references),
                "sentences_per_s": len(references) / seconds,
                **trained,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    from modules import metrics
    from pipeline import outputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 12.0])
    parser.add_argument(
        "--output-roots",
        nargs="+",
        help="finished runs to use instead of new ones, one per --minutes (the same order)",
    )
    parser.add_argument("--name", default="peer_joeynmt", help="results file name")
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--peer-python", default="python3.11")
    args, base = scored_run.parse_config(parser, argv, "nmt-peer-joeynmt")
    if args.output_roots and len(args.output_roots) != len(args.minutes):
        parser.error("give one --output-roots entry per --minutes value")

    peer_python = ensure_venv(args.peer_venv, args.peer_python)
    rows = []
    for index, minutes in enumerate(args.minutes):
        if args.output_roots:
            config = base.replace(output_root=args.output_roots[index])
        else:
            config = base.replace(
                train_minutes=minutes,
                output_root=os.path.join(base.runtime.output_root, f"{minutes:g}min"),
            )
            print(f"\n=== this project, {minutes:g} min: {config.runtime.output_root}", flush=True)
            scored_run.run_and_score(config)
        for row in search_quality.score_run(config):
            rows.append({"system": "this project", "train_minutes": minutes, **row})
        run = {c.component: c for c in outputs.latest_run(config)}
        work = Path(config.runtime.output_root) / "peer_joeynmt"
        rows += peer_rows(config, run, minutes, peer_python, work)
        common.write_results(args.name, {"signatures": metrics.SIGNATURES}, rows, args.out)
    columns = ("system", "train_minutes", "search", "bleu", "chrf", "sentences_per_s")
    common.print_table("Test split, side by side", [{k: r[k] for k in columns} for r in rows])


if __name__ == "__main__":
    main()
