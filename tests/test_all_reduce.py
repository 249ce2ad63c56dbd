"""Which all-reduce MirroredStrategy gets, by its devices (modules/training/distribution.py)."""

import pytest

from modules.training.distribution import all_reduce_for

GPU = "/job:localhost/replica:0/task:0/device:GPU:{}"
CPU = "/job:localhost/replica:0/task:0/device:CPU:{}"


@pytest.mark.parametrize(
    ("devices", "physical_gpus", "expected"),
    [
        ([CPU.format(0)], 0, "ReductionToOneDevice"),
        ([CPU.format(0), CPU.format(1)], 0, "ReductionToOneDevice"),
        ([GPU.format(0)], 1, "NcclAllReduce"),
        ([GPU.format(i) for i in range(4)], 4, "NcclAllReduce"),
        ([GPU.format(0), GPU.format(1)], 1, "HierarchicalCopyAllReduce"),  # one GPU, split
    ],
)
def test_nccl_over_separate_gpus_hierarchical_copy_over_a_split_one(
    devices, physical_gpus, expected
):
    assert all_reduce_for(devices, physical_gpus) == expected
