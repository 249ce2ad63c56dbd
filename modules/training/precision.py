"""The Trainer's compute precision. `auto` picks, by where the model trains:

- GPUs of compute capability 8.0 and up (Ampere, Hopper, ...): mixed bfloat16, which their
  tensor cores compute natively with float32's range (no loss scaling needed);
- GPUs of compute capability 7.x (Volta, Turing): mixed float16, with dynamic loss scaling
  (float16's range is narrow: the loss is scaled up so that small gradients survive, and a
  step whose gradients overflow is skipped while the scale comes down);
- older GPUs, and CPUs without bfloat16 instructions: float32;
- CPUs with AVX-512 BF16 or AMX: mixed bfloat16, faster there at the same quality
  (docs/benchmarks.md, 1 and 12).

With several GPUs the least capable decides. Mixed policies train float32 weights; the exported
RNN stores them in the compute dtype (`trainer.serving_model`).
No GPU figure exists yet: the GPU choices follow the hardware's documented number formats.
"""

from __future__ import annotations

from pathlib import Path

BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
BFLOAT16_GPU_CAPABILITY = (8, 0)
FLOAT16_GPU_CAPABILITY = (7, 0)
# The policies whose optimizer needs loss scaling.
LOSS_SCALED = frozenset({"mixed_float16"})


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


def _gpu_choice(capabilities: list[tuple[int, int]]) -> tuple[str, str]:
    lowest = min(capabilities)
    shown = f"{lowest[0]}.{lowest[1]}"
    which = "the GPU has" if len(capabilities) == 1 else "the least capable of the GPUs has"
    if lowest >= BFLOAT16_GPU_CAPABILITY:
        return "mixed_bfloat16", f"auto: {which} compute capability {shown} (bfloat16 native)"
    if lowest >= FLOAT16_GPU_CAPABILITY:
        return "mixed_float16", (
            f"auto: {which} compute capability {shown} (float16, with dynamic loss scaling)"
        )
    return "float32", f"auto: {which} compute capability {shown} (below 7.0: no tensor cores)"


def choose(
    precision: str, flags: frozenset[str], gpu_capabilities: list[tuple[int, int]]
) -> tuple[str, str]:
    """The Keras mixed-precision policy for `precision` on a machine with these CPU `flags`
    and local GPUs of these (major, minor) compute capabilities -> (policy name, the reason,
    for the log)."""
    if precision != "auto":
        return precision, "as configured"
    if gpu_capabilities:
        return _gpu_choice(gpu_capabilities)
    native = sorted(BFLOAT16_CPU_FLAGS & flags)
    if native:
        return "mixed_bfloat16", f"auto: the CPU has {', '.join(native)}"
    return "float32", (
        f"auto: the CPU has none of {', '.join(sorted(BFLOAT16_CPU_FLAGS))}, where bfloat16 "
        "is slower"
    )


def gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each local GPU ((0, 0) where TensorFlow reports none)."""
    import tensorflow as tf

    return [
        tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)))
        for gpu in tf.config.list_physical_devices("GPU")
    ]


def for_this_machine(precision: str) -> tuple[str, str]:
    """`choose` with this machine's CPU flags and local GPUs -> (policy name, reason)."""
    return choose(precision, cpu_flags(), gpu_capabilities())
