#!/usr/bin/env bash
# A single-node Slurm cluster on this machine (Debian 12, as root), then the tiny synthetic trial
# (scale 0.004) through `snakemake --profile profiles/slurm` to the report.
#
#   sudo scripts/slurm_single_node.sh [RUN_DIR]       # default RUN_DIR: /tmp/mheval-slurm-run
#   sudo scripts/slurm_single_node.sh --stop          # stop the daemons this script started
#
# Environment: PYTHON (default: the python on PATH; it must have mheval and the [slurm] extra
# installed: pip install -e ".[slurm]"), SCALE (default 0.004), KEEP_RUNNING=1 to leave the daemons up.
#
# What it does (this host is controller, compute node and accounting host):
#   1. apt-get install slurm-wlm munge slurmdbd mariadb-server (Debian's Slurm 22.05);
#   2. starts munged and MariaDB, creates the accounting database and its user;
#   3. writes /etc/slurm/slurmdbd.conf and /etc/slurm/slurm.conf (one node, this host's CPUs and
#      memory), starts slurmdbd, registers the cluster and an account for the user, starts
#      slurmctld and slurmd. Accounting is needed: snakemake-executor-plugin-slurm polls job states
#      with sacct; with accounting off the jobs run and Snakemake waits for ever;
#   4. copies the workflow (Snakefile, workflow/, config/, profiles/) to RUN_DIR and runs it there
#      through Slurm; the report is RUN_DIR/results/report.html, the log RUN_DIR/snakemake.log;
#   5. stops the daemons (unless KEEP_RUNNING=1).
# The daemons run in the foreground-less classic way (no systemd: containers often lack it).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
SCALE="${SCALE:-0.004}"
CLUSTER=mheval
HOST="$(hostname -s)"
PIDS=/run/mheval-slurm

stop_daemons() {
    for d in slurmd slurmctld slurmdbd; do
        if [ -f "$PIDS/$d.pid" ]; then
            kill "$(cat "$PIDS/$d.pid")" 2>/dev/null || true
            rm -f "$PIDS/$d.pid"
        fi
    done
    if [ -f "$PIDS/mariadb.started" ]; then
        service mariadb stop >/dev/null 2>&1 || true
        rm -f "$PIDS/mariadb.started"
    fi
    if [ -f "$PIDS/munged.started" ]; then
        [ -f /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
        rm -f "$PIDS/munged.started"
    fi
    echo "slurm daemons stopped"
}

if [ "${1:-}" = "--stop" ]; then
    stop_daemons
    exit 0
fi
RUN_DIR="${1:-/tmp/mheval-slurm-run}"

[ "$(id -u)" -eq 0 ] || { echo "run as root (installs packages and starts daemons)" >&2; exit 1; }
mkdir -p "$PIDS"

echo "== 1. packages"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq slurm-wlm munge slurmdbd mariadb-server >/dev/null

echo "== 2. munge and MariaDB"
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    touch "$PIDS/munged.started"
    sleep 1
fi
munge -n | unmunge >/dev/null

if ! mysqladmin ping >/dev/null 2>&1; then
    service mariadb start >/dev/null
    touch "$PIDS/mariadb.started"
fi
DBPASS=mheval-slurmdbd
mysql -u root <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL

echo "== 3. slurmdbd, slurmctld, slurmd"
CPUS=2
# RealMemory: the node's memory as slurmd reports it (slurmd -C), less 512 MB for the system
MEM_MB=$(( $(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') - 512 ))
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown slurm:slurm /var/spool/slurmctld /var/log/slurm

cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=$PIDS/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm /etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf

cat > /etc/slurm/slurm.conf <<EOF
# written by mheval scripts/slurm_single_node.sh: one node, controller and compute node on $HOST
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# no cgroups (containers often do not delegate them): processes tracked through /proc
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MinJobAge=600
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
SchedulerType=sched/backfill
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

if ! sacctmgr -n list cluster >/dev/null 2>&1; then
    /usr/sbin/slurmdbd
    for _ in $(seq 30); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 1; done
fi
sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
sacctmgr -i add account mheval Cluster="$CLUSTER" Description=mheval Organization=mheval >/dev/null 2>&1 || true
sacctmgr -i add user "$(id -un)" Account=mheval Cluster="$CLUSTER" >/dev/null 2>&1 || true

if ! scontrol ping 2>/dev/null | grep -q UP; then
    /usr/sbin/slurmctld
    for _ in $(seq 30); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 1; done
fi
if ! pgrep -F "$PIDS/slurmd.pid" >/dev/null 2>&1; then
    /usr/sbin/slurmd
fi
for _ in $(seq 30); do sinfo -h -o %T | grep -qE "^idle|^mixed" && break; sleep 1; done
scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
sinfo
srun -N1 -n1 hostname >/dev/null

[ "${KEEP_RUNNING:-0}" = 1 ] || trap stop_daemons EXIT

echo "== 4. the tiny trial (scale $SCALE) through snakemake --profile profiles/slurm"
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"
cp -r "$REPO/Snakefile" "$REPO/workflow" "$REPO/config" "$REPO/profiles" "$RUN_DIR/"
cd "$RUN_DIR"
sleep 2  # the accounting window below starts after the srun check above
start=$(date +%s)
"$PYTHON" -m snakemake --profile profiles/slurm --config "synthetic={scale: $SCALE}" \
    >"$RUN_DIR/snakemake.log" 2>&1 || { tail -50 "$RUN_DIR/snakemake.log"; exit 1; }
end=$(date +%s)
head -c 200 results/qc/publication_check.txt; echo
echo "wall time: $((end - start)) s"
sacct -n -X -S "$(date -d @"$start" +%Y-%m-%dT%H:%M:%S)" -o JobID,JobName%40,State,Elapsed,AllocCPUS,ReqMem,MaxRSS \
    >"$RUN_DIR/sacct.txt"
sacct -n -S "$(date -d @"$start" +%Y-%m-%dT%H:%M:%S)" -o JobID,JobName%40,State,Elapsed,AllocCPUS,ReqMem,MaxRSS \
    >"$RUN_DIR/sacct_steps.txt"
echo "slurm jobs: $(wc -l <"$RUN_DIR/sacct.txt") (RUN_DIR/sacct.txt)"
echo "report: $RUN_DIR/results/report.html"
