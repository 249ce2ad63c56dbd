"""Subword regularisation: training pairs re-cut into sampled SentencePiece segmentations,
from real text through a real Transform output, that spell the same sentences and are cut as
Transform cuts them; the Trainer trains on them."""

import math

import pytest
import tensorflow as tf
from tfx.components.trainer.fn_args_utils import FnArgs

from modules import signatures
from modules.settings import ConfigError
from modules.text import subwords, tokenizers, words
from modules.text.config import TransformConfig
from modules.training import data, trainer
from modules.training.subword_sampling import SegmentationSampler
from pipeline.config import PipelineConfig
from tests.helpers import REAL_TEXT_PAIRS, synthetic_corpus, trainer_fn_args, transform_in_memory

FILLER = [tuple(line.split("\t")[::-1]) for line in synthetic_corpus()]
TEXT_CONFIG = TransformConfig(vocab_size=320, max_source_tokens=32, max_target_tokens=32)
DRAWS = 40


@pytest.fixture(scope="module")
def tft_output(tmp_path_factory):
    return transform_in_memory(FILLER + REAL_TEXT_PAIRS, TEXT_CONFIG, tmp_path_factory.mktemp("t"))


def spelled(tft_output, ids) -> str:
    """Target ids without the sentence markers -> the text they spell."""
    return tokenizers.SubwordText(tft_output).sentences(tf.ragged.constant([ids])).numpy()[0]


def sample(sampler, source: str, target: str) -> dict:
    example = {"source_text": tf.constant([source]), "target_text": tf.constant([target])}
    return {key: ids.numpy().tolist() for key, ids in sampler(example).items()}


def test_sampled_segmentations_differ_and_spell_the_sentence_between_its_markers(tft_output):
    sampler = SegmentationSampler(tft_output, TEXT_CONFIG, alpha=0.1)
    source, target = REAL_TEXT_PAIRS[0]
    draws = [sample(sampler, source, target) for _ in range(DRAWS)]
    targets = {tuple(draw["target_ids"]) for draw in draws}
    assert len(targets) > 1 and len({tuple(draw["source_ids"]) for draw in draws}) > 1
    expected = subwords.normalise(tf.constant(target)).numpy()
    for ids in targets:
        assert ids[0] == words.START_ID and ids[-1] == words.END_ID
        assert spelled(tft_output, list(ids[1:-1])) == expected


def test_sampled_ids_are_cut_to_the_configured_lengths(tft_output):
    short = TEXT_CONFIG.replace(max_source_tokens=5, max_target_tokens=6)
    sampler = SegmentationSampler(tft_output, short, alpha=0.1)
    for source, target in REAL_TEXT_PAIRS:
        draw = sample(sampler, source, target)
        assert 0 < len(draw["source_ids"]) <= 5
        assert draw["target_ids"][0] == words.START_ID and draw["target_ids"][-1] == words.END_ID
        assert len(draw["target_ids"]) <= 6


def test_training_batches_are_sampled_anew_on_every_pass_and_lose_no_pair(tft_output, tmp_path):
    features = tft_output.transform_features_layer()(
        {
            signatures.SOURCE_FEATURE: tf.constant([[s] for s, _ in REAL_TEXT_PAIRS]),
            signatures.TARGET_FEATURE: tf.constant([[t] for _, t in REAL_TEXT_PAIRS]),
        }
    )
    path = str(tmp_path / "examples.gz")
    with tf.io.TFRecordWriter(path, "GZIP") as writer:
        for index in range(len(REAL_TEXT_PAIRS)):
            feature = {
                key: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[features[key][index].numpy()])
                )
                for key in data.TEXTS
            }
            for key in data.IDS:  # Transform's ids, which the sampled ones replace
                ids = features[key][index].numpy().tolist()
                feature[key + "$ragged_values"] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=ids)
                )
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    batches = data.make_dataset(
        [path],
        tft_output.transformed_feature_spec(),
        len(REAL_TEXT_PAIRS),
        shuffle=False,
        segment=SegmentationSampler(tft_output, TEXT_CONFIG, alpha=0.1),
    )

    def one_pass() -> list[list[int]]:
        rows = []
        for _inputs, target_out in batches:
            rows.extend([int(i) for i in row if i != words.PAD_ID] for row in target_out.numpy())
        return sorted(rows)

    passes = [one_pass() for _ in range(8)]
    assert any(other != passes[0] for other in passes[1:])
    expected = sorted(subwords.normalise(tf.constant([t for _, t in REAL_TEXT_PAIRS])).numpy())
    for rows in passes:
        # target_out: the target shifted by one, so it ends with [END] and has no [START].
        assert all(row[-1] == words.END_ID for row in rows)
        assert sorted(spelled(tft_output, row[:-1]) for row in rows) == expected


def test_sampling_needs_the_sentencepiece_tokenizer_and_a_non_negative_alpha():
    with pytest.raises(ConfigError, match="needs transform.tokenizer=sentencepiece"):
        PipelineConfig.with_fields(tokenizer="word", subword_sampling=0.1)
    with pytest.raises(ConfigError, match="subword_sampling"):
        PipelineConfig.with_fields(subword_sampling=-0.1)


def test_the_trainer_trains_every_epoch_on_as_many_sampled_batches_as_one_pass_makes(
    tiny_pipeline_run, tmp_path
):
    epochs = 4
    fn_args = FnArgs(
        **trainer_fn_args(tiny_pipeline_run, tmp_path, epochs=epochs, subword_sampling=0.1)
    )
    config = trainer.TrainerConfig.from_custom_config(fn_args.custom_config)
    model, tft_output = trainer.train(config, fn_args, tf.distribute.get_strategy())
    one_pass = data.batches_per_pass(
        fn_args.train_files,
        tft_output.transformed_feature_spec(),
        config.training.batch_size,
        max_length=max(config.text.max_source_tokens, config.text.max_target_tokens),
    )
    # Keras stopped training at the first pass that made fewer batches than the first.
    assert model.optimizer.iterations.numpy() == epochs * one_pass
    eval_batches = data.make_dataset(
        fn_args.eval_files,
        tft_output.transformed_feature_spec(),
        config.training.batch_size,
        shuffle=False,
    )
    assert math.isfinite(model.evaluate(eval_batches, verbose=0, return_dict=True)["loss"])
