#!/usr/bin/env bash
# slurm-user.sh start|stop|status - a single-node Slurm run entirely as the current,
# unprivileged user (Binder has no root): munged, slurmctld and slurmd all under $USER,
# configuration and state in $JCK_SLURM_USER_BASE (default ~/.jck-slurm).
#
# Jobs run as the same user (the only one there is). Partitions `debug` (default) and
# `gpu` (no GPUs: a Binder pod has none, and fake ones need mknod). Clients find the
# cluster through SLURM_CONF, so `start` prints the line to export:
#     eval "$(binder/slurm-user.sh start)"
#
# Environment: JCK_SLURM_USER_BASE, JCK_SLURM_USER_PORT (slurmctld; slurmd uses +1;
# default 6817), JCK_SLURM_USER_CPUS (default 4; more than the pod has is fine: several
# demo jobs then run at once).
set -euo pipefail

BASE=${JCK_SLURM_USER_BASE:-$HOME/.jck-slurm}
PORT=${JCK_SLURM_USER_PORT:-6817}
CPUS=${JCK_SLURM_USER_CPUS:-4}
CONF=$BASE/slurm.conf
SOCKET=$BASE/munge/munge.socket
HOST=$(hostname -s)
USER_NAME=$(id -un)
export PATH=$PATH:/usr/sbin:/sbin
export SLURM_CONF=$CONF

log() { echo "[slurm-user] $*" >&2; }
die() { echo "[slurm-user] ERROR: $*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() { local n=$(($1 * 10)); shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done; "$@"; }
ctld_up() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_ready() { timeout 10 sinfo -h -n "$HOST" -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

write_config() {
  mkdir -p "$BASE"/{munge,state,spool,log}
  chmod 700 "$BASE/munge"
  [ -s "$BASE/munge/munge.key" ] || mungekey --create --keyfile="$BASE/munge/munge.key" --force
  chmod 600 "$BASE/munge/munge.key"
  cat > "$CONF" <<EOF
ClusterName=jck-demo
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=$USER_NAME
SlurmdUser=$USER_NAME
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
MinJobAge=3600
ReturnToService=2
SlurmdParameters=config_overrides
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
}

start() {
  if ctld_up 2>/dev/null && node_ready; then
    log "already running ($CONF)"
  else
    command -v slurmctld >/dev/null || die "Slurm is not installed (apt: slurmctld slurmd slurm-client munge)"
    write_config
    alive "$BASE/munged.pid" || munged --force --socket="$SOCKET" --key-file="$BASE/munge/munge.key" \
      --pid-file="$BASE/munged.pid" --log-file="$BASE/log/munged.log" --seed-file="$BASE/munge/munge.seed"
    alive "$BASE/slurmctld.pid" || slurmctld -f "$CONF"
    wait_for 30 ctld_up || die "slurmctld did not come up; see $BASE/log/slurmctld.log"
    alive "$BASE/slurmd.pid" || slurmd -f "$CONF" -N "$HOST"
    wait_for 30 node_ready || die "the node did not become idle; see $BASE/log/slurmd.log"
    sleep 3  # the first scheduling pass (jobs submitted earlier wait for it)
    log "up: partitions debug (default) and gpu on $HOST, as $USER_NAME"
  fi
  echo "export SLURM_CONF=$CONF"
}

stop() {
  timeout 10 scancel --user="$USER_NAME" 2>/dev/null || true
  timeout 10 scontrol shutdown 2>/dev/null || true
  local pid
  for pid in slurmd slurmctld munged; do
    alive "$BASE/$pid.pid" && kill "$(cat "$BASE/$pid.pid")" 2>/dev/null || true
  done
  log "stopped"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) ctld_up && node_ready ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
