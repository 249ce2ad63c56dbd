"""The Trainer's compute precision. `auto` picks mixed bfloat16 (bfloat16 compute, float32
weights) only where the CPU has bfloat16 instructions (AVX-512 BF16 or AMX): there it trains
faster at the same quality (docs/benchmarks.md, 1 and 12); elsewhere it is slower, and on a
GPU it is not measured, so both keep float32."""

from __future__ import annotations

from pathlib import Path

BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of the first CPU in `cpuinfo` (none where it cannot be read,
    as on a system without /proc)."""
    try:
        lines = Path(cpuinfo).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return frozenset()
    for line in lines:
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def choose(precision: str, flags: frozenset[str], gpus: int) -> tuple[str, str]:
    """The Keras mixed-precision policy for `precision` on a machine with these CPU `flags`
    and `gpus` local GPUs -> (policy name, the reason, for the log)."""
    if precision != "auto":
        return precision, "as configured"
    if gpus:
        return "float32", "auto: a GPU is present (mixed precision is not measured on GPUs)"
    native = sorted(BFLOAT16_CPU_FLAGS & flags)
    if native:
        return "mixed_bfloat16", f"auto: the CPU has {', '.join(native)}"
    return "float32", (
        f"auto: the CPU has none of {', '.join(sorted(BFLOAT16_CPU_FLAGS))}, where bfloat16 "
        "is slower"
    )


def for_this_machine(precision: str) -> tuple[str, str]:
    """`choose` with this machine's CPU flags and local GPUs -> (policy name, reason)."""
    import tensorflow as tf

    return choose(precision, cpu_flags(), len(tf.config.list_physical_devices("GPU")))
