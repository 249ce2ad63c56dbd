"""Chooses the tf.distribute strategy for this process."""

from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging


def _tf_config() -> dict:
    return json.loads(os.environ.get("TF_CONFIG") or "{}")


def cluster_workers() -> list[str]:
    """The worker addresses named in TF_CONFIG (empty when it is unset)."""
    return list(_tf_config().get("cluster", {}).get("worker", []))


def is_chief() -> bool:
    """Whether this process writes the outputs: true unless TF_CONFIG makes it a worker
    other than the first (or any worker, when the cluster has a separate chief)."""
    tf_config = _tf_config()
    task = tf_config.get("task", {})
    task_type = task.get("type", "chief")
    if task_type == "worker" and "chief" not in tf_config.get("cluster", {}):
        return task.get("index", 0) == 0
    return task_type == "chief"


def output_directory(path: str) -> str:
    """`path` on the chief; elsewhere a scratch directory beside it. Every worker of a
    MultiWorkerMirroredStrategy must save (saving runs collective ops), but only the
    chief's copy is kept."""
    if is_chief():
        return path
    task = _tf_config()["task"]
    return f"{path.rstrip('/')}-scratch-{task['type']}-{task.get('index', 0)}"


def local_devices() -> list[str]:
    """The devices local replicas run on: every GPU, else every logical CPU device."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def all_reduce_for(devices: list[str], physical_gpus: int) -> str:
    """The name of the tf.distribute all-reduce for MirroredStrategy over `devices`:
    NcclAllReduce over GPUs that are each their own physical GPU (NCCL's ring over NVLink or
    PCIe), HierarchicalCopyAllReduce where several logical GPUs share one (NCCL refuses a
    device twice), ReductionToOneDevice on CPUs."""
    gpus = [device for device in devices if "GPU" in device.upper().rpartition("/")[2]]
    if not gpus:
        return "ReductionToOneDevice"
    return "NcclAllReduce" if len(gpus) <= physical_gpus else "HierarchicalCopyAllReduce"


def mirrored_strategy(devices: list[str]) -> tf.distribute.MirroredStrategy:
    """MirroredStrategy over `devices` with the all-reduce of `all_reduce_for`, logged."""
    name = all_reduce_for(devices, len(tf.config.list_physical_devices("GPU")))
    logging.info("All-reduce: %s over %s", name, ", ".join(devices))
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=getattr(tf.distribute, name)())


def choose_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG names several workers, else
    MirroredStrategy over every local GPU (or every logical CPU device when there is no
    GPU) when there are several, else the default strategy on the one device.

    One device gets no MirroredStrategy: it would feed the model through a
    MultiDeviceIterator, whose per-device datasets keep tf.data's autotuning, and every
    iterator that Keras destroys (one an epoch, one an evaluation) would then wait for its
    autotuning thread's next wake-up, up to a minute with the process idle."""
    if len(cluster_workers()) > 1:
        # Before local_devices(), which starts TensorFlow's context.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif len(devices := local_devices()) > 1:
        strategy = mirrored_strategy(devices)
    else:
        strategy = tf.distribute.get_strategy()
    logging.info(
        "Distribution: %s with %d replica(s) in sync",
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
    )
    return strategy
