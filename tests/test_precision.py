"""`precision: auto` picks by the GPUs' compute capability, or the CPU's bfloat16
instructions."""

import pytest

from modules.training import precision

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 {extra}
bogomips\t: 4792.79

processor\t: 1
flags\t\t: fpu sse2 avx2 {extra}
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("avx512f avx512_bf16", "mixed_bfloat16"),
        ("amx_bf16 amx_tile", "mixed_bfloat16"),
        ("avx512f avx512_vnni", "float32"),
        ("", "float32"),
    ],
)
def test_auto_follows_the_cpu_flags_read_from_cpuinfo(tmp_path, extra, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    policy, reason = precision.choose("auto", precision.cpu_flags(str(cpuinfo)), [])
    assert policy == expected
    assert reason.startswith("auto: ")


@pytest.mark.parametrize(
    ("capabilities", "expected", "said"),
    [
        ([(9, 0)], "mixed_bfloat16", "the GPU has compute capability 9.0 (bfloat16 native)"),
        ([(8, 0), (8, 6)], "mixed_bfloat16", "the least capable of the GPUs has"),
        ([(7, 5)], "mixed_float16", "compute capability 7.5 (float16, with dynamic loss"),
        ([(8, 0), (7, 0)], "mixed_float16", "the least capable of the GPUs has compute"),
        ([(6, 1)], "float32", "compute capability 6.1 (below 7.0: no tensor cores)"),
    ],
)
def test_auto_on_gpus_follows_the_least_capable_ones_compute_capability(
    capabilities, expected, said
):
    # The CPU's flags do not matter once there is a GPU.
    policy, reason = precision.choose("auto", frozenset({"avx512_bf16"}), capabilities)
    assert policy == expected and said in reason and reason.startswith("auto: ")


def test_an_explicit_choice_wins():
    flags = frozenset({"avx512_bf16"})
    assert precision.choose("float32", flags, [(9, 0)]) == ("float32", "as configured")
    assert precision.choose("mixed_bfloat16", frozenset(), [])[0] == "mixed_bfloat16"
    assert precision.choose("mixed_float16", frozenset(), [])[0] == "mixed_float16"


def test_unreadable_cpuinfo_means_no_flags(tmp_path):
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()
