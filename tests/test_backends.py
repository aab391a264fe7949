"""Every storage mode through every backend: ``compute(debug=True)`` and a local dask
cluster give the same returned values, files, container layout and run record (the real
SLURM runs a subset: ``slurm/test_slurm_backends.py``).

The expected outcome of each case is built from a serial loop (``backend_cases.expected``),
never from another run, so a backend cannot agree with another one on a wrong result.
One difference is by design and expected explicitly: in debug mode a failing call raises
its own exception and the run stops there (state "interrupted", later calls missing),
where the other backends run every call and raise ``ParallelMapError`` (state "failed").
"""

from __future__ import annotations

import os

import pytest
from backend_cases import CASES, expected, observe

BACKENDS = ["debug", "dask"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES)
def test_same_results_on_every_backend(request, in_tmp, case, backend):
    if backend == "dask":
        request.getfixturevalue("client")  # the session's LocalCluster, default client
    out = in_tmp / "out"
    seen = observe(CASES[case], out, debug=backend == "debug")
    assert seen == expected(CASES[case], debug=backend == "debug")
    if not CASES[case].writes_files:
        assert os.listdir(in_tmp) == []  # in memory: no file anywhere
