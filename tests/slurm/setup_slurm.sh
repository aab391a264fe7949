#!/usr/bin/env bash
# Start a single-node SLURM for the test suite (idempotent).
#
# Installs Debian's slurmctld/slurmd/slurm-client/munge when they are missing, writes
# /etc/slurm/slurm.conf, starts munged, slurmctld and slurmd when they are not running (no
# systemd needed) and waits until the node accepts jobs. Exits non-zero with a message when
# SLURM cannot be brought up. Needs root (or password-less sudo) unless everything is already
# running with this configuration.
#
# Partitions (all on this one node, which claims 8 CPUs to run several 1-core jobs at once):
#   debug  default, no memory limit beyond the node's RealMemory
#   8GBXS  MaxMemPerNode=8000
#   small  MaxMemPerNode=2000 (memory capping and memory-based partition choice)
#
# Environment:
#   ACME_SLURM_STATE_DIR  spool/run/log directory (default /var/lib/acme-test-slurm)
#   ACME_SLURM_WAIT       seconds to wait for an idle node (default 30)
set -euo pipefail

STATE_DIR="${ACME_SLURM_STATE_DIR:-/var/lib/acme-test-slurm}"
WAIT_S="${ACME_SLURM_WAIT:-30}"
CONF=/etc/slurm/slurm.conf
HOST="$(hostname -s)"
TEMP_FILES=()
trap 'rm -f "${TEMP_FILES[@]}"' EXIT

die() {
    echo "setup_slurm.sh: $*" >&2
    for f in "$STATE_DIR/log/slurmctld.log" "$STATE_DIR/log/slurmd.log"; do
        if [ -r "$f" ]; then echo "--- tail of $f" >&2; tail -n 15 "$f" >&2; fi
    done
    exit 1
}

pid_alive() {  # pid_alive <pidfile>
    [ -n "$1" ] && [ -r "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

node_state() {
    command -v sinfo >/dev/null || return 0
    sinfo -h -n "$HOST" -o %t 2>/dev/null | head -n 1 | tr -d '*~#!%$@^-'
}

render_conf() {
    local mem_mb
    mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    cat <<CONF
# Written by acme's tests/slurm/setup_slurm.sh: a single-node SLURM for tests.
ClusterName=acmetest
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
KillWait=5
SlurmdParameters=config_overrides
StateSaveLocation=${STATE_DIR}/spool/slurmctld
SlurmdSpoolDir=${STATE_DIR}/spool/slurmd
SlurmctldPidFile=${STATE_DIR}/run/slurmctld.pid
SlurmdPidFile=${STATE_DIR}/run/slurmd.pid
SlurmctldLogFile=${STATE_DIR}/log/slurmctld.log
SlurmdLogFile=${STATE_DIR}/log/slurmd.log
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=8 RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
PartitionName=8GBXS Nodes=${HOST} Default=NO MaxTime=INFINITE State=UP MaxMemPerNode=8000
PartitionName=small Nodes=${HOST} Default=NO MaxTime=INFINITE State=UP MaxMemPerNode=2000
CONF
}

conf_value() {  # conf_value <key>: its value in the current slurm.conf ("" without one)
    [ -r "$CONF" ] || return 0
    sed -n "s/^$1=//p" "$CONF" | head -n 1
}

NEW_CONF="$(render_conf)"

# Fast path: this configuration is in place and the node takes jobs.
if [ -r "$CONF" ] && [ "$NEW_CONF" == "$(cat "$CONF")" ]; then
    case "$(node_state)" in idle|mix|alloc) exit 0 ;; esac
fi

if [ "$(id -u)" -ne 0 ]; then
    # e.g. CI runners: a normal user with password-less sudo
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        exec sudo -n -E bash "$0" "$@"
    fi
    die "SLURM is not running and starting it needs root (run this script as root)."
fi

# 1. Packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    echo "setup_slurm.sh: installing slurmctld slurmd slurm-client munge" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages from starting daemons with their default configuration; this
    # script starts them itself below.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        TEMP_FILES+=(/usr/sbin/policy-rc.d)
    fi
    apt-get update -q >/dev/null || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
        || die "apt-get install failed"
fi

# 2. munge key (normally created by the package)
if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi

# 3. Directories and slurm.conf; daemons running with another configuration are stopped
# (by the pid files that configuration names).
install -d -m 0755 "$STATE_DIR" "$STATE_DIR/run" "$STATE_DIR/log" "$STATE_DIR/spool" \
    "$STATE_DIR/spool/slurmd" /etc/slurm
install -d -o slurm -g slurm -m 0755 "$STATE_DIR/spool/slurmctld"
if [ ! -r "$CONF" ] || [ "$NEW_CONF" != "$(cat "$CONF")" ]; then
    old_pids=("$(conf_value SlurmdPidFile)" "$(conf_value SlurmctldPidFile)")
    for p in "${old_pids[@]}"; do
        if pid_alive "$p"; then kill "$(cat "$p")"; fi
    done
    for _ in $(seq 100); do
        pid_alive "${old_pids[0]}" || pid_alive "${old_pids[1]}" || break
        sleep 0.1
    done
    printf '%s\n' "$NEW_CONF" > "$CONF.new"
    chmod 0644 "$CONF.new"
    mv "$CONF.new" "$CONF"
fi

# 4. Daemons. Their standard streams must not be ours: a caller reading our output (e.g.
# subprocess.run(capture_output=True)) would otherwise wait for the daemons to exit.
if ! pid_alive /run/munge/munged.pid; then
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged --force </dev/null >/dev/null 2>&1 \
        || die "munged did not start"
fi
if ! pid_alive "$STATE_DIR/run/slurmctld.pid"; then
    /usr/sbin/slurmctld </dev/null >/dev/null 2>&1 || die "slurmctld did not start"
fi
if ! pid_alive "$STATE_DIR/run/slurmd.pid"; then
    /usr/sbin/slurmd </dev/null >/dev/null 2>&1 || die "slurmd did not start"
fi

# 5. Wait (bounded) until the node takes jobs.
deadline=$(( $(date +%s) + WAIT_S ))
while :; do
    state="$(node_state)"
    case "$state" in
        idle|mix|alloc) exit 0 ;;
        down|drain|drng|fail) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || die "node $HOST not ready after ${WAIT_S}s (state '${state:-unknown}')"
    sleep 0.2
done
