"""What every architecture shares: masked, token-weighted training and evaluation steps."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from modules.model.losses import smoothed_token_losses
from modules.text import words


def require_one_vocabulary(source_vocab_size: int, target_vocab_size: int) -> None:
    """Refuses to share embeddings between source and target ids of different vocabularies."""
    if source_vocab_size != target_vocab_size:
        raise ValueError(
            f"shared embeddings need one vocabulary: {source_vocab_size} source and "
            f"{target_vocab_size} target ids"
        )


class Perplexity(keras.metrics.Mean):
    """exp(mean token cross-entropy), accumulated token-weighted like the loss."""

    def result(self):
        return tf.exp(super().result())


class TranslationModel(keras.Model):
    """inputs {"source_ids": [batch, src_len], "target_in": [batch, tgt_len]} ->
    logits [batch, tgt_len, target_vocab].

    A subclass sets `self.decoder` and defines `encode`; the decoder has
    `output_vectors(target_in, memory, state, training)` -> (vectors [batch, tgt_len,
    width], attention [batch, tgt_len, src_len], state), `logits(vectors)` (token by
    token: training runs it on the real target tokens only) and the one-token `step` that
    `modules.serving.decoding` searches with.

    The objective is the (label-smoothed, see `compile`) cross-entropy averaged over the
    non-padding target tokens of the whole global batch (summed over replicas, then divided
    by the global token count), so the gradient does not depend on how the batch was split
    across devices. The `loss` and `perplexity` metrics report the plain cross-entropy, so
    that they compare across smoothing settings.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.perplexity_tracker = Perplexity(name="perplexity")
        # Running totals for throughput; not in `metrics`, so never reset or displayed.
        self.examples_seen = keras.metrics.Sum(name="examples_seen")
        self.target_tokens_seen = keras.metrics.Sum(name="target_tokens_seen")
        self.label_smoothing = 0.0

    def compile(self, optimizer, label_smoothing: float = 0.0, **kwargs):
        """Keras' compile, plus the objective's label smoothing in [0, 1)."""
        super().compile(optimizer=optimizer, **kwargs)
        self.label_smoothing = label_smoothing

    def encode(self, source_ids, training=None) -> tuple[object, list]:
        """source_ids [batch, src_len] -> (the decoder's memory of each sentence, set up
        once, with a `mask` [batch, src_len]; the decoder's initial state, a list of
        [batch, ...] tensors)."""
        raise NotImplementedError

    def call(self, inputs, training=None):
        memory, state = self.encode(inputs["source_ids"], training)
        vectors, _, _ = self.decoder.output_vectors(
            inputs["target_in"], memory, state, training=training
        )
        return self.decoder.logits(vectors, training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.perplexity_tracker]

    def targets_and_logits(self, inputs, target_out, training=None):
        """The real (non-padding) target tokens and their logits, computed there only, so
        that the output layer, the largest matmul, skips the padding:
        -> (targets [tokens], logits [tokens, vocab])."""
        memory, state = self.encode(inputs["source_ids"], training)
        vectors, _, _ = self.decoder.output_vectors(
            inputs["target_in"], memory, state, training=training
        )
        real = target_out != words.PAD_ID
        targets = tf.boolean_mask(target_out, real)
        return targets, self.decoder.logits(tf.boolean_mask(vectors, real), training)

    def _loss_and_update_metrics(self, targets, logits):
        """targets [tokens], logits [tokens, vocab] -> this replica's share of the objective."""
        objective, cross_entropy = smoothed_token_losses(targets, logits, self.label_smoothing)
        tokens = tf.cast(tf.size(targets), tf.float32)
        replica = tf.distribute.get_replica_context()
        global_tokens = replica.all_reduce(tf.distribute.ReduceOp.SUM, tokens)
        loss = tf.reduce_sum(objective) / tf.maximum(global_tokens, 1.0)
        predicted = tf.argmax(logits, axis=-1, output_type=targets.dtype)
        correct = tf.cast(predicted == targets, tf.float32)
        token_mean_loss = tf.math.divide_no_nan(tf.reduce_sum(cross_entropy), tokens)
        self.loss_tracker.update_state(token_mean_loss, sample_weight=tokens)
        self.perplexity_tracker.update_state(token_mean_loss, sample_weight=tokens)
        self.accuracy_tracker.update_state(
            tf.math.divide_no_nan(tf.reduce_sum(correct), tokens), sample_weight=tokens
        )
        return loss

    def train_step(self, data):
        inputs, target_out = data
        scaled = isinstance(self.optimizer, keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            loss = self._loss_and_update_metrics(
                *self.targets_and_logits(inputs, target_out, training=True)
            )
            if scaled:  # mixed float16: small gradients would underflow unscaled
                loss = self.optimizer.get_scaled_loss(loss)
        gradients = tape.gradient(loss, self.trainable_variables)
        if scaled:
            gradients = self.optimizer.get_unscaled_gradients(gradients)
        # The embeddings' gradients arrive as IndexedSlices; Keras' Adam would deduplicate
        # them and then still decay every row of its slots. One dense update is the same
        # arithmetic and cheaper.
        gradients = [tf.convert_to_tensor(gradient) for gradient in gradients]
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables, strict=True))
        self.examples_seen.update_state(tf.cast(tf.shape(target_out)[0], tf.float32))
        self.target_tokens_seen.update_state(tf.math.count_nonzero(target_out, dtype=tf.float32))
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        inputs, target_out = data
        self._loss_and_update_metrics(*self.targets_and_logits(inputs, target_out, training=False))
        return {metric.name: metric.result() for metric in self.metrics}
