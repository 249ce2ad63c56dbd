"""The Transformer learns like the RNN: it overfits a batch, padding does not change its
loss, and its learning-rate schedule warms up, then decays with 1/sqrt(step)."""

import numpy as np
import pytest
import tensorflow as tf

from modules.model.config import ModelConfig
from modules.model.transformer import Transformer
from modules.text import words
from modules.training import trainer
from modules.training.config import TrainingConfig
from modules.training.learning_rate import InverseSquareRoot
from tests.helpers import TOY_VOCAB as VOCAB
from tests.helpers import fit_until_memorised, toy_batch

TINY = ModelConfig(
    architecture="transformer", layers=2, model_width=32, heads=4, feed_forward_width=64
)


@pytest.mark.parametrize("ids_shared", [False, True])
def test_overfits_one_batch_and_greedy_decoding_reproduces_the_targets(ids_shared):
    tf.keras.utils.set_random_seed(1)
    inputs, target_out = toy_batch()
    model = trainer.build_model(
        TINY.replace(dropout=0.0),
        TrainingConfig(learning_rate=0.005, label_smoothing=0.1, precision="float32"),
        VOCAB,
        VOCAB,
        ids_shared=ids_shared,
    )
    assert isinstance(model, Transformer)
    assert (model.encoder.embedding is model.decoder.embedding) == ids_shared
    history = fit_until_memorised(model, inputs, target_out)
    assert history["loss"][0] > 2.0
    assert history["accuracy"][-1] == 1.0


def test_padding_changes_neither_the_loss_nor_the_logits_of_real_tokens():
    tf.keras.utils.set_random_seed(2)
    inputs, target_out = toy_batch(batch=4)
    model = trainer.build_model(TINY, TrainingConfig(precision="float32"), VOCAB, VOCAB)
    padded = {k: np.pad(v, [(0, 0), (0, 5)]) for k, v in inputs.items()}
    loss = model.evaluate(inputs, target_out, verbose=0)[0]
    padded_loss = model.evaluate(padded, np.pad(target_out, [(0, 0), (0, 5)]), verbose=0)[0]
    assert padded_loss == pytest.approx(loss, rel=1e-5)
    real = target_out != words.PAD_ID
    np.testing.assert_allclose(
        model(padded).numpy()[:, : target_out.shape[1]][real],
        model(inputs).numpy()[real],
        atol=1e-4,
    )


def test_inverse_square_root_schedule_warms_up_to_the_peak_then_decays():
    schedule = InverseSquareRoot(peak=1e-3, warmup_steps=100)
    rates = [float(schedule(step)) for step in (0, 49, 99, 399, 9999)]
    np.testing.assert_allclose(rates, [1e-5, 5e-4, 1e-3, 5e-4, 1e-4], rtol=1e-5)


@pytest.mark.parametrize(
    ("architecture", "rate_after_two_steps"), [("transformer", 2e-4), ("rnn", 1e-3)]
)
def test_the_auto_schedule_warms_the_transformer_up_and_keeps_the_rnn_constant(
    architecture, rate_after_two_steps
):
    model = trainer.build_model(
        TINY.replace(architecture=architecture),
        TrainingConfig(learning_rate=1e-3, warmup_steps=10, precision="float32"),
        VOCAB,
        VOCAB,
    )
    inputs, target_out = toy_batch()
    model.fit(inputs, target_out, batch_size=4, epochs=1, verbose=0)
    # The rate of the second step: (1 + 1) / 10 of the peak while warming up.
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(rate_after_two_steps)
