"""The Beam steps on Beam's portable runner: a job service and an SDK worker pool in their
own processes (pipeline/portable_beam.py), against the tiny pipeline's DirectRunner runs.

The portable run trains no epoch (the Trainer is no Beam step): its model is the untrained
re-run's, the same seed giving the same initial weights, so its Evaluator must score what
that re-run's DirectRunner Evaluator scored."""

import socket
from pathlib import Path

import pytest
import tensorflow as tf

from pipeline import local_runner, outputs, portable_beam, results


def _examples(uri: str, split: str) -> list[list[tuple]]:
    """One split of an Examples artifact as sorted feature lists (a serialized Example's
    map order differs from process to process)."""
    parsed = []
    for path in sorted(Path(uri, f"Split-{split}").glob("*.gz")):
        for record in tf.data.TFRecordDataset(str(path), compression_type="GZIP"):
            features = tf.train.Example.FromString(record.numpy()).features.feature
            parsed.append(sorted((name, str(value)) for name, value in features.items()))
    return sorted(parsed)


@pytest.fixture(scope="module")
def portable_run(untrained_rerun, tmp_path_factory):
    """The untrained re-run's config (zero epochs) on the portable runner, in its own
    output root."""
    config, _ = untrained_rerun
    root = tmp_path_factory.mktemp("portable")
    with portable_beam.portable_services(log_dir=str(root)) as beam_args:
        portable = config.replace(
            output_root=str(root / "outputs"), beam_pipeline_args=tuple(beam_args)
        )
        local_runner.run(portable)
    return root, {c.component: c for c in outputs.latest_run(portable)}


def test_the_beam_steps_ran_in_the_worker_pools_processes(portable_run):
    root, run = portable_run
    assert {
        c: run[c].state for c in ("TsvExampleGen", "StatisticsGen", "Transform", "Evaluator")
    } == {c: "ran" for c in ("TsvExampleGen", "StatisticsGen", "Transform", "Evaluator")}
    pool_log = (root / "worker_pool.log").read_text()
    assert pool_log.count("Starting worker") >= 4, pool_log[-2000:]  # a worker per Beam job


def test_the_outputs_are_the_direct_runners(untrained_rerun, portable_run):
    _, direct = untrained_rerun
    _, portable = portable_run
    for split in ("train", "eval", "test"):
        uris = [run["TsvExampleGen"].single_uri("examples") for run in (portable, direct)]
        assert _examples(uris[0], split) == _examples(uris[1], split), split
    for split in ("train", "eval"):
        uris = [run["Transform"].single_uri("transformed_examples") for run in (portable, direct)]
        assert _examples(uris[0], split) == _examples(uris[1], split), split
    assets = [
        Path(run["Transform"].single_uri("transform_graph"), "transform_fn", "assets")
        for run in (portable, direct)
    ]
    names = sorted(path.name for path in assets[1].iterdir())
    assert names and sorted(path.name for path in assets[0].iterdir()) == names
    for name in names:  # the SentencePiece model Transform learned with Beam
        assert (assets[0] / name).read_bytes() == (assets[1] / name).read_bytes(), name
    # The untrained model scores BLEU ~0.2, chrF ~2 and a token loss ~5.8 here, so equal
    # figures mean the same model evaluated on the same examples.
    portable_metrics, direct_metrics = (
        results.overall_metrics(run["Evaluator"].single_uri("evaluation"))
        for run in (portable, direct)
    )
    names = ("example_count", "bleu", "chrf", "token_loss")
    assert direct_metrics["bleu"] > 0 and direct_metrics["token_loss"] > 1
    assert {name: portable_metrics[name] for name in names} == pytest.approx(
        {name: direct_metrics[name] for name in names}, rel=1e-6
    )


def test_the_services_are_stopped_after_the_block(tmp_path):
    with portable_beam.portable_services(log_dir=str(tmp_path)) as beam_args:
        ports = [int(arg.rpartition(":")[2]) for arg in beam_args if "localhost:" in arg]
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), 1).close()
