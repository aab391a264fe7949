"""The first example of the README, unchanged, with every default: no client, so the run
starts its own cluster (SLURM workers when a SLURM controller answers, else a local one).

Run it from the directory that should receive the results::

    python /path/to/examples/readme_example.py

It writes ``ACME_<timestamp>/`` into the current directory, reads the four values back
from ``f.h5``, checks them and prints ``README example: OK``.
"""

from __future__ import annotations

import h5py

from acme import ParallelMap


def f(x, y, z=3):
    return (x + y) * z


if __name__ == "__main__":
    # The README's lines, as written there:
    with ParallelMap(f, [2, 4, 6, 8], 4) as pmap:
        results = pmap.compute()   # ['.../ACME_<timestamp>/f_payload/f_0.h5', ...]
    pmap.results_container         # noqa: B018  '.../ACME_<timestamp>/f.h5'

    with h5py.File(pmap.results_container, "r") as h5f:
        values = [int(h5f[f"comp_{i}"]["result_0"][0]) for i in range(4)]
    if values != [18, 24, 30, 36]:
        raise SystemExit(f"README example: wrong values {values}")
    print(f"README example: OK, {values} in {pmap.results_container}")
