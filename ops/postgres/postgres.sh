#!/usr/bin/env bash
# PostgreSQL from Debian's package, started with pg_ctlcluster, on 127.0.0.1:5432.
#
#   ops/postgres/postgres.sh up     install (if missing), start, create the role and databases
#   ops/postgres/postgres.sh down   stop the cluster
#   ops/postgres/postgres.sh status exit 0 when it accepts connections
#   ops/postgres/postgres.sh drop   stop and delete a cluster other than "main" (tests')
#
# Idempotent. The role and databases match .env and the tests:
#   role users / password users, databases users (the service), users_test (the tests)
#   and users_bench (the benchmarks).
set -euo pipefail

role=${PG_ROLE:-users}
password=${PG_PASSWORD:-users}
databases=${PG_DATABASES:-users users_test users_bench}
port=${PG_PORT:-5432}
# Another cluster beside "main" (the failover test builds its own primary this way).
name=${PG_CLUSTER:-main}

log() { echo "postgres: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

install() {
  if command -v pg_ctlcluster >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then return; fi
  log "installing Debian's postgresql package"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
}

cluster() {
  # The newest installed version's cluster $name ("main"); create it if the package did not.
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$version/$name"; then
    log "creating cluster $version/$name"
    as_root pg_createcluster --port "$port" "$version" "$name" >/dev/null
  fi
  echo "$version $name"
}

ready() { pg_isready -q -h 127.0.0.1 -p "$port"; }

up() {
  install
  read -r version name < <(cluster)
  if ! pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1==v && $2==n {print $4}' | grep -qx online; then
    log "starting cluster $version/$name"
    as_root pg_ctlcluster "$version" "$name" start
  fi
  local deadline=$((SECONDS + 60))
  until ready; do
    [ $SECONDS -lt $deadline ] || { log "not accepting connections after 60s"; exit 1; }
    sleep 0.3
  done
  as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 <<SQL
SELECT 'CREATE ROLE $role LOGIN PASSWORD ''$password'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role')\gexec
SQL
  for db in $databases; do
    as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 <<SQL
SELECT 'CREATE DATABASE $db OWNER $role'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\gexec
SQL
  done
  log "up on 127.0.0.1:$port (role $role, databases: $databases)"
}

down() {
  read -r version name < <(cluster)
  as_root pg_ctlcluster "$version" "$name" stop || true
  log "stopped"
}

drop() {
  [ "$name" != main ] || { log "refusing to drop the main cluster"; exit 2; }
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$version/$name"; then
    as_root pg_dropcluster --stop "$version" "$name"
    log "dropped cluster $version/$name"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) ready ;;
  drop) drop ;;
  *) echo "usage: $0 up|down|status|drop" >&2; exit 2 ;;
esac
