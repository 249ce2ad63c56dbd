"""The real pipeline (LocalDagRunner, Beam DirectRunner, no mocks) on a tiny corpus."""

from pathlib import Path

import numpy as np
import pytest
import sentencepiece
import tensorflow as tf
import tensorflow_transform as tft

from modules import signatures
from modules.text import transform, words
from pipeline import results
from tests.helpers import directory_digest, synthetic_corpus, translate_in_fresh_process


def _single_uri(run, component, key):
    (uri,) = run[component].artifacts[key]
    return uri


def test_every_component_ran(tiny_pipeline_run):
    _, run = tiny_pipeline_run
    assert {
        "TsvExampleGen",
        "StatisticsGen",
        "SchemaGen",
        "ExampleValidator",
        "Transform",
        "Trainer",
        "latest_blessed_model_resolver",
        "Evaluator",
        "Pusher",
    } == set(run)
    assert all(component.state == "ran" for component in run.values())


def test_transform_learned_one_sentencepiece_model_for_both_languages(tiny_pipeline_run):
    config, run = tiny_pipeline_run
    output = tft.TFTransformOutput(_single_uri(run, "Transform", "transform_graph"))
    assets = {
        name: output.vocabulary_file_by_name(name)
        for name in (
            transform.SOURCE_VOCABULARY,
            transform.TARGET_VOCABULARY,
            transform.SOURCE_MODEL,
            transform.TARGET_MODEL,
        )
    }
    assert all(path and Path(path).is_file() for path in assets.values())
    assert assets[transform.SOURCE_MODEL] == assets[transform.TARGET_MODEL]  # shared
    pieces = Path(assets[transform.TARGET_VOCABULARY]).read_text(encoding="utf-8").splitlines()
    assert len(pieces) == config.transform.vocab_size
    assert tuple(pieces[: len(words.SPECIAL_TOKENS)]) == words.SPECIAL_TOKENS
    assert "<0xF0>" in pieces  # byte fallback
    processor = sentencepiece.SentencePieceProcessor(model_file=assets[transform.TARGET_MODEL])
    assert [processor.id_to_piece(i) for i in range(len(pieces))] == pieces


def test_transformed_examples_hold_the_pieces_of_the_raw_text(tiny_pipeline_run):
    config, run = tiny_pipeline_run
    output = tft.TFTransformOutput(_single_uri(run, "Transform", "transform_graph"))
    processor = sentencepiece.SentencePieceProcessor(
        model_file=output.vocabulary_file_by_name(transform.TARGET_MODEL)
    )
    examples_uri = _single_uri(run, "Transform", "transformed_examples")
    files = tf.io.gfile.glob(f"{examples_uri}/Split-eval/*.gz")
    dataset = tf.data.TFRecordDataset(files, "GZIP").map(
        lambda record: tf.io.parse_single_example(record, output.transformed_feature_spec())
    )
    checked = 0
    for example in dataset:
        target_ids = example["target_ids"].numpy().tolist()
        assert target_ids[0] == words.START_ID and target_ids[-1] == words.END_ID
        assert len(target_ids) <= config.transform.max_target_tokens
        # The synthetic sentences are short: nothing was cut, the ids spell the text exactly.
        for ids, raw in ((target_ids[1:-1], "target_text"), (example["source_ids"], "source_text")):
            ids = [int(i) for i in ids]
            assert processor.decode(ids) == np.asarray(example[raw]).reshape(-1)[0].decode()
            assert min(ids) >= len(words.SPECIAL_TOKENS)
        checked += 1
    assert checked > 5


def test_rejected_lines_summary_is_recorded(tiny_pipeline_run):
    _, run = tiny_pipeline_run
    summary = Path(_single_uri(run, "TsvExampleGen", "rejected_lines")) / "summary.json"
    assert f'"lines_read": {len(synthetic_corpus())}' in summary.read_text()


def test_trainer_logged_throughput_and_kept_checkpoints(tiny_pipeline_run):
    config, run = tiny_pipeline_run
    model_run = Path(_single_uri(run, "Trainer", "model_run"))
    checkpoints = tf.train.get_checkpoint_state(str(model_run / "checkpoints"))
    event_files = [str(path) for path in model_run.glob("train/events.out.tfevents.*")]
    assert event_files
    # Early stopping may end training before the last epoch (training is not seeded):
    # the newest checkpoint is that of the last epoch TensorBoard logged (steps from 0).
    epochs_run = 1 + max(
        event.step
        for path in event_files
        for event in tf.compat.v1.train.summary_iterator(path)
        if any(value.tag == "epoch_loss" for value in event.summary.value)
    )
    assert epochs_run <= config.training.epochs
    assert checkpoints.model_checkpoint_path.endswith(f"ckpt-{epochs_run}")
    # The newest multiples of save_checkpoints_steps, kept for averaging.
    averaged = tf.train.get_checkpoint_state(str(model_run / "averaged_checkpoints"))
    steps = [int(path.rsplit("-", 1)[1]) for path in averaged.all_model_checkpoint_paths]
    every = config.training.save_checkpoints_steps
    assert len(steps) == config.training.average_last_checkpoints
    assert steps == list(range(steps[0], steps[-1] + every, every)) and steps[0] % every == 0


def test_pushed_model_translates_in_a_fresh_tensorflow_only_process(tiny_pipeline_run):
    config, run = tiny_pipeline_run
    versions = sorted(Path(config.serving_model_dir).iterdir())
    assert len(versions) == 1 and versions[0].name.isdigit()
    sentences = ["¿Todavía está en casa?", "Yo veo el gato.", "palabrasinventadas xyz"]
    output = translate_in_fresh_process(versions[0], sentences)
    assert output["foreign_modules"] == []
    assert {"serving_default", "greedy", "beam_search", "attention", "evaluate"} <= set(
        output["signatures"]
    )
    for translations in output["translations"].values():
        assert len(translations) == len(sentences)
        for translation in translations:
            assert not any(token in translation for token in words.SPECIAL_TOKENS)
    default_search = signatures.SEARCH_SIGNATURES[config.decoding.decoding]
    assert output["translations"]["serving_default"] == output["translations"][default_search]
    for tokens, sums in zip(output["output_tokens"], output["attention_row_sums"], strict=True):
        steps = tokens.index(words.END_TOKEN) + 1 if words.END_TOKEN in tokens else len(tokens)
        np.testing.assert_allclose(sums[:steps], 1.0, rtol=1e-5)


def test_evaluate_signature_scores_serialized_raw_examples(tiny_pipeline_run, pushed_model):
    _, run = tiny_pipeline_run
    examples_uri = _single_uri(run, "TsvExampleGen", "examples")
    files = tf.io.gfile.glob(f"{examples_uri}/Split-eval/*.gz")
    records = next(iter(tf.data.TFRecordDataset(files, "GZIP").batch(8)))
    outputs = pushed_model.signatures["evaluate"](records)
    references = [
        tf.train.Example.FromString(r).features.feature["target"].bytes_list.value[0]
        for r in records.numpy()
    ]
    assert outputs["reference"].numpy().tolist() == references
    assert outputs["translation"].shape == (len(references),)
    losses = outputs["loss"].numpy()
    assert np.isfinite(losses).all() and (losses > 0).all()


def test_evaluator_reports_bleu_loss_and_count_overall_and_per_length_slice(tiny_pipeline_run):
    config, run = tiny_pipeline_run
    table = results.candidate_metrics(_single_uri(run, "Evaluator", "evaluation"))
    assert next(iter(table)) == results.OVERALL
    assert any(name.startswith("source_length_bucket=") for name in table)
    overall = table[results.OVERALL]
    assert {
        "bleu",
        "bleu_lowercase",
        "chrf",
        "token_loss",
        "perplexity",
        "example_count",
    } <= set(overall)
    assert overall["bleu"] <= overall["bleu_lowercase"]
    assert overall["bleu"] >= config.evaluation.bleu_floor  # the synthetic grammar is learnable
    assert overall["perplexity"] == pytest.approx(np.exp(overall["token_loss"]))
    slice_counts = sum(m["example_count"] for n, m in table.items() if n != results.OVERALL)
    assert slice_counts == overall["example_count"]


def test_a_good_first_model_is_blessed_and_pushed(tiny_pipeline_run):
    config, run = tiny_pipeline_run
    blessing = Path(_single_uri(run, "Evaluator", "blessing"))
    assert (blessing / "BLESSED").exists()
    assert run["Pusher"].state == "ran"
    assert len(list(Path(config.serving_model_dir).iterdir())) == 1


def test_an_unchanged_rerun_trains_nothing_and_pushes_no_second_copy(
    unchanged_rerun, pushed_digest_before_rerun
):
    from components.pusher.executor import ALREADY_SERVING_KEY
    from pipeline import summary

    config, run = unchanged_rerun
    assert run["Trainer"].state == "cached"
    # The Evaluator runs again (its baseline is now the model itself) and blesses it ...
    assert (Path(_single_uri(run, "Evaluator", "blessing")) / "BLESSED").exists()
    # ... and the Pusher finds it already serving: no second version, not a byte changed.
    (pushed,) = run["Pusher"].artifacts["pushed_model"]
    assert run["Pusher"].properties[pushed][ALREADY_SERVING_KEY] == 1
    assert len(list(Path(config.serving_model_dir).iterdir())) == 1
    assert directory_digest(Path(config.serving_model_dir)) == pushed_digest_before_rerun
    # This run's verdict: a later re-run of the session's pipeline may be the latest by now.
    lines = summary.verdict(config, list(run.values()))
    assert "model blessed, already the serving model (not pushed again)" in lines[0]


def test_an_untrained_model_is_not_blessed_and_not_pushed(
    tiny_pipeline_run, untrained_rerun, pushed_digest_before_rerun
):
    config, run = untrained_rerun
    assert run["TsvExampleGen"].state == "cached" and run["Transform"].state == "cached"
    assert run["Trainer"].state == "ran"
    blessing = Path(_single_uri(run, "Evaluator", "blessing"))
    assert (blessing / "NOT_BLESSED").exists()
    table = results.candidate_metrics(_single_uri(run, "Evaluator", "evaluation"))
    assert table[results.OVERALL]["bleu"] < config.evaluation.bleu_floor
    versions = list(Path(config.serving_model_dir).iterdir())
    assert len(versions) == 1  # still only the first, blessed model, byte for byte
    assert directory_digest(Path(config.serving_model_dir)) == pushed_digest_before_rerun
