#!/usr/bin/env bash
# Start a single-node SLURM for the test suite (idempotent).
#
# Installs Debian's slurmctld/slurmd/slurm-client/munge when they are missing, writes
# /etc/slurm/slurm.conf, starts munged, slurmctld and slurmd when they are not running (no
# systemd needed) and waits until the node accepts jobs. Exits non-zero with a message when
# SLURM cannot be brought up. Needs root unless everything is already running.
#
# Partitions (all on this one node):
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

die() {
    echo "setup_slurm.sh: $*" >&2
    for f in "$STATE_DIR/log/slurmctld.log" "$STATE_DIR/log/slurmd.log"; do
        if [ -r "$f" ]; then echo "--- tail of $f" >&2; tail -n 15 "$f" >&2; fi
    done
    exit 1
}

pid_alive() {  # pid_alive <pidfile>
    [ -r "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

node_state() {
    sinfo -h -n "$HOST" -o %t 2>/dev/null | head -n 1 | tr -d '*~#!%$@^-'
}

# Fast path: our configuration is in place and the node takes jobs.
if [ -r "$CONF" ] && grep -q '^ClusterName=acmetest$' "$CONF"; then
    case "$(node_state)" in idle|mix|alloc) exit 0 ;; esac
fi

[ "$(id -u)" -eq 0 ] || die "SLURM is not running and starting it needs root (run this script as root)."

# 1. Packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    echo "setup_slurm.sh: installing slurmctld slurmd slurm-client munge" >&2
    export DEBIAN_FRONTEND=noninteractive
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

# 3. slurm.conf
install -d -m 0755 "$STATE_DIR" "$STATE_DIR/run" "$STATE_DIR/log" "$STATE_DIR/spool"
install -d -o slurm -g slurm -m 0755 "$STATE_DIR/spool/slurmctld"
install -d -m 0755 "$STATE_DIR/spool/slurmd" /etc/slurm
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
NEW_CONF="$(mktemp)"
trap 'rm -f "$NEW_CONF"' EXIT
cat > "$NEW_CONF" <<CONF
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
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=8 RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
PartitionName=8GBXS Nodes=${HOST} Default=NO MaxTime=INFINITE State=UP MaxMemPerNode=8000
PartitionName=small Nodes=${HOST} Default=NO MaxTime=INFINITE State=UP MaxMemPerNode=2000
CONF

CTLD_PID="$STATE_DIR/run/slurmctld.pid"
SLURMD_PID="$STATE_DIR/run/slurmd.pid"
if ! cmp -s "$NEW_CONF" "$CONF"; then
    # A changed node definition needs restarted daemons.
    for p in "$SLURMD_PID" "$CTLD_PID"; do
        if pid_alive "$p"; then kill "$(cat "$p")"; fi
    done
    for _ in $(seq 50); do
        pid_alive "$SLURMD_PID" || pid_alive "$CTLD_PID" || break
        sleep 0.1
    done
    install -m 0644 "$NEW_CONF" "$CONF"
fi

# 4. Daemons
if ! pid_alive /run/munge/munged.pid; then
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged --force || die "munged did not start"
fi
if ! pid_alive "$CTLD_PID"; then
    /usr/sbin/slurmctld || die "slurmctld did not start"
fi
if ! pid_alive "$SLURMD_PID"; then
    /usr/sbin/slurmd || die "slurmd did not start"
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
