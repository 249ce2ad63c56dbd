"""Trainer step throughput and hardware efficiency: project model vs the tutorial's loop.

Every contender trains on the same batches: sentence lengths of the corpus's first 30,000
pairs (the tutorial's `num_examples`), padded to the longest (the tutorial's
`pad_sequences`), random token ids. Each contender's step is a tf.function called once per
batch, as the tutorial's loop and Keras' `fit` call theirs. The contenders take turns: each
round times every contender's steps once, so a noisy neighbour slows all of them alike.
Reports, over the rounds, the median of each round's median step time as examples/s and
target tokens/s, the median of the per-round ratios to the first contender, model FLOPs per
example from the layer shapes, and the fraction of a matmul peak measured in the same run. Example:

    python -m benchmarks.trainer_throughput --sizes tutorial default --rounds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

from benchmarks import common

SIZES = {  # embedding, units, vocabulary, batch
    "tutorial": (256, 1024, 5000, 64),
    "default": (128, 256, 5000, 64),
    "smoke": (16, 32, 100, 8),
}


@dataclasses.dataclass(frozen=True)
class Batches:
    source: np.ndarray  # int64 [steps, batch, src_len], 0 = padding
    target: np.ndarray  # int64 [steps, batch, tgt_len] with start/end markers

    @property
    def source_tokens_per_batch(self) -> float:
        """Real source tokens (everything that is not padding)."""
        return float(np.count_nonzero(self.source)) / len(self.source)

    @property
    def target_tokens_per_batch(self) -> float:
        """Predicted tokens (everything after [START] that is not padding)."""
        return float(np.count_nonzero(self.target[:, :, 1:])) / len(self.target)


def corpus_lengths(corpus: str, pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Token counts with [START]/[END] of the corpus's first `pairs` (source, target)."""
    import tensorflow as tf

    from modules.text import words

    sources, targets = zip(*common.corpus_pairs(corpus, pairs), strict=True)
    lengths = [
        words.add_sentence_markers(words.tokenise(tf.constant(side), 1000)).row_lengths().numpy()
        for side in (list(sources), list(targets))
    ]
    return lengths[0], lengths[1]


def make_batches(lengths, vocab: int, batch: int, steps: int, seed: int = 0) -> Batches:
    source_lengths, target_lengths = lengths
    rng = np.random.default_rng(seed)

    def padded(lengths_of_rows: np.ndarray, max_length: int) -> np.ndarray:
        ids = rng.integers(4, vocab, size=(steps, batch, max_length))
        positions = np.arange(max_length)
        ids[positions >= lengths_of_rows[..., None]] = 0
        return ids

    rows = rng.integers(0, len(source_lengths), size=(steps, batch))
    return Batches(
        padded(source_lengths[rows], int(source_lengths.max())),
        padded(target_lengths[rows], int(target_lengths.max())),
    )


def project_flops(e: int, u: int, v: int, s: int, t: int, real_s: float, real_t: float) -> float:
    """Training FLOPs per example of modules/model (GRU, Bahdanau, Luong attention vector):
    3x the forward multiply-adds x 2, over padded lengths s (source) and t (target in), but
    the GRUs, the attention vector and the output layer only over the real tokens (real_s
    source and real_t target tokens per example on average)."""
    gru = 2 * 3 * (e * u + u * u)
    forward = (
        real_s * gru  # encoder, padding skipped
        + real_t * gru  # decoder, padding skipped
        + s * 2 * u * u  # attention keys
        + t * 2 * u * u  # attention queries
        + t * s * 2 * (2 * u)  # scores (v . tanh) and context
        + real_t * 2 * (2 * u) * u  # attention vector W_c [c; h], padding skipped
        + real_t * 2 * u * v  # output logits, padding skipped
    )
    return 3.0 * forward


def tutorial_flops(e: int, u: int, v: int, s: int, t: int) -> float:
    """The same count for the tutorial's decoder: [context; embedding] into the GRU."""
    forward = (
        s * 2 * 3 * (e * u + u * u)
        + t * 2 * 3 * ((e + u) * u + u * u)
        + t * s * 2 * u * u  # W1 on the encoder outputs, recomputed at every step
        + t * 2 * u * u
        + t * s * 2 * (2 * u)
        + t * 2 * u * v
    )
    return 3.0 * forward


def matmul_peak_flops(dtype: str, n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n x n matmul in a tf.function: this machine's attainable peak."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.linalg.matmul(x, x))
    seconds = common.median_seconds(lambda: matmul(a).numpy(), repeats)
    return 2 * n**3 / seconds


def time_steps(train_step, batches: Batches, warmup: int = 2) -> float:
    """Median seconds per step over the batches (after `warmup` untimed steps)."""
    for step in range(warmup):
        train_step(batches.source[step], batches.target[step])
    times = []
    for source, target in zip(batches.source[warmup:], batches.target[warmup:], strict=True):
        start = time.perf_counter()
        train_step(source, target)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def tutorial_step(e: int, u: int, v: int):
    from benchmarks.tutorial_model import TutorialSeq2Seq

    model = TutorialSeq2Seq(v, e, u)
    return lambda source, target: float(model.train_step(source, target))


def project_step(e: int, u: int, v: int, precision: str):
    import tensorflow as tf

    from modules.model.config import ModelConfig
    from modules.training import trainer
    from modules.training.config import TrainingConfig

    model_config = ModelConfig(architecture="rnn", embedding_dim=e, units=u)
    model = trainer.build_model(model_config, TrainingConfig(precision=precision), v, v)

    # The step as `fit` runs it: `train_step` in a tf.function. (`train_on_batch` wraps it
    # in ~15 ms of Python per call at the default sizes, which the Trainer never pays.)
    train_step = tf.function(model.train_step)

    def step(source, target):
        inputs = {"source_ids": source, "target_in": target[:, :-1]}
        return train_step((inputs, target[:, 1:]))

    return step


CONTENDERS = {  # name -> Keras mixed-precision policy of the project model (None: tutorial)
    "tutorial per-token loop": None,
    "project": "float32",
    "project + bfloat16": "mixed_bfloat16",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tutorial", "default"], choices=SIZES)
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--steps", type=int, default=10, help="timed steps a round [%(default)s]")
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns of every contender [%(default)s]"
    )
    parser.add_argument("--corpus", default=common.default_corpus())
    parser.add_argument("--pairs", type=int, default=30000)
    parser.add_argument("--out", help="results directory [benchmarks/results]")
    args = parser.parse_args(argv)

    lengths = corpus_lengths(args.corpus, args.pairs)
    peaks = {dtype: matmul_peak_flops(dtype) for dtype in ("float32", "bfloat16")}
    print(
        f"Matmul peak: {peaks['float32'] / 1e9:.0f} GFLOP/s float32, "
        f"{peaks['bfloat16'] / 1e9:.0f} GFLOP/s bfloat16",
        flush=True,
    )
    rows = []
    for size in args.sizes:
        e, u, v, b = SIZES[size]
        batches = make_batches(lengths, v, b, args.steps + 2)
        s, t = batches.source.shape[2], batches.target.shape[2] - 1
        contenders = {}  # name -> (train step, FLOPs per example, peak dtype)
        for name in args.contenders:
            policy = CONTENDERS[name]
            if policy is None:
                contenders[name] = (
                    tutorial_step(e, u, v),
                    tutorial_flops(e, u, v, s, t),
                    "float32",
                )
            else:
                real_s = batches.source_tokens_per_batch / b
                real_t = batches.target_tokens_per_batch / b
                flops = project_flops(e, u, v, s, t, real_s, real_t)
                contenders[name] = (
                    project_step(e, u, v, policy),
                    flops,
                    policy.removeprefix("mixed_"),
                )
        seconds = {name: [] for name in contenders}
        for round_number in range(1, args.rounds + 1):
            for name, (step, _, _) in contenders.items():
                seconds[name].append(time_steps(step, batches))
                print(
                    f"{size} sizes (emb {e}, units {u}, vocab {v}), round {round_number}: "
                    f"{name} {b / seconds[name][-1]:.1f} examples/s",
                    flush=True,
                )
        baseline = seconds[args.contenders[0]]
        for name, (_, flops, peak) in contenders.items():
            median = statistics.median(seconds[name])
            examples_per_s = b / median
            rows.append(
                {
                    "sizes": size,
                    "contender": name,
                    "step_s": median,
                    "examples_per_s": examples_per_s,
                    "target_tokens_per_s": batches.target_tokens_per_batch / median,
                    "vs_first": statistics.median(
                        first / mine for first, mine in zip(baseline, seconds[name], strict=True)
                    ),
                    "gflops_per_example": flops / 1e9,
                    "peak_fraction": flops * examples_per_s / peaks[peak],
                    "examples_per_s_by_round": [b / seconds_ for seconds_ in seconds[name]],
                }
            )
    common.print_table("Trainer step throughput (median step)", rows)
    settings = {
        "corpus": args.corpus,
        "pairs": args.pairs,
        "timed_steps": args.steps,
        "rounds": args.rounds,
        "sizes": {
            name: dict(zip(("embedding", "units", "vocab", "batch"), SIZES[name], strict=True))
            for name in args.sizes
        },
        "matmul_peak_gflops": {k: v / 1e9 for k, v in peaks.items()},
    }
    common.write_results("trainer_throughput", settings, rows, args.out)


if __name__ == "__main__":
    main()
