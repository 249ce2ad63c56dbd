"""What every benchmark shares: the environment it ran in, timing, a table and a JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pipeline  # noqa: F401  (sets the process environment before TensorFlow is imported)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
SPA_ENG = PROJECT_ROOT / "data" / "spa-eng" / "spa.txt.gz"  # the whole corpus, shipped
# The instruction sets that decide a CPU's matmul speed (two "AMD EPYC"s here differ in them).
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def environment() -> dict:
    """CPU (with its vector instruction sets), cores, memory, GPUs and library versions of
    this machine."""
    import apache_beam
    import tensorflow as tf
    import tfx

    from modules.training.precision import cpu_flags

    cpu = platform.processor() or "unknown"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        cpu = names[0] if names else cpu
    flags = cpu_flags()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cpu_vector_flags": [flag for flag in VECTOR_FLAGS if flag in flags],
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "gpus": _gpu_names(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tfx": tfx.__version__,
        "apache_beam": apache_beam.__version__,
    }


def _gpu_names() -> list[str]:
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()]


def run_without_teardown(main: Callable[[], None]) -> None:
    """Runs `main`, then exits at once: with a SavedModel and a Keras model loaded in one
    process, TensorFlow 2.16 segfaults in its C++ teardown after every Python exit handler
    has run, and the results are written by then."""
    main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of `run()` over `repeats` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(title: str, rows: list[dict]) -> None:
    """Prints rows (dicts with the same keys) as an aligned text table."""
    print(f"\n{title}")
    if not rows:
        return
    headers = list(rows[0])
    cells = [[_format(row[h]) for h in headers] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, list):
        return " ".join(_format(item) for item in value)
    return str(value)


def write_results(name: str, settings: dict, rows: list[dict], out_dir: str | None) -> Path:
    """Writes {environment, settings, rows} to <out_dir>/<name>.json and returns the path."""
    directory = Path(out_dir) if out_dir else RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    payload = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "environment": environment(),
        "settings": settings,
        "rows": rows,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nResults written to {path}")
    return path


def corpus_pairs(path: str, limit: int, direction: str = "spa-eng") -> list[tuple[str, str]]:
    """The first `limit` accepted (source, target) pairs of a corpus file (.txt or .gz)."""
    import gzip

    from components.tsv_example_gen.parsing import SentencePair, iter_raw_lines, parse_line

    opener = gzip.open if str(path).endswith(".gz") else open
    pairs = []
    with opener(path, "rb") as stream:
        for raw in iter_raw_lines(stream):
            parsed = parse_line(raw, source_language=direction.split("-")[0], max_line_chars=1000)
            if isinstance(parsed, SentencePair):
                pairs.append((parsed.source, parsed.target))
            if len(pairs) == limit:
                break
    return pairs


def default_corpus() -> str:
    """The whole spa-eng corpus shipped in data/."""
    return str(SPA_ENG)


def test_split(examples_uri: str) -> list[tuple[str, str]]:
    """The (source, reference) pairs of a pipeline run's test split, sorted by source."""
    return split_pairs(examples_uri, "test")


def split_pairs(examples_uri: str, split: str) -> list[tuple[str, str]]:
    """The (source, target) pairs of a split of a pipeline run's examples, sorted by source,
    so that every run and every order Beam wrote the shards in gives the same list."""
    import tensorflow as tf

    from modules import signatures

    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    pairs = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(record).features.feature
        pairs.append(
            tuple(
                feature[key].bytes_list.value[0].decode("utf-8")
                for key in (signatures.SOURCE_FEATURE, signatures.TARGET_FEATURE)
            )
        )
    return sorted(pairs)
