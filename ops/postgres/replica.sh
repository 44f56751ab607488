#!/usr/bin/env bash
# A streaming standby of the local PostgreSQL (Debian's cluster tools and pg_basebackup).
#
#   ops/postgres/replica.sh up       create the standby (if absent) and start it streaming
#   ops/postgres/replica.sh promote  make the standby the primary (the old primary, if it
#                                    still runs, is stopped first: never two primaries)
#   ops/postgres/replica.sh down     remove the standby, promoted or not, and leave the
#                                    primary running as `postgres.sh up` leaves it
#   ops/postgres/replica.sh status   print the standby's role (standby, primary, absent)
#
# Idempotent. Defaults: primary cluster "main" on 127.0.0.1:5432, standby cluster
# "standby" on 127.0.0.1:5433. Parameters (the failover test builds a pair of its own):
#   PRIMARY_CLUSTER, PRIMARY_PORT, STANDBY_CLUSTER, STANDBY_PORT
#   REPLICATION=async (default) or sync: with sync the primary waits, on every commit,
#   until the standby has flushed it (synchronous_standby_names; synchronous_commit=on).
#
# The standby streams from a physical replication slot of the primary (WAL is kept until
# it has it); `down` drops the slot, else the primary would keep WAL for it forever.
# Enabling replication on a Debian cluster needs no restart: wal_level=replica and
# max_wal_senders=10 are PostgreSQL 15's defaults, and Debian's pg_hba.conf already lets
# loopback connect for replication with a password.
set -euo pipefail

primary_cluster=${PRIMARY_CLUSTER:-main}
primary_port=${PRIMARY_PORT:-5432}
standby_cluster=${STANDBY_CLUSTER:-standby}
standby_port=${STANDBY_PORT:-5433}
replication=${REPLICATION:-async}
role=${REPLICATION_ROLE:-replicator}
password=${REPLICATION_PASSWORD:-replicator}
# Also the standby's application_name, which synchronous_standby_names names.
slot="standby_${standby_port}"

log() { echo "replica: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)

exists() { pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$version/$1"; }
online() { pg_lsclusters -h | awk -v v="$version" -v n="$1" '$1==v && $2==n {print $4}' | grep -q online; }
wait_until() {
  local what=$1 deadline=$((SECONDS + ${3:-60}))
  until eval "$2" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for $what"; exit 1; }
    sleep 0.2
  done
}
data_dir() { pg_lsclusters -h | awk -v v="$version" -v n="$1" '$1==v && $2==n {print $6}'; }
# psql as postgres over TCP needs a password: run it over the cluster's Unix socket instead.
sql() { as_postgres psql -X -q -At -p "$1" -v ON_ERROR_STOP=1 -c "$2"; }

start_primary() {
  online "$primary_cluster" || as_root pg_ctlcluster "$version" "$primary_cluster" start
  wait_until "the primary on :$primary_port" "pg_isready -q -h 127.0.0.1 -p $primary_port"
}

up() {
  exists "$primary_cluster" || { log "no cluster $version/$primary_cluster (ops/postgres/postgres.sh up)"; exit 1; }
  start_primary
  sql "$primary_port" "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN CREATE ROLE $role REPLICATION LOGIN PASSWORD '$password'; END IF; END \$\$" >/dev/null
  sql "$primary_port" "SELECT pg_create_physical_replication_slot('$slot', true) WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '$slot')" >/dev/null
  if ! exists "$standby_cluster"; then
    log "creating standby $version/$standby_cluster on :$standby_port from :$primary_port"
    as_root pg_createcluster --port "$standby_port" "$version" "$standby_cluster" >/dev/null
    local dir
    dir=$(data_dir "$standby_cluster")
    as_root find "$dir" -mindepth 1 -delete
    as_postgres env PGPASSWORD="$password" pg_basebackup -c fast -X stream -R -S "$slot" -D "$dir" \
      -d "host=127.0.0.1 port=$primary_port user=$role application_name=$slot"
    # The primary's ALTER SYSTEM settings came along; a standby, once promoted, must not
    # wait for a synchronous standby of its own.
    as_root sed -i '/^synchronous_standby_names/d' "$dir/postgresql.auto.conf"
  fi
  if [ -f "$(data_dir "$standby_cluster")/standby.signal" ]; then
    online "$standby_cluster" || as_root pg_ctlcluster "$version" "$standby_cluster" start
    wait_until "the standby streaming" \
      "[ \"\$(sql $primary_port \"SELECT state FROM pg_stat_replication WHERE application_name = '$slot'\")\" = streaming ]"
    if [ "$replication" = sync ]; then
      sql "$primary_port" "ALTER SYSTEM SET synchronous_standby_names = '$slot'" >/dev/null
    else
      sql "$primary_port" "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
    fi
    sql "$primary_port" "SELECT pg_reload_conf()" >/dev/null
    local want=async
    [ "$replication" = sync ] && want=sync
    wait_until "the standby $want" \
      "[ \"\$(sql $primary_port \"SELECT sync_state FROM pg_stat_replication WHERE application_name = '$slot'\")\" = $want ]"
    log "standby $version/$standby_cluster streaming from :$primary_port on 127.0.0.1:$standby_port ($replication)"
  else
    online "$standby_cluster" || as_root pg_ctlcluster "$version" "$standby_cluster" start
    log "standby $version/$standby_cluster was promoted: a primary on 127.0.0.1:$standby_port"
  fi
}

promote() {
  exists "$standby_cluster" || { log "no standby (make db-replica-up)"; exit 1; }
  if [ ! -f "$(data_dir "$standby_cluster")/standby.signal" ]; then
    log "already promoted: the primary is on 127.0.0.1:$standby_port"
    return
  fi
  if online "$primary_cluster"; then
    # Fencing: the old primary would otherwise keep taking writes beside the new one.
    log "stopping the old primary $version/$primary_cluster first"
    as_root pg_ctlcluster -m fast "$version" "$primary_cluster" stop || true
  fi
  online "$standby_cluster" || as_root pg_ctlcluster "$version" "$standby_cluster" start
  wait_until "the standby to answer" "pg_isready -q -h 127.0.0.1 -p $standby_port"
  as_root pg_ctlcluster "$version" "$standby_cluster" promote
  wait_until "the promotion" "[ \"\$(sql $standby_port 'SELECT pg_is_in_recovery()')\" = f ]"
  log "promoted: the primary is on 127.0.0.1:$standby_port"
}

down() {
  if exists "$standby_cluster"; then
    as_root pg_dropcluster --stop "$version" "$standby_cluster"
    log "standby $version/$standby_cluster removed"
  fi
  exists "$primary_cluster" || return 0
  start_primary
  # The walsender of the removed standby may hold the slot for a moment more.
  wait_until "the slot $slot released" \
    "[ -z \"\$(sql $primary_port \"SELECT 1 FROM pg_replication_slots WHERE slot_name = '$slot' AND active\")\" ]"
  sql "$primary_port" "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'" >/dev/null
  sql "$primary_port" "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
  sql "$primary_port" "SELECT pg_reload_conf()" >/dev/null
  log "the primary $version/$primary_cluster on 127.0.0.1:$primary_port, alone"
}

status() {
  if ! exists "$standby_cluster"; then echo absent
  elif [ -f "$(data_dir "$standby_cluster")/standby.signal" ]; then echo standby
  else echo primary
  fi
}

case "${1:-}" in
  up) up ;;
  promote) promote ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|promote|down|status" >&2; exit 2 ;;
esac
