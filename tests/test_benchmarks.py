"""Smoke runs of the benchmarks at tiny sizes, so they keep working (numbers not checked)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import VECTOR_FLAGS
from modules.training.precision import cpu_flags
from pipeline import cli
from tests.helpers import SAMPLE_CORPUS

ROOT = Path(__file__).resolve().parent.parent


def _is_score(value: float) -> bool:
    """A sacreBLEU score: 0-100, where a perfect BLEU is exp(log(100)) = 100.00000000000004."""
    return 0 <= value <= 100 + 1e-9


def _run(module: str, *args: str, out: Path) -> subprocess.CompletedProcess:
    """`python -m benchmarks.<module> ... --out <out>`, which must exit 0."""
    completed = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args, "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def _run_benchmark(module: str, *args: str, out: Path) -> dict:
    _run(module, *args, out=out)
    results = json.loads((out / f"{module}.json").read_text())
    assert results["environment"]["cores"] >= 1 and results["rows"]
    assert set(results["environment"]["cpu_vector_flags"]) == set(VECTOR_FLAGS) & cpu_flags()
    return results


def test_trainer_throughput_smoke(tmp_path):
    results = _run_benchmark(
        "trainer_throughput",
        "--sizes=smoke",
        "--steps=2",
        "--rounds=2",
        "--pairs=300",
        f"--corpus={SAMPLE_CORPUS}",
        "--contenders",
        "tutorial per-token loop",
        "project",
        out=tmp_path,
    )
    contenders = {row["contender"] for row in results["rows"]}
    assert contenders == {"tutorial per-token loop", "project"}
    assert all(row["examples_per_s"] > 0 and row["peak_fraction"] > 0 for row in results["rows"])
    assert all(len(row["examples_per_s_by_round"]) == 2 for row in results["rows"])


def test_decoding_throughput_smoke(tiny_pipeline_run, tmp_path):
    config, _ = tiny_pipeline_run
    flags = cli.config_flags(config)
    results = _run_benchmark("decoding_throughput", "--batches=2", *flags, out=tmp_path)
    assert {(row["batch"], row["decoder"]) for row in results["rows"]} == {
        (batch, decoder)
        for batch in (1, 64)
        for decoder in ("tutorial eager loop (greedy)", "SavedModel greedy", "SavedModel beam 4")
    }


def test_quality_per_minute_smoke(tiny_pipeline_run, tmp_path):
    config, _ = tiny_pipeline_run
    flags = cli.config_flags(config)
    results = _run_benchmark(
        "quality_per_minute", "--runs", "rnn-linear-decay:0.1", *flags, out=tmp_path
    )
    (row,) = results["rows"]
    assert (row["variant"], row["train_minutes"]) == ("rnn-linear-decay", 0.1)
    assert row["trainer_s"] > 0 and _is_score(row["bleu"]) and row["samples"]
    assert (tmp_path / "quality_per_minute.png").read_bytes().startswith(b"\x89PNG")


def test_quality_per_minute_curves_join_runs_of_the_same_settings(tmp_path):
    from benchmarks import quality_per_minute

    def row(variant, minutes, precision, bleu):
        settings = {"eval_decoding": "beam", "precision": precision, "chrf": bleu + 15}
        return {"variant": variant, "train_minutes": minutes, "bleu": bleu, **settings}

    rows = [
        row("rnn-bfloat16", 10, "mixed_bfloat16", 41.0),
        row("rnn", 20, "mixed_bfloat16", 47.0),  # `auto` chose bfloat16
        row("rnn", 10, "float32", 38.0),
        row("rnn-tutorial-sizes", 10, "mixed_bfloat16", 34.0),
    ]
    curves = [quality_per_minute.curve_of(r) for r in rows]
    assert curves[0] == curves[1] == "rnn, beam, mixed_bfloat16"
    assert len(set(curves)) == 3
    path = tmp_path / "curves.png"
    quality_per_minute.plot(rows, str(path), "test machine")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_search_quality_smoke(tiny_pipeline_run, tmp_path):
    config, _ = tiny_pipeline_run
    flags = cli.config_flags(config)
    results = _run_benchmark(
        "search_quality", "--output-roots", config.runtime.output_root, *flags, out=tmp_path
    )
    assert [row["search"] for row in results["rows"]] == ["greedy", "beam"]
    assert all(_is_score(row["bleu"]) and row["sentences"] > 0 for row in results["rows"])


def test_length_penalty_chooses_on_eval_and_reproduces_the_exported_beam_search(
    tiny_pipeline_run, tmp_path
):
    config, _ = tiny_pipeline_run
    flags = cli.config_flags(config)
    run_alpha = config.decoding.length_penalty
    results = _run_benchmark(
        "length_penalty", "--alphas", "0", str(run_alpha), "2", *flags, out=tmp_path
    )
    rows = results["rows"]
    assert [(r["split"], r["length_penalty"]) for r in rows[:3]] == [
        ("eval", 0.0),
        ("eval", run_alpha),
        ("eval", 2.0),
    ]
    chosen = results["settings"]["chosen_on_eval"]
    assert chosen == max(rows[:3], key=lambda r: r["bleu"])["length_penalty"]
    tests = {r["length_penalty"]: r for r in rows[3:]}
    assert set(tests) == {run_alpha, chosen} and all(r["split"] == "test" for r in rows[3:])
    exported = _run_benchmark(
        "search_quality", "--output-roots", config.runtime.output_root, *flags, out=tmp_path
    )
    (exported_beam,) = [r for r in exported["rows"] if r["search"] == "beam"]
    assert tests[run_alpha]["bleu"] == exported_beam["bleu"]
    assert tests[run_alpha]["chrf"] == exported_beam["chrf"]


def test_serving_load_smoke(tiny_pipeline_run, tmp_path):
    config, _ = tiny_pipeline_run
    (version,) = Path(config.serving_model_dir).iterdir()
    args = ["--model", str(version), "--clients", "1,4", "--requests", "12", "--batching", "on"]
    results = _run_benchmark("serving_load", *args, out=tmp_path)
    assert [(row["setup"], row["clients"]) for row in results["rows"]] == [
        ("direct call", 1),
        ("direct call", 4),
        ("serve, batching on", 1),
        ("serve, batching on", 4),
    ]
    for row in results["rows"]:
        assert row["requests"] == 12 and row["errors"] == 0
        assert 0 < row["p50_ms"] <= row["p99_ms"] and row["requests_per_s"] > 0


def test_gpu_check_says_there_is_no_gpu_and_runs_the_cpu_path(tmp_path):
    completed = _run("gpu_check", "--pairs", "1000", "--batch-size", "16", out=tmp_path)
    assert completed.stdout.startswith("No GPU: TensorFlow sees none. Running the CPU path")
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    assert results["settings"]["gpus"] == [] and results["environment"]["gpus"] == []
    rows = {row["architecture"]: row for row in results["rows"]}
    assert set(rows) == {"rnn", "transformer"}
    for row in rows.values():
        assert (row["setup"], row["precision"], row["replicas"]) == ("CPU", "float32", 1)
        assert row["examples_per_s"] > 0 and 0 < row["loss"] < 20
    assert rows["rnn"]["cudnn_rnn"] is False and rows["rnn"]["profiled_ops"] > 10


def test_peer_joeynmt_gets_the_runs_own_splits_pieces_and_matched_settings(
    tiny_pipeline_run, tmp_path
):
    """What benchmarks/peer_joeynmt.py hands JoeyNMT (JoeyNMT itself needs its own
    virtualenv with torch, made by the benchmark, not by the tests)."""
    import sentencepiece

    from benchmarks import common, peer_joeynmt

    config, run = tiny_pipeline_run
    data = peer_joeynmt.split_files(run, tmp_path, ("spa", "eng"))
    examples = run["TsvExampleGen"].single_uri("examples")
    test_pairs = common.split_pairs(examples, "test")
    assert (tmp_path / "test.references").read_text().splitlines() == [t for _, t in test_pairs]
    for split, name in peer_joeynmt.SPLITS.items():
        pairs = common.split_pairs(examples, split)
        pairs = pairs[: peer_joeynmt.DEV_SENTENCES] if name == "dev" else pairs
        sources = Path(f"{data[split]}.spa").read_text().splitlines()
        targets = Path(f"{data[split]}.eng").read_text().splitlines()
        assert data[split].name == name and len(sources) == len(targets) == len(pairs) > 0
        # The pipeline's normalisation (NFKC, one space) changes none of these sentences.
        assert list(zip(sources, targets, strict=True)) == pairs

    model, pieces = peer_joeynmt.sentencepiece_files(run)
    processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
    assert pieces.read_text().splitlines() == [
        processor.id_to_piece(i) for i in range(processor.get_piece_size())
    ]
    settings = peer_joeynmt.joeynmt_config(config, data, ("spa", "eng"), (model, pieces), "m")
    encoder, decoder = settings["model"]["encoder"], settings["model"]["decoder"]
    assert 2 * encoder["hidden_size"] == decoder["hidden_size"] == config.model.units
    assert encoder["bidirectional"] and decoder["attention"] == config.model.attention
    assert settings["training"]["batch_size"] == config.training.batch_size
    assert settings["training"]["learning_rate"] == config.training.learning_rate == 0.01
    auto = peer_joeynmt.joeynmt_config(
        config.replace(learning_rate=0.0), data, ("spa", "eng"), (model, pieces), "m"
    )
    assert auto["training"]["learning_rate"] == 3e-3  # the rate `auto` stands for, not 0
    # JoeyNMT numbers unk, pad, bos, eos first, then the pieces it has not seen.
    symbols = settings["data"]["special_symbols"]
    joey_order = [symbols[f"{s}_token"] for s in ("unk", "pad", "bos", "eos")]
    assert [symbols[f"{s}_id"] for s in ("unk", "pad", "bos", "eos")] == [0, 1, 2, 3]
    assert set(joey_order) <= set(pieces.read_text().splitlines())
    assert json.loads(json.dumps(settings)) == settings  # written as JSON, read as YAML
