"""The encoder-decoder model with masked, token-weighted training and evaluation steps."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from modules import text
from modules.model.attention import AttentionMemory
from modules.model.decoder import Decoder
from modules.model.encoder import Encoder


class Perplexity(keras.metrics.Mean):
    """exp(mean token cross-entropy), accumulated token-weighted like the loss."""

    def result(self):
        return tf.exp(super().result())


def masked_token_losses(target_out, logits):
    """Cross-entropy per target token, zero on padding.

    target_out [batch, tgt_len], logits [batch, tgt_len, vocab] ->
    (losses [batch, tgt_len], mask [batch, tgt_len] float32).
    """
    mask = tf.cast(target_out != text.PAD_ID, tf.float32)
    losses = keras.losses.sparse_categorical_crossentropy(
        target_out, tf.cast(logits, tf.float32), from_logits=True
    )
    return losses * mask, mask


class Seq2Seq(keras.Model):
    """inputs {"source_ids": [batch, src_len], "target_in": [batch, tgt_len]} ->
    logits [batch, tgt_len, target_vocab].

    The loss is the cross-entropy averaged over the non-padding target tokens of the whole
    global batch (summed over replicas, then divided by the global token count), so the
    gradient does not depend on how the batch was split across devices.
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        *,
        embedding_dim: int,
        units: int,
        attention: str = "bahdanau",
        cell: str = "gru",
        bidirectional: bool = False,
        encoder_layers: int = 1,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = Encoder(
            source_vocab_size,
            embedding_dim,
            units,
            cell=cell,
            bidirectional=bidirectional,
            num_layers=encoder_layers,
            dropout=dropout,
        )
        self.decoder = Decoder(
            target_vocab_size, embedding_dim, units, cell=cell, attention=attention, dropout=dropout
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.perplexity_tracker = Perplexity(name="perplexity")
        # Running totals for throughput; not in `metrics`, so never reset or displayed.
        self.examples_seen = keras.metrics.Sum(name="examples_seen")
        self.target_tokens_seen = keras.metrics.Sum(name="target_tokens_seen")

    def encode(self, source_ids, training=None) -> tuple[AttentionMemory, list]:
        """source_ids [batch, src_len] -> (the decoder's memory of the sentence, with its
        attention keys computed once; the decoder's initial state, each [batch, units])."""
        outputs, state = self.encoder(source_ids, training=training)
        return self.decoder.memory(outputs, source_ids != text.PAD_ID), state

    def call(self, inputs, training=None):
        memory, state = self.encode(inputs["source_ids"], training)
        logits, _, _ = self.decoder(inputs["target_in"], memory, state, training=training)
        return logits

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.perplexity_tracker]

    def targets_and_logits(self, inputs, target_out, training=None):
        """The real (non-padding) target tokens and their logits, computed there only, so
        that the output layer, the largest matmul, skips the padding:
        -> (targets [tokens], logits [tokens, vocab])."""
        memory, state = self.encode(inputs["source_ids"], training)
        vectors, _, _ = self.decoder.attention_vectors(
            inputs["target_in"], memory, state, training=training
        )
        real = target_out != text.PAD_ID
        targets = tf.boolean_mask(target_out, real)
        return targets, self.decoder.logits(tf.boolean_mask(vectors, real), training)

    def _loss_and_update_metrics(self, targets, logits):
        """targets [tokens], logits [tokens, vocab] -> this replica's share of the loss."""
        losses = keras.losses.sparse_categorical_crossentropy(
            targets, tf.cast(logits, tf.float32), from_logits=True
        )
        tokens = tf.cast(tf.size(targets), tf.float32)
        replica = tf.distribute.get_replica_context()
        global_tokens = replica.all_reduce(tf.distribute.ReduceOp.SUM, tokens)
        loss = tf.reduce_sum(losses) / tf.maximum(global_tokens, 1.0)
        predicted = tf.argmax(logits, axis=-1, output_type=targets.dtype)
        correct = tf.cast(predicted == targets, tf.float32)
        token_mean_loss = tf.math.divide_no_nan(tf.reduce_sum(losses), tokens)
        self.loss_tracker.update_state(token_mean_loss, sample_weight=tokens)
        self.perplexity_tracker.update_state(token_mean_loss, sample_weight=tokens)
        self.accuracy_tracker.update_state(
            tf.math.divide_no_nan(tf.reduce_sum(correct), tokens), sample_weight=tokens
        )
        return loss

    def train_step(self, data):
        inputs, target_out = data
        with tf.GradientTape() as tape:
            loss = self._loss_and_update_metrics(
                *self.targets_and_logits(inputs, target_out, training=True)
            )
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        self.examples_seen.update_state(tf.cast(tf.shape(target_out)[0], tf.float32))
        self.target_tokens_seen.update_state(tf.math.count_nonzero(target_out, dtype=tf.float32))
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        inputs, target_out = data
        self._loss_and_update_metrics(*self.targets_and_logits(inputs, target_out, training=False))
        return {metric.name: metric.result() for metric in self.metrics}
