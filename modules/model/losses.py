"""Token losses: the training objective (label-smoothed) and the plain cross-entropy."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from modules import text


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


def smoothed_token_losses(targets, logits, label_smoothing: float):
    """The training objective and the plain cross-entropy per token.

    targets [tokens], logits [tokens, vocab] -> (objective [tokens], cross_entropy [tokens]).
    With label smoothing e the target distribution puts 1 - e on the true token and spreads
    e uniformly over the vocabulary (fairseq's and JoeyNMT's form): objective =
    (1 - e) * cross_entropy + e * mean over the vocabulary of -log p.
    """
    logits = tf.cast(logits, tf.float32)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    if not label_smoothing:
        return cross_entropy, cross_entropy
    # mean_v(-log p_v) = logsumexp(logits) - mean_v(logits), without a [tokens, vocab] log p.
    uniform = tf.reduce_logsumexp(logits, axis=-1) - tf.reduce_mean(logits, axis=-1)
    return (1.0 - label_smoothing) * cross_entropy + label_smoothing * uniform, cross_entropy
