"""Chooses the tf.distribute strategy for this process."""

from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging


def cluster_workers() -> list[str]:
    """The worker addresses named in TF_CONFIG (empty when it is unset)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    return list(tf_config.get("cluster", {}).get("worker", []))


def local_devices() -> list[str]:
    """The devices local replicas run on: every GPU, else every logical CPU device."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def choose_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG names several workers, else
    MirroredStrategy over every local GPU (or every logical CPU device when there is no
    GPU: one replica unless logical CPU devices were configured)."""
    workers = cluster_workers()
    if len(workers) > 1:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = tf.distribute.MirroredStrategy(local_devices())
    logging.info(
        "Distribution: %s with %d replica(s) in sync",
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
    )
    return strategy
