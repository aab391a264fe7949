"""``result_shape`` with many calls: the container stacks the payloads through block
files (``<func>_payload/blocks/block_<k>.h5``), so that no virtual dataset maps more than
``VDS_BLOCK`` sources."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from funcs import three_values

import acme.storage.containers
from acme import ParallelMap, ParallelMapError


def fails_at_5_and_17(x):
    if x in (5, 17):
        raise ValueError(f"call {x} fails")
    return three_values(x)


def test_blocks_keep_the_values_and_move_with_the_directory(tmp_path, client, monkeypatch):
    monkeypatch.setattr(acme.storage.containers, "VDS_BLOCK", 8)
    out = tmp_path / "out"
    pmap = ParallelMap(fails_at_5_and_17, list(range(30)), output_dir=str(out),
                       result_shape=(3, None), verbose=False)
    with pytest.raises(ParallelMapError), pmap:
        pmap.compute()
    blocks = out / "fails_at_5_and_17_payload" / "blocks"
    assert sorted(os.listdir(blocks)) == [f"block_{k}.h5" for k in range(4)]
    moved = tmp_path / "moved"
    out.rename(moved)
    expected = np.array([np.arange(3.0) + x if x not in (5, 17) else np.zeros(3)
                         for x in range(30)]).T
    with h5py.File(moved / "fails_at_5_and_17.h5", "r") as h5f:
        data = h5f["result_0"]
        assert data.shape == (3, 30)
        assert np.array_equal(data[()], expected)
        # four sources (the blocks), each mapping at most 8 payloads
        sources = data.virtual_sources()
        assert sorted(s.file_name for s in sources) == [
            f"fails_at_5_and_17_payload/blocks/block_{k}.h5" for k in range(4)]
        assert h5f.attrs["failed_tasks"].tolist() == [5, 17]
        assert h5f["comp_3/result_1"][()] == 6  # further values stay linked per call
    with h5py.File(moved / "fails_at_5_and_17_payload" / "blocks" / "block_3.h5",
                   "r") as h5f:
        assert len(h5f["result_0"].virtual_sources()) == 6  # calls 24-29


def test_few_calls_keep_one_level(tmp_path, client):
    out = tmp_path / "out"
    with ParallelMap(three_values, list(range(12)), output_dir=str(out),
                     result_shape=(3, None), verbose=False) as pmap:
        pmap.compute()
    assert not (out / "three_values_payload" / "blocks").exists()
    with h5py.File(pmap.results_container, "r") as h5f:
        assert len(h5f["result_0"].virtual_sources()) == 12
