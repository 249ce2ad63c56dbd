"""Checks a GPU set-up in one command: the GPUs, and short training runs of the RNN and the
Transformer under each precision the GPUs support, on one GPU and under MirroredStrategy
over two, on the shipped corpus.

Reports per run examples/s (after warm-up steps), the loss after the steps, the all-reduce,
and for the RNN whether the recurrent layers ran cuDNN's kernel, read from the op names of
a short profile (not from the setting). One physical GPU is split into two logical GPUs for
the MirroredStrategy runs. Without a GPU it says so, runs the CPU path briefly (float32,
one device) and exits 0. Example (about 5 minutes on one GPU):

    python -m benchmarks.gpu_check
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import tempfile
import time

from benchmarks import common

ARCHITECTURES = ("rnn", "transformer")
VOCABULARY = 5000


def gpu_details() -> list[dict]:
    """Each physical GPU's name and compute capability, as TensorFlow reports them."""
    import tensorflow as tf

    details = []
    for gpu in tf.config.list_physical_devices("GPU"):
        found = tf.config.experimental.get_device_details(gpu)
        capability = found.get("compute_capability")
        details.append(
            {
                "device": gpu.name,
                "name": found.get("device_name", "unknown"),
                "compute_capability": ".".join(map(str, capability)) if capability else None,
            }
        )
    return details


def precisions_for(capabilities: list[str | None]) -> list[str]:
    """float32, and the mixed precisions every GPU runs natively: float16 from compute
    capability 7.0, bfloat16 from 8.0 (none without a GPU)."""
    if not capabilities or None in capabilities:
        return ["float32"]
    least = min(tuple(map(int, capability.split("."))) for capability in capabilities)
    return (
        ["float32"]
        + (["mixed_float16"] if least >= (7, 0) else [])
        + (["mixed_bfloat16"] if least >= (8, 0) else [])
    )


def split_one_gpu(memory_mb: int) -> None:
    """Two logical GPUs on the only physical one (before TensorFlow initialises it)."""
    import tensorflow as tf

    (gpu,) = tf.config.list_physical_devices("GPU")
    config = tf.config.LogicalDeviceConfiguration(memory_limit=memory_mb)
    tf.config.set_logical_device_configuration(gpu, [config, config])


def corpus_dataset(pairs: int, batch: int):
    """(inputs, target_out) batches of the shipped corpus in the tutorial's word ids (the
    `VOCABULARY` most frequent words of each side), repeated without end."""
    import numpy as np
    import tensorflow as tf

    from modules.text import words

    sources, targets = zip(*common.corpus_pairs(str(common.SPA_ENG), pairs), strict=True)

    def ids(sentences) -> list[list[int]]:
        tokens = words.add_sentence_markers(words.tokenise(tf.constant(list(sentences)), 60))
        rows = [[t.decode() for t in row] for row in tokens.to_list()]
        counts = collections.Counter(
            t for row in rows for t in row if t not in words.SPECIAL_TOKENS
        )
        special = {token: index for index, token in enumerate(words.SPECIAL_TOKENS)}
        vocabulary = {
            token: index
            for index, (token, _) in enumerate(
                counts.most_common(VOCABULARY - len(special)), len(special)
            )
        }
        vocabulary.update(special)
        unknown = special[words.UNKNOWN_TOKEN]
        return [[vocabulary.get(token, unknown) for token in row] for row in rows]

    def padded(rows):
        array = np.zeros((len(rows), max(map(len, rows))), np.int32)
        for index, row in enumerate(rows):
            array[index, : len(row)] = row
        return array

    source, target = padded(ids(sources)), padded(ids(targets))
    dataset = tf.data.Dataset.from_tensor_slices(
        ({"source_ids": source, "target_in": target[:, :-1]}, target[:, 1:])
    )
    return dataset.shuffle(len(source), seed=0).repeat().batch(batch, drop_remainder=True)


def ops_in_profile(logdir: str) -> set[str]:
    """The names of every event in the XPlane traces under `logdir` (TensorFlow ops and
    GPU kernels)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    names = set()
    for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as file:
            space.ParseFromString(file.read())
        for plane in space.planes:
            names.update(metadata.name for metadata in plane.event_metadata.values())
    return names


def train_run(architecture, precision, strategy, dataset, steps, warmup, profile):
    """One run: fit `warmup` steps, then `steps` timed; with `profile`, 3 more steps under
    the profiler. -> (examples/s, loss after the steps, the profile's op names or None)."""
    import tensorflow as tf

    from modules.model.config import ModelConfig
    from modules.training import trainer
    from modules.training.config import TrainingConfig

    with strategy.scope():
        model = trainer.build_model(
            ModelConfig(architecture=architecture),
            TrainingConfig(precision=precision),
            VOCABULARY,
            VOCABULARY,
        )
    model.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    history = model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0).history
    seconds = time.perf_counter() - start
    batch = dataset.element_spec[1].shape[0]
    names = None
    if profile:
        with tempfile.TemporaryDirectory() as logdir:
            tf.profiler.experimental.start(logdir)
            model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)
            tf.profiler.experimental.stop()
            names = ops_in_profile(logdir)
    return steps * batch / seconds, float(history["loss"][-1]), names


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per run (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (5)")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (64)")
    parser.add_argument("--pairs", type=int, default=20000, help="corpus pairs used (20000)")
    parser.add_argument(
        "--logical-gpu-memory-mb",
        type=int,
        default=8192,
        help="memory of each of the two logical GPUs a single GPU is split into (8192)",
    )
    parser.add_argument("--out", help="directory for the JSON (default: benchmarks/results)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from modules.training import distribution

    gpus = gpu_details()
    if len(gpus) == 1:
        split_one_gpu(args.logical_gpu_memory_mb)
    logical = [device.name for device in tf.config.list_logical_devices("GPU")]
    if gpus:
        print(
            "GPUs: "
            + "; ".join(f"{g['name']} (compute capability {g['compute_capability']})" for g in gpus)
        )
        setups = {"1 GPU": logical[:1], "MirroredStrategy, 2 GPUs": logical[:2]}
        precisions = precisions_for([gpu["compute_capability"] for gpu in gpus])
        steps, warmup = args.steps, args.warmup
    else:
        print("No GPU: TensorFlow sees none. Running the CPU path briefly (float32, 1 device).")
        setups = {"CPU": [tf.config.list_logical_devices("CPU")[0].name]}
        precisions = ["float32"]
        steps, warmup = min(args.steps, 3), min(args.warmup, 1)

    dataset = corpus_dataset(args.pairs, args.batch_size)
    rows = []
    for setup, devices in setups.items():
        strategy = distribution.mirrored_strategy(devices)
        all_reduce = distribution.all_reduce_for(devices, len(gpus))
        for architecture in ARCHITECTURES:
            for precision in precisions:
                profile = architecture == "rnn"
                examples_per_s, loss, names = train_run(
                    architecture, precision, strategy, dataset, steps, warmup, profile
                )
                rows.append(
                    {
                        "setup": setup,
                        "architecture": architecture,
                        "precision": precision,
                        "replicas": strategy.num_replicas_in_sync,
                        "all_reduce": all_reduce,
                        "examples_per_s": examples_per_s,
                        "loss": loss,
                        "cudnn_rnn": None
                        if names is None
                        else any("CudnnRNN" in name for name in names),
                        "profiled_ops": None if names is None else len(names),
                    }
                )
                print(rows[-1], flush=True)
    common.print_table("GPU check", rows)
    settings = {
        "gpus": gpus,
        "steps": steps,
        "warmup": warmup,
        "batch_size": args.batch_size,
        "pairs": args.pairs,
    }
    common.write_results("gpu_check", settings, rows, args.out)
    return rows


if __name__ == "__main__":
    main()
