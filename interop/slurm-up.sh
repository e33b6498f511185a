#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for test/interop/test_slurm.py (and for trying
# deploy/slurm/*.sbatch by hand). Idempotent: it writes the config, starts munged, slurmctld and
# slurmd where they are not running, resumes a node left DOWN or DRAINED, and waits until the node
# takes jobs. Needs Debian's slurm-wlm and munge, and root to start the daemons. Its one line of
# output is the client setting, so a shell can take it with:
#
#   eval "$(sudo bash interop/slurm-up.sh)"; sbatch ...
#
# Everything but munge (shared with any other user of this machine) lives in MEAP_SLURM_DIR
# (default /var/lib/meap-slurm: config, state, logs, pid files), with its own ports, so a site's own
# slurm.conf and daemons are left alone. To stop the cluster:
#
#   kill $(cat /var/lib/meap-slurm/slurmd.pid /var/lib/meap-slurm/slurmctld.pid)
set -euo pipefail

dir=${MEAP_SLURM_DIR:-/var/lib/meap-slurm}
conf=$dir/slurm.conf
host=$(hostname -s)
PATH=$PATH:/usr/sbin:/sbin

fail() {
  echo "slurm-up: error: $1" >&2
  for log in "$dir/slurmctld.log" "$dir/slurmd.log"; do
    [ -f "$log" ] && { echo "--- $log (last lines)" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}
need_root() {
  [ "$(id -u)" -eq 0 ] || { echo "slurm-up: error: $1 needs root; run: sudo bash interop/slurm-up.sh" >&2; exit 2; }
}
# A daemon of ours runs when its pid file names a live process of that name.
running() {
  local pid
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}
stop() {
  running "$1" || return 0
  local pid; pid=$(cat "$dir/$1.pid")
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  fail "$1 (pid $pid) did not stop"
}

for cmd in slurmctld slurmd sinfo munged; do
  command -v "$cmd" >/dev/null || fail "$cmd is not installed; apt-get install slurm-wlm munge"
done

# The node as slurmd sees it: a RealMemory above the real one would drain the node. CPUs only, no
# sockets/cores/threads: with CR_Core each CPU is then a core, so a hyperthreaded 2-CPU machine
# still runs two 1-CPU tasks at once.
mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
want="# Written by interop/slurm-up.sh: a one-node cluster for tests, everything run as root.
ClusterName=meap-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job may start again after the credential lifetime (120 s by default): a preempted
# task is back within seconds.
AuthInfo=cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# Pending jobs are looked at every 2 s, not every 60 s (30 s for backfill): a test waits on them.
SchedulerParameters=sched_interval=2,bf_interval=2
# A node that was DOWN comes back when its slurmd registers; requeued jobs are not held.
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
# SIGTERM to SIGKILL on cancel and requeue: meap stops at SIGTERM well within it.
KillWait=10
# Finished jobs stay visible to scontrol for 10 minutes (there is no accounting database).
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP"

if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  # New machine facts (or a new script): daemons started from the old config must restart.
  need_root "writing $conf"
  stop slurmd
  stop slurmctld
  mkdir -p "$dir/state" "$dir/spool"
  printf '%s\n' "$want" >"$conf"
fi
export SLURM_CONF=$conf

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  need_root "starting munged"
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- munged
  munge -n | unmunge >/dev/null || fail "munged does not answer"
fi

if ! running slurmctld; then
  need_root "starting slurmctld"
  slurmctld -f "$conf" || fail "slurmctld did not start"
fi
if ! running slurmd; then
  need_root "starting slurmd"
  slurmd -f "$conf" || fail "slurmd did not start"
fi

# Until the node takes jobs; a node left DOWN or DRAINED by an earlier run (a killed slurmd, say)
# is resumed. "idle*" or "down*" (not responding yet) is waited for.
for _ in $(seq 120); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  case $state in
    idle | mixed | allocated | completing) echo "export SLURM_CONF=$conf"; exit 0 ;;
    down | drained | draining | drain | fail | failing)
      need_root "resuming node $host ($state)"
      scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
fail "node $host is not idle after 60 s (sinfo: ${state:-no answer})"
