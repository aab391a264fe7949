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
pids=()
for p in "$STATE_DIR/run/slurmd.pid" "$STATE_DIR/run/slurmctld.pid" /run/munge/munged.pid; do
    if [ -r "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; then
        pids+=("$(cat "$p")")
        kill "${pids[-1]}"
    fi
done
# Wait (bounded) until they are gone, so that a following setup_slurm.sh starts fresh ones.
for _ in $(seq 100); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && exit 0
    sleep 0.1
done
echo "stop_slurm.sh: daemons ${pids[*]} still running after 10 s" >&2
exit 1
