#!/usr/bin/env bash
# The local services that `make test` starts and leaves running for the next run, which
# then starts in seconds instead of a minute or more.
#
#   ops/services.sh report   one line for each that runs (address, memory, how to stop it)
#   ops/services.sh down     stop them all: PgBouncer, the Kafka broker (the usual one and
#                            the tests' own on free ports), the three-broker cluster,
#                            PostgreSQL, and Zipkin where ops/zipkin/zipkin.sh exists
#
# Both are idempotent; `report` only reads pid files and probes ports.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=$root/.cache
# The single broker's state dirs: the usual one, and the tests' when 9092 was taken.
kafka_states=("$cache/kafka" "$cache/kafka-test")

rss_mib() { awk '/^VmRSS:/ {printf "%d", $2 / 1024}' "/proc/$1/status" 2>/dev/null; }

live_pid() {
  # The pid in file $1 when that process runs and its command line holds $2.
  [ -s "$1" ] || return 1
  local pid; pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null && grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

report() {
  local lines=() total=0 pid mib state port n
  for state in "${kafka_states[@]}"; do
    pid=$(live_pid "$state/kafka.pid" kafka.Kafka) || continue
    port=9092
    [ -f "$state/ports.env" ] && port=$(sed -n 's/^saved_port=//p' "$state/ports.env")
    mib=$(rss_mib "$pid"); total=$((total + ${mib:-0}))
    lines+=("Kafka broker on 127.0.0.1:${port:-9092} (pid $pid, ${mib:-?} MiB)")
  done
  for n in 1 2 3; do
    pid=$(live_pid "$cache/kafka-cluster/node$n/kafka.pid" kafka.Kafka) || continue
    mib=$(rss_mib "$pid"); total=$((total + ${mib:-0}))
    lines+=("Kafka cluster node $n on 127.0.0.1:$((19091 + n)) (pid $pid, ${mib:-?} MiB)")
  done
  if pid=$(live_pid "$cache/pgbouncer/pgbouncer.pid" pgbouncer); then
    lines+=("PgBouncer on 127.0.0.1:${PGBOUNCER_PORT:-6432} (pid $pid)")
  fi
  if pid=$(live_pid "$cache/zipkin/zipkin.pid" zipkin-server); then
    mib=$(rss_mib "$pid")
    lines+=("Zipkin on 127.0.0.1:${ZIPKIN_PORT:-9411} (pid $pid, ${mib:-?} MiB)")
  fi
  if pg_isready -q -h 127.0.0.1 -p "${PG_PORT:-5432}" 2>/dev/null; then
    lines+=("PostgreSQL on 127.0.0.1:${PG_PORT:-5432}")
  fi
  if [ ${#lines[@]} -eq 0 ]; then
    echo "Left running: nothing."
    return
  fi
  local memory=""
  [ "$total" -gt 0 ] && memory="Kafka's JVMs hold ${total} MiB; "
  echo "Left running for the next run (${memory}\`make services-down\` stops all of it):"
  printf '  %s\n' "${lines[@]}"
}

down() {
  local status=0 state
  "$root/ops/postgres/pgbouncer.sh" down || status=1
  for state in "${kafka_states[@]}"; do
    [ -d "$state" ] || continue
    KAFKA_STATE_DIR=$state "$root/ops/kafka/kafka.sh" down || status=1
  done
  "$root/ops/kafka/cluster.sh" down || status=1
  if [ -f "$root/ops/zipkin/zipkin.sh" ]; then
    "$root/ops/zipkin/zipkin.sh" down || status=1
  fi
  "$root/ops/postgres/postgres.sh" down || status=1
  return $status
}

case "${1:-}" in
  report) report ;;
  down) down ;;
  *) echo "usage: $0 report|down" >&2; exit 2 ;;
esac
