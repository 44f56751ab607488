#!/usr/bin/env bash
# A single-node Apache Kafka broker in KRaft mode on 127.0.0.1, from Kafka's
# own jars on Maven Central, run with the machine's Java 17. No Docker.
#
#   ops/kafka/kafka.sh up       fetch jars (once), format storage (once), start, wait until it answers
#   ops/kafka/kafka.sh down     stop it (SIGTERM, then SIGKILL after a deadline)
#   ops/kafka/kafka.sh status   exit 0 when it is running and answers
#   ops/kafka/kafka.sh reset    stop it and delete its data
#   ops/kafka/kafka.sh test-env a broker the tests control, up; prints the `export` lines
#                               that point the tests (and this script) at it: the usual
#                               ports, or free ones when something else holds 9092
#
# Every step is idempotent. State lives in $KAFKA_STATE_DIR (default .cache/kafka, git-ignored);
# the ports a broker was started with are kept in its ports.env and reused.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${KAFKA_STATE_DIR:-$root/.cache/kafka}
host=${KAFKA_HOST:-127.0.0.1}
# Ports: the environment's, else those this state dir was started with, else the usual.
if [ -f "$state/ports.env" ]; then
  # shellcheck disable=SC1091
  . "$state/ports.env"
fi
port=${KAFKA_PORT:-${saved_port:-9092}}
controller_port=${KAFKA_CONTROLLER_PORT:-${saved_controller_port:-9093}}
# A second listener that requires SASL/SCRAM, for the service's client-security settings
# and their test. The user and password are for this local broker only.
sasl_port=${KAFKA_SASL_PORT:-${saved_sasl_port:-9095}}
scram_user=${KAFKA_SCRAM_USER:-users-service}
scram_password=${KAFKA_SCRAM_PASSWORD:-local-scram-secret}
start_timeout=${KAFKA_START_TIMEOUT:-90}

# The jars are shared by every state dir (the tests may run a broker of their own).
libs=${KAFKA_LIBS_DIR:-$root/.cache/kafka/libs}
data=$state/data
logs=$state/logs
pidfile=$state/kafka.pid
props=$state/server.properties

log() { echo "kafka: $*" >&2; }

fetch_jars() {
  # The marker, and the newest jar the pom asks for (a checkout that adds one refetches).
  if [ -f "$libs/.complete" ] && compgen -G "$libs/kafka-tools-*.jar" >/dev/null; then return; fi
  command -v mvn >/dev/null || { log "mvn is needed to fetch Kafka's jars (apt-get install maven)"; exit 1; }
  command -v java >/dev/null || { log "java 17 is needed (apt-get install openjdk-17-jre-headless)"; exit 1; }
  log "fetching Kafka's jars from Maven Central into $libs"
  mkdir -p "$libs"
  mkdir -p "$logs"
  if ! mvn -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime > "$logs/mvn.log" 2>&1; then
    log "mvn failed; the end of $logs/mvn.log:"; tail -n 30 "$logs/mvn.log" >&2; exit 1
  fi
  touch "$libs/.complete"
}

write_config() {
  mkdir -p "$data" "$logs"
  printf 'saved_port=%s\nsaved_controller_port=%s\nsaved_sasl_port=%s\n' \
    "$port" "$controller_port" "$sasl_port" > "$state/ports.env"
  cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$host:$controller_port
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port,SASL_PLAINTEXT://$host:$sasl_port
advertised.listeners=PLAINTEXT://$host:$port,SASL_PLAINTEXT://$host:$sasl_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A single test broker: no reason to make the first consumer group wait 3 s.
group.initial.rebalance.delay.ms=0
# Like most production clusters: a topic the service forgot to declare is an error here too.
auto.create.topics.enable=false
# The controller fences a broker whose heartbeats stop for this long (default 9 s). On a
# loaded 2-core machine the combined controller+broker missed its own heartbeats and was
# fenced: topic creation then failed with "All brokers are currently fenced".
broker.session.timeout.ms=30000
PROPS
  cat > "$state/log4j2-tools.properties" <<LOG
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
LOG
  cat > "$state/log4j2.properties" <<LOG
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
LOG
}

classpath() { echo "$libs/*"; }

tool() {
  # Kafka's command-line tools, logging to their own file, not the broker's.
  java -Xmx256m -Dlog4j2.configurationFile="$state/log4j2-tools.properties" \
       -cp "$(classpath)" "$@" >> "$logs/tools.log" 2>&1
}

can_create_topics() {
  # A broker that answers may still be fenced by its controller: only a topic creation
  # shows it can serve the service's start. The topic is tiny and kept (idempotent).
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$host:$port" --create \
       --if-not-exists --topic kafka-sh.ready --partitions 1 --replication-factor 1
}

java_cmd() {
  java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
       -Dlog4j2.configurationFile="$state/log4j2.properties" \
       -cp "$(classpath)" "$@"
}

format_storage() {
  if [ -f "$data/meta.properties" ]; then return; fi
  log "formatting storage in $data"
  java_cmd kafka.tools.StorageTool format -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
           -c "$props" >> "$logs/format.log" 2>&1
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

answers() {
  # The listener accepts connections only once the broker has finished starting.
  port_taken "$port"
}

port_taken() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

test_env() {
  # The tests stop and start their broker (the outage tests): it must be one of ours. Ours
  # at the usual ports when it runs or they are free; else one of ours on free ports, in a
  # state dir of its own, so whatever holds 9092 (often a Kafka in Docker) is left alone.
  local default_state=$root/.cache/kafka alt_state=$root/.cache/kafka-test
  if [ -z "${KAFKA_STATE_DIR:-}" ]; then
    if KAFKA_STATE_DIR=$default_state "$0" status 2>/dev/null; then
      state=$default_state
    elif [ -f "$alt_state/ports.env" ] && KAFKA_STATE_DIR=$alt_state "$0" status 2>/dev/null; then
      state=$alt_state
    elif ! port_taken 9092 && ! port_taken 9093 && ! port_taken 9095; then
      state=$default_state
    else
      state=$alt_state
      if [ ! -f "$state/ports.env" ]; then
        mkdir -p "$state"
        printf 'saved_port=%s\nsaved_controller_port=%s\nsaved_sasl_port=%s\n' \
          "$(free_port)" "$(free_port)" "$(free_port)" > "$state/ports.env"
      fi
      log "something else listens on 127.0.0.1:9092; the tests get a broker of their own in $state"
    fi
  fi
  # shellcheck disable=SC1091
  [ -f "$state/ports.env" ] && . "$state/ports.env"
  # The environment's ports first (as `up` reads them), then the state dir's, then the usual.
  local p=${KAFKA_PORT:-${saved_port:-9092}} c=${KAFKA_CONTROLLER_PORT:-${saved_controller_port:-9093}} s=${KAFKA_SASL_PORT:-${saved_sasl_port:-9095}}
  KAFKA_STATE_DIR=$state KAFKA_PORT=$p KAFKA_CONTROLLER_PORT=$c KAFKA_SASL_PORT=$s "$0" up >&2
  echo "export KAFKA_STATE_DIR='$state' KAFKA_PORT=$p KAFKA_CONTROLLER_PORT=$c KAFKA_SASL_PORT=$s"
  echo "export TEST_KAFKA_BROKER=127.0.0.1:$p TEST_KAFKA_SASL_BROKER=127.0.0.1:$s"
}

up() {
  fetch_jars
  write_config
  format_storage
  if pid=$(running_pid); then
    log "already running (pid $pid)"
  else
    answers && { log "something else already listens on $host:$port"; exit 1; }
    log "starting on $host:$port"
    echo "=== start $(date -u +%FT%TZ)" >> "$logs/stdout.log"
    nohup bash -c "exec java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile='$state/log4j2.properties' -cp '$libs/*' kafka.Kafka '$props'" \
        >> "$logs/stdout.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
  fi
  local deadline=$((SECONDS + start_timeout))
  until answers && grep -q "Kafka Server started" "$logs/server.log" 2>/dev/null; do
    # kill -0, not running_pid: right after the fork the child's cmdline is still this
    # script's (before nohup and java exec), and the name check would call it gone.
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "broker exited during start; last lines of its output:"
      tail -n 40 "$logs/stdout.log" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then log "not answering after ${start_timeout}s"; exit 1; fi
    sleep 0.5
  done
  until can_create_topics; do
    if [ $SECONDS -ge $deadline ]; then
      log "answers, but cannot create a topic after ${start_timeout}s; the end of $logs/tools.log:"
      tail -n 20 "$logs/tools.log" >&2
      exit 1
    fi
    sleep 1
  done
  # The SCRAM user of the SASL listener (idempotent: the credentials are set again; one
  # mechanism a request, as Kafka wants).
  for mechanism in "SCRAM-SHA-256=[iterations=4096,password=$scram_password]" \
                   "SCRAM-SHA-512=[password=$scram_password]"; do
    tool kafka.admin.ConfigCommand --bootstrap-server "$host:$port" --alter --entity-type users \
         --entity-name "$scram_user" --add-config "$mechanism" \
      || { log "could not set the SCRAM user; the end of $logs/tools.log:"; tail -n 20 "$logs/tools.log" >&2; exit 1; }
  done
  log "up (pid $(cat "$pidfile")), creates topics; SASL/SCRAM on $host:$sasl_port"
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
  # The log line that `up` waits for must come from the next start, not this one.
  [ -f "$logs/server.log" ] && mv "$logs/server.log" "$logs/server.log.prev"
  rm -f "$pidfile"
  log "stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) running_pid >/dev/null && answers ;;
  reset) down; rm -rf "$data" "$logs" "$state/ports.env" ;;
  test-env) test_env ;;
  fetch) fetch_jars ;;
  *) echo "usage: $0 up|down|status|reset|test-env" >&2; exit 2 ;;
esac
