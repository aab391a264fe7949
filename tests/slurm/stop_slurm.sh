#!/usr/bin/env bash
# Stop the single-node SLURM started by setup_slurm.sh: cancel all jobs, wait (bounded) until
# the queue is empty, then stop slurmd, slurmctld and munged by their pid files.
set -uo pipefail

STATE_DIR="${ACME_SLURM_STATE_DIR:-/var/lib/acme-test-slurm}"

if command -v squeue >/dev/null && squeue -h >/dev/null 2>&1; then
    scancel --full --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 150); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.2
    done
fi
for p in "$STATE_DIR/run/slurmd.pid" "$STATE_DIR/run/slurmctld.pid" /run/munge/munged.pid; do
    if [ -r "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; then kill "$(cat "$p")"; fi
done
