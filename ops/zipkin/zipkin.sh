#!/usr/bin/env bash
# A local Zipkin server (a trace backend for the service's OpenTelemetry spans) on
# 127.0.0.1, from Zipkin's own `exec` jar on Maven Central, run with the machine's Java 17,
# in-memory storage. No Docker.
#
#   ops/zipkin/zipkin.sh up       fetch the jar (once), start, wait until its API answers
#   ops/zipkin/zipkin.sh down     stop it (SIGTERM, then SIGKILL after a deadline)
#   ops/zipkin/zipkin.sh status   exit 0 when it is running and answers
#
# Every step is idempotent. State lives in $ZIPKIN_STATE_DIR (default .cache/zipkin,
# git-ignored). The port is $ZIPKIN_PORT (default 9411). Spans go in with
# OTEL_TRACES_EXPORTER=zipkin OTEL_EXPORTER_ZIPKIN_ENDPOINT=http://127.0.0.1:9411/api/v2/spans;
# the UI is at http://127.0.0.1:9411/zipkin/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${ZIPKIN_STATE_DIR:-$root/.cache/zipkin}
host=${ZIPKIN_HOST:-127.0.0.1}
port=${ZIPKIN_PORT:-9411}
start_timeout=${ZIPKIN_START_TIMEOUT:-90}
version=3.5.1

libs=${ZIPKIN_LIBS_DIR:-$state/libs}
jar=$libs/zipkin-server-$version-exec.jar
logs=$state/logs
pidfile=$state/zipkin.pid

log() { echo "zipkin: $*" >&2; }

fetch_jar() {
  if [ -f "$jar" ]; then return; fi
  command -v mvn >/dev/null || { log "mvn is needed to fetch Zipkin's jar (apt-get install maven)"; exit 1; }
  command -v java >/dev/null || { log "java 17 is needed (apt-get install openjdk-17-jre-headless)"; exit 1; }
  log "fetching Zipkin's server jar from Maven Central into $libs"
  mkdir -p "$libs" "$logs"
  if ! mvn -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime > "$logs/mvn.log" 2>&1; then
    log "mvn failed; the end of $logs/mvn.log:"; tail -n 30 "$logs/mvn.log" >&2; exit 1
  fi
  [ -f "$jar" ] || { log "mvn did not produce $jar; see $logs/mvn.log"; exit 1; }
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && grep -q zipkin-server "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

port_taken() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

answers() {
  # /health says UP only once storage and the collectors are ready, not when the port opens.
  curl -fsS --max-time 2 "http://$host:$port/health" 2>/dev/null | grep -q '"UP"'
}

up() {
  fetch_jar
  mkdir -p "$logs"
  if pid=$(running_pid); then
    log "already running (pid $pid)"
  else
    port_taken && { log "something else already listens on $host:$port"; exit 1; }
    log "starting on $host:$port"
    echo "=== start $(date -u +%FT%TZ)" >> "$logs/stdout.log"
    # In-memory storage, bounded (MEM_MAX_SPANS) so a long local run cannot exhaust the
    # heap; only the HTTP collector (no Kafka, RabbitMQ, ... collectors to look for).
    STORAGE_TYPE=mem MEM_MAX_SPANS=${ZIPKIN_MAX_SPANS:-200000} \
    COLLECTOR_KAFKA_ENABLED=false COLLECTOR_RABBITMQ_ENABLED=false \
    COLLECTOR_ACTIVEMQ_ENABLED=false COLLECTOR_PULSAR_ENABLED=false \
    nohup bash -c "exec java -Xms64m -Xmx512m -XX:+UseG1GC -XX:TieredStopAtLevel=1 \
        -Djava.awt.headless=true -jar '$jar' \
        --armeria.ports[0].ip='$host' --armeria.ports[0].port='$port' \
        --armeria.ports[0].protocols=http" \
        >> "$logs/stdout.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
  fi
  local deadline=$((SECONDS + start_timeout))
  until answers; do
    # kill -0, not running_pid: right after the fork the child's cmdline is still bash's.
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "server exited during start; last lines of its output:"
      tail -n 40 "$logs/stdout.log" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then log "not answering after ${start_timeout}s"; exit 1; fi
    sleep 0.5
  done
  log "up (pid $(cat "$pidfile")) on http://$host:$port/zipkin/"
}

down() {
  local pid
  if ! pid=$(running_pid); then log "not running"; rm -f "$pidfile"; return; fi
  log "stopping (pid $pid)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then log "still running after 30s: SIGKILL"; kill -KILL "$pid"; fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) running_pid >/dev/null && answers ;;
  fetch) fetch_jar ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
