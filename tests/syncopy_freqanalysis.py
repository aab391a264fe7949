"""Run by the Syncopy environment's Python (tests/slurm/test_slurm_syncopy.py): Syncopy's
``freqanalysis`` on SLURM workers started with ``acme.slurm_cluster_setup`` must equal
its sequential run. Prints one line ``RESULT <json>``."""

import json
import sys

import numpy as np
import syncopy as spy

import acme

if __name__ == "__main__":
    partition, log_dir = sys.argv[1], sys.argv[2]
    client = acme.slurm_cluster_setup(partition=partition, n_workers=2, mem_per_worker="1GB",
                                      timeout=120, interactive=False, log_directory=log_dir)
    try:
        data = spy.synthdata.white_noise(nTrials=8, nSamples=1000, nChannels=4,
                                         samplerate=1000, seed=42)
        # Syncopy 2023.9 asks for every extra parameter of a SciPy window; SciPy >= 1.15
        # added `xp` and `device` to them.
        taper = {"taper": "hann", "taper_opt": {"xp": None, "device": None}}
        sequential = spy.freqanalysis(data, method="mtmfft", parallel=False, **taper)
        parallel = spy.freqanalysis(data, method="mtmfft", parallel=True, **taper)
        seq, par = np.asarray(sequential.data), np.asarray(parallel.data)
        workers = [w.get("name") for w in client.scheduler_info()["workers"].values()]
        print("RESULT " + json.dumps({
            "shape": list(seq.shape), "equal": bool(np.allclose(seq, par, rtol=1e-12,
                                                                atol=0)),
            "max_abs_diff": float(np.max(np.abs(seq - par))), "workers": len(workers),
            "job_header": client.cluster.job_header}))
    finally:
        acme.cluster_cleanup(client)
