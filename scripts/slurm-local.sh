#!/usr/bin/env bash
# A one-node SLURM cluster on localhost (munge + slurmctld + slurmd from Debian's slurm-wlm), so the
# DAQ's SLURM executor is tested against the real sbatch/squeue/sacct. Needs root.
# Usage: scripts/slurm-local.sh start|stop|status
set -euo pipefail

conf=/etc/slurm/slurm.conf
node=$(hostname -s)
cpus=$(nproc)

start() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm-local: slurm-wlm and munge are not installed (apt-get install slurm-wlm munge)" >&2
    exit 1
  fi
  if sinfo -h >/dev/null 2>&1; then echo "slurm-local: already up"; return 0; fi

  # munge: the key ships with the package; the daemon wants its run/log dirs owned by munge.
  [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || create-munge-key -f; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge /etc/munge/munge.key
  chmod 0755 /run/munge
  if ! munge -n >/dev/null 2>&1; then runuser -u munge -- /usr/sbin/munged; fi
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null

  # No cgroups and no accounting database: the smallest configuration that runs batch jobs.
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  cat >"$conf" <<EOF
ClusterName=sase
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  echo "# unused: proctrack/linuxproc and task/none need no cgroups" >/etc/slurm/cgroup.conf
  /usr/sbin/slurmctld
  /usr/sbin/slurmd
  for _ in $(seq 100); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "slurm-local: up (node $node, $cpus CPUs)"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm-local: node did not become idle; logs:" >&2
  tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  exit 1
}

stop() {
  for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
