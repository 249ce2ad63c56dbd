"""`precision: auto` picks mixed bfloat16 only on a CPU with bfloat16 instructions."""

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
    policy, reason = precision.choose("auto", precision.cpu_flags(str(cpuinfo)), gpus=0)
    assert policy == expected
    assert reason.startswith("auto: ")


def test_auto_keeps_float32_on_a_gpu_and_an_explicit_choice_wins():
    flags = frozenset({"avx512_bf16"})
    assert precision.choose("auto", flags, gpus=1)[0] == "float32"
    assert precision.choose("float32", flags, gpus=0) == ("float32", "as configured")
    assert precision.choose("mixed_bfloat16", frozenset(), gpus=0)[0] == "mixed_bfloat16"


def test_unreadable_cpuinfo_means_no_flags(tmp_path):
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()
