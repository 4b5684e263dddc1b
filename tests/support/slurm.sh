#!/usr/bin/env bash
# slurm.sh start|stop [--purge]|status - a real single-node Slurm cluster on localhost
# for the tests: munged + slurmctld + slurmd, Debian 12, no systemd, run as root.
#
#   start   install the packages if missing, write /etc/slurm/slurm.conf and
#           gres.conf, start munged -> slurmctld (wait for `scontrol ping` UP)
#           -> slurmd, wait until the node is idle and the scheduler has made its
#           first pass (batch jobs submitted before it stay PENDING ~3 s).
#           Already running: says so and exits 0.
#   stop    cancel every job (`scontrol shutdown` leaves running jobs alive), shut
#           the daemons down, kill leftovers by pid file; --purge also deletes the
#           state directory and the config files.
#   status  exit 0 when slurmctld answers and the node responds, else 1.
#
# Cluster: partitions `debug` (default) and `gpu`, one node ($(hostname -s), at
# 127.0.0.1) with 2 fake GPUs (gres gpu, character devices: `--gres=gpu:1` sets
# CUDA_VISIBLE_DEVICES=0), MinJobAge=3600 (finished jobs stay visible to
# `scontrol show job` for an hour), no accounting database (sacct fails).
#
# Environment:
#   JCK_SLURM_BASE  state, spool, logs, pid files   (default /tmp/jck-slurm)
#   SLURM_CI_CPUS   CPUs the node advertises        (default 4; "auto" = real ones)
#                   more than the box has, so a 2-core CI machine runs several jobs
#   JCK_SLURM_GPUS  fake GPUs                        (default 2; 0 = no gres)
#   JCK_SLURM_MEM   RealMemory in MB                 (default 4000)
set -euo pipefail

BASE=${JCK_SLURM_BASE:-/tmp/jck-slurm}
CPUS=${SLURM_CI_CPUS:-4}
NGPU=${JCK_SLURM_GPUS:-2}
MEM=${JCK_SLURM_MEM:-4000}
T0=$(date +%s.%N)
export PATH=$PATH:/usr/sbin:/sbin

log() { echo "[slurm.sh] $*"; }
die() { echo "[slurm.sh] ERROR: $*" >&2; exit 1; }
elapsed() { awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%.1f", a - b }'; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
ctld_up() { command -v scontrol >/dev/null && timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { timeout 10 sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n 1; }
wait_for() {  # wait_for SECONDS COMMAND...: poll every 0.1 s
  local n=$(($1 * 10)); shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
  "$@"
}
HOST=$(hostname -s)

install_packages() {
  local missing=() pkg
  for pkg in slurmctld slurmd slurm-client munge; do
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

write_config() {
  mkdir -p "$BASE"/{state,spool,log}
  chown -R slurm:slurm "$BASE/state" "$BASE/log"
  local hw gres_line="" overrides=""
  if [ "$CPUS" = auto ]; then
    hw=$(slurmd -C | head -n 1 | grep -o 'CPUs=.*ThreadsPerCore=[0-9]*')
  else
    [[ "$CPUS" =~ ^[1-9][0-9]*$ ]] || die "SLURM_CI_CPUS must be a positive number or 'auto', not '$CPUS'"
    hw="CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1"
    overrides="SlurmdParameters=config_overrides"  # accept more CPUs than the box has
  fi
  : > /etc/slurm/gres.conf
  if [ "$NGPU" -gt 0 ]; then
    local i
    for i in $(seq 0 $((NGPU - 1))); do
      # Character devices (major 195 = nvidia; nothing ever opens them): slurmd
      # accepts plain files too but then leaves CUDA_VISIBLE_DEVICES empty.
      [ -c "$BASE/fakegpu$i" ] || { rm -f "$BASE/fakegpu$i"; mknod "$BASE/fakegpu$i" c 195 "$i"; }
    done
    gres_line="Gres=gpu:$NGPU"
    printf 'AutoDetect=off\nNodeName=%s Name=gpu File=%s/fakegpu[0-%d]\n' \
      "$HOST" "$BASE" $((NGPU - 1)) > /etc/slurm/gres.conf
  fi
  cat > /etc/slurm/slurm.conf <<EOF
# Written by tests/support/slurm.sh - single-node test cluster.
ClusterName=jck
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/slurmctld.pid
SlurmdPidFile=$BASE/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$BASE/log/jobcomp.log
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=3600
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
GresTypes=gpu
$overrides
NodeName=$HOST NodeAddr=127.0.0.1 $hw RealMemory=$MEM $gres_line State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
  if munge_ok; then return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then  # Debian's postinst normally creates it
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged 9>&-  # daemons must not inherit the lock
  touch "$BASE/munged.ours"  # stop kills munged only if we started it
  wait_for 5 munge_ok || die "munged did not start (see /var/log/munge/munged.log)"
}

cmd_start() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  install_packages
  id slurm >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin slurm
  mkdir -p "$BASE"
  exec 9>"$BASE/.lock"
  flock 9  # parallel callers wait here; the second one then finds it running
  if ctld_up && pid_alive "$BASE/slurmctld.pid" && pid_alive "$BASE/slurmd.pid"; then
    log "already running (node $HOST: $(node_state)); nothing to do"
    return 0
  fi
  if pid_alive "$BASE/slurmctld.pid" || pid_alive "$BASE/slurmd.pid"; then
    log "half running; stopping it first"
    stop_daemons
  fi
  ctld_up && die "a slurmctld not started by this script answers on this host; stop it first"
  write_config
  start_munge
  log "munged ready after $(elapsed) s"

  # slurmctld first; slurmd registers at once only if slurmctld already answers
  # (otherwise the node stays "unknown" until slurmd retries ~10 s later).
  local log_offset
  log_offset=$(stat -c %s "$BASE/log/slurmctld.log" 2>/dev/null || echo 0)
  /usr/sbin/slurmctld 9>&-
  wait_for 10 ctld_up || { tail -n 20 "$BASE/log/slurmctld.log" >&2; die "slurmctld did not come up"; }
  log "slurmctld up after $(elapsed) s (pid $(cat "$BASE/slurmctld.pid"))"

  /usr/sbin/slurmd -N "$HOST" 9>&-
  node_idle() { [ "$(node_state)" = idle ]; }
  wait_for 30 node_idle || { tail -n 20 "$BASE/log/slurmd.log" >&2; die "node $HOST not idle: $(node_state)"; }
  log "node $HOST idle after $(elapsed) s (slurmd pid $(cat "$BASE/slurmd.pid"))"

  # The main scheduler's first pass (~3 s after slurmctld starts) logs its
  # SchedulerParameters; batch jobs submitted before it wait for it.
  sched_ran() { tail -c +"$((log_offset + 1))" "$BASE/log/slurmctld.log" | grep -q 'SchedulerParameters='; }
  wait_for 15 sched_ran || log "warning: no first scheduler pass seen in the log yet"
  log "ready after $(elapsed) s: $(sinfo -h -o '%P %a %D %T' | tr '\n' ' ')"
}

stop_daemons() {
  local pids=() f p shutdown_sent=""
  for f in "$BASE/slurmctld.pid" "$BASE/slurmd.pid"; do
    pid_alive "$f" && pids+=("$(cat "$f")")
  done
  if ctld_up; then
    # cancel first: `scontrol shutdown` leaves running jobs (and their
    # slurmstepd) alive after the daemons are gone
    squeue -h -o %i -t PD,R,S,CG,CF 2>/dev/null | xargs -r scancel 2>/dev/null || true
    jobs_gone() { [ -z "$(squeue -h -o %i -t PD,R,S,CG,CF 2>/dev/null)" ]; }
    wait_for 20 jobs_gone || log "warning: jobs still listed after scancel"
    timeout 20 scontrol shutdown >/dev/null 2>&1 || true
    shutdown_sent=1
  fi
  [ ${#pids[@]} -eq 0 ] && return 0
  all_gone() { local q; for q in "${pids[@]}"; do kill -0 "$q" 2>/dev/null && return 1; done; return 0; }
  [ -n "$shutdown_sent" ] && wait_for 10 all_gone && return 0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && { log "SIGTERM $p"; kill "$p" 2>/dev/null || true; }; done
  wait_for 5 all_gone && return 0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && { log "SIGKILL $p"; kill -9 "$p" 2>/dev/null || true; }; done
  return 0
}

cmd_stop() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  if [ -d "$BASE" ]; then
    exec 9>"$BASE/.lock"
    flock 9
  fi
  stop_daemons
  if [ -f "$BASE/munged.ours" ] && pid_alive /run/munge/munged.pid; then
    local p; p=$(cat /run/munge/munged.pid)
    kill "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$BASE/munged.ours"
  log "stopped after $(elapsed) s"
  if [ "${1:-}" = --purge ]; then
    rm -rf "$BASE" /etc/slurm/slurm.conf /etc/slurm/gres.conf
    log "purged $BASE and the config"
  fi
}

cmd_status() {
  local state
  state=$(node_state)
  # slurmctld notices a dead slurmd only after SlurmdTimeout: check its pid too
  if ctld_up && pid_alive "$BASE/slurmd.pid" && [ -n "$state" ] \
     && [[ "$state" != down* && "$state" != *'*' ]]; then
    log "up: $(timeout 10 scontrol ping | head -n 1)"
    sinfo
    return 0
  fi
  log "down (state dir $BASE)"
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  status) cmd_status ;;
  *) echo "usage: $0 start | stop [--purge] | status" >&2; exit 2 ;;
esac
