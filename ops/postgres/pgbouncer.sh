#!/usr/bin/env bash
# PgBouncer from Debian's package, in front of the local PostgreSQL, run from a config of
# our own (not Debian's service), as a daemon owned by the postgres user.
#
#   ops/postgres/pgbouncer.sh up     install (if missing), write the config, start
#   ops/postgres/pgbouncer.sh down   stop the PgBouncer this script started
#   ops/postgres/pgbouncer.sh status exit 0 when it accepts connections
#
# Idempotent. Listens on 127.0.0.1:${PGBOUNCER_PORT:-6432}; every database name is passed
# through (wildcard) to PostgreSQL on 127.0.0.1:${PGBOUNCER_TARGET_PORT:-5432}; pool_mode
# ${PGBOUNCER_MODE:-transaction}; one user, users/users (as ops/postgres/postgres.sh
# creates it). Config, log and pid file in ${PGBOUNCER_DIR:-.cache/pgbouncer}.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

port=${PGBOUNCER_PORT:-6432}
target_port=${PGBOUNCER_TARGET_PORT:-5432}
mode=${PGBOUNCER_MODE:-transaction}
role=${PG_ROLE:-users}
password=${PG_PASSWORD:-users}
dir=$(realpath -m "${PGBOUNCER_DIR:-.cache/pgbouncer}")
pool_size=${PGBOUNCER_POOL_SIZE:-20}

log() { echo "pgbouncer: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install() {
  command -v pgbouncer >/dev/null && return
  log "installing Debian's pgbouncer package"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq pgbouncer >/dev/null
}

pid() { [ -s "$dir/pgbouncer.pid" ] && cat "$dir/pgbouncer.pid"; }
running() { local p; p=$(pid) && kill -0 "$p" 2>/dev/null; }
ready() { pg_isready -q -h 127.0.0.1 -p "$port"; }

write_config() {
  as_root mkdir -p "$dir"
  local ini
  ini=$(
    cat <<INI
; Written by ops/postgres/pgbouncer.sh; edits are overwritten on the next "up".
[databases]
* = host=127.0.0.1 port=$target_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
pool_mode = $mode
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
default_pool_size = $pool_size
max_client_conn = 2000
; Drivers that send it at start-up (psycopg does not; JDBC does).
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  )
  printf '%s\n' "$ini" | as_root tee "$dir/pgbouncer.ini.new" >/dev/null
  printf '"%s" "%s"\n' "$role" "$password" | as_root tee "$dir/userlist.txt" >/dev/null
  as_root chown -R postgres:postgres "$dir"
  as_root chmod 600 "$dir/userlist.txt"
}

up() {
  install
  write_config
  if running && cmp -s "$dir/pgbouncer.ini.new" "$dir/pgbouncer.ini"; then
    rm -f "$dir/pgbouncer.ini.new"
  else
    down_quietly
    mv "$dir/pgbouncer.ini.new" "$dir/pgbouncer.ini"
    log "starting on 127.0.0.1:$port ($mode mode, to 127.0.0.1:$target_port)"
    as_root pgbouncer -d -u postgres "$dir/pgbouncer.ini"
  fi
  local deadline=$((SECONDS + 30))
  until ready; do
    [ $SECONDS -lt $deadline ] || { log "not accepting connections after 30s (see $dir/pgbouncer.log)"; exit 1; }
    sleep 0.2
  done
  log "up on 127.0.0.1:$port ($mode mode, databases: * -> 127.0.0.1:$target_port, user $role)"
}

down_quietly() {
  local p
  p=$(pid) || return 0
  if kill -0 "$p" 2>/dev/null; then
    as_root kill -INT "$p"
    local deadline=$((SECONDS + 20))
    while kill -0 "$p" 2>/dev/null; do
      [ $SECONDS -lt $deadline ] || { as_root kill -KILL "$p" 2>/dev/null || true; break; }
      sleep 0.1
    done
  fi
  as_root rm -f "$dir/pgbouncer.pid"
}

down() {
  down_quietly
  log "stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) running && ready ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
