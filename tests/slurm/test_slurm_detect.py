"""What acme.clusters.detect reads from the real local SLURM (see setup_slurm.sh)."""

from __future__ import annotations

import pytest

from acme.clusters.detect import (
    SLURMCommandError,
    choose_partition,
    default_partition,
    partition_default_memory,
    partition_max_cpus,
    partition_memory_limit,
    run_slurm_command,
    slurm_available,
    slurm_partitions,
)

pytestmark = pytest.mark.slurm


def test_controller_answers():
    assert slurm_available()
    assert slurm_partitions() == ["debug", "8GBXS", "small"]
    assert default_partition() == "debug"


def test_partition_limits(node_memory_mb):
    assert partition_memory_limit("small") == 2000
    assert partition_memory_limit("8GBXS", n_cores=4) == 8000
    assert partition_memory_limit("debug") == node_memory_mb  # no limit: the node's memory
    assert partition_default_memory("debug", n_cores=2) == 2048  # DefMemPerCPU=1024
    assert partition_max_cpus("debug") == 8


@pytest.mark.parametrize("mem_gb, expected", [(0.5, "small"), (1.9, "small"),
                                              (2.5, "8GBXS"), (8, "8GBXS"), (12, "debug")])
def test_choose_smallest_sufficient_partition(mem_gb, expected):
    assert choose_partition(mem_gb) == expected


def test_choose_partition_respects_candidates_and_cushion():
    assert choose_partition(1.95, mem_cushion=100) == "8GBXS"
    assert choose_partition(1, candidates=["debug", "8GBXS"]) == "8GBXS"
    with pytest.raises(ValueError, match="No SLURM partition offers 10000 GB"):
        choose_partition(10000)
    with pytest.raises(ValueError, match="`mem_gb` has to be a positive number"):
        choose_partition(0)


def test_failed_command_reports_everything():
    with pytest.raises(SLURMCommandError) as info:
        run_slurm_command(["scontrol", "show", "partition", "nope"])
    err = info.value
    assert err.cmd == ["scontrol", "show", "partition", "nope"]
    assert err.returncode == 1
    assert "Partition nope not found" in err.stdout  # scontrol reports on stdout
    assert "exited with code 1" in str(err) and "stderr:" in str(err)
    assert isinstance(err, OSError)
