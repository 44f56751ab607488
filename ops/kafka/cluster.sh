#!/usr/bin/env bash
# A three-broker Apache Kafka cluster in KRaft mode on 127.0.0.1, beside the single broker
# of kafka.sh (other ports, other state), from the same Maven jars and Java 17. No Docker.
#
#   ops/kafka/cluster.sh up          format (once) and start the three nodes; wait until a
#                                    topic with replication factor 3 can be created
#   ops/kafka/cluster.sh down        stop them
#   ops/kafka/cluster.sh status      exit 0 when all three run and answer
#   ops/kafka/cluster.sh kill N      SIGKILL node N (1-3): what the failure tests do
#   ops/kafka/cluster.sh start N     start node N again (after a kill)
#   ops/kafka/cluster.sh reset       stop and delete their data
#
# Clients: 127.0.0.1:19092, 19093, 19094 (KAFKA_BROKER=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094).
# Each node is broker and controller at once, with a static quorum of the three
# (controller.quorum.voters), formatted with one cluster id: the same formatting path as
# the single broker, and the membership of a local cluster never changes (a dynamic quorum,
# `--initial-controllers`, is for adding and removing controllers at run time). Replicated
# the way production is: default.replication.factor=3, min.insync.replicas=2, the offsets
# and transaction topics at 3.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${KAFKA_CLUSTER_STATE_DIR:-$root/.cache/kafka-cluster}
libs=${KAFKA_LIBS_DIR:-$root/.cache/kafka/libs}
host=127.0.0.1
nodes=(1 2 3)
start_timeout=${KAFKA_START_TIMEOUT:-120}

log() { echo "kafka-cluster: $*" >&2; }
client_port() { echo $((19091 + $1)); }
controller_port() { echo $((29091 + $1)); }
node_dir() { echo "$state/node$1"; }
pidfile() { echo "$(node_dir "$1")/kafka.pid"; }
bootstrap() { echo "$host:19092,$host:19093,$host:19094"; }

voters() {
  local out="" n
  for n in "${nodes[@]}"; do out+="${out:+,}$n@$host:$(controller_port "$n")"; done
  echo "$out"
}

write_config() {
  local n=$1 dir; dir=$(node_dir "$n")
  mkdir -p "$dir/data" "$dir/logs"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://$host:$(client_port "$n"),CONTROLLER://$host:$(controller_port "$n")
advertised.listeners=PLAINTEXT://$host:$(client_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# Three JVMs share this machine's cores: a busy node must not be fenced for a late heartbeat.
broker.session.timeout.ms=18000
unclean.leader.election.enable=false
PROPS
  cat > "$dir/log4j2.properties" <<LOG
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
LOG
}

java_cmd() {
  java -Xms128m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
       -Dlog4j2.configurationFile="$state/log4j2-tools.properties" -cp "$libs/*" "$@"
}

cluster_id() {
  [ -f "$state/cluster.id" ] || java_cmd kafka.tools.StorageTool random-uuid > "$state/cluster.id"
  cat "$state/cluster.id"
}

format_node() {
  local n=$1 dir; dir=$(node_dir "$n")
  [ -f "$dir/data/meta.properties" ] && return
  java_cmd kafka.tools.StorageTool format -t "$(cluster_id)" -c "$dir/server.properties" \
    >> "$dir/logs/format.log" 2>&1
}

running_pid() {
  local file; file=$(pidfile "$1")
  [ -f "$file" ] || return 1
  local pid; pid=$(cat "$file")
  kill -0 "$pid" 2>/dev/null && grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

answers() { (exec 3<>"/dev/tcp/$host/$(client_port "$1")") 2>/dev/null; }

start_node() {
  local n=$1 dir; dir=$(node_dir "$n")
  if running_pid "$n" >/dev/null; then return; fi
  answers "$n" && { log "something else listens on $host:$(client_port "$n")"; exit 1; }
  echo "=== start $(date -u +%FT%TZ)" >> "$dir/logs/stdout.log"
  nohup bash -c "exec java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile='$dir/log4j2.properties' -cp '$libs/*' kafka.Kafka '$dir/server.properties'" \
      >> "$dir/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$n")"
  log "node $n starting on $host:$(client_port "$n")"
}

wait_ready() {
  # Every node listens, and the quorum has formed with the brokers unfenced once a topic
  # with RF 3 can be created. (Once the topic exists, `--if-not-exists` succeeds with one
  # broker up: hence the listeners first.)
  local deadline=$((SECONDS + start_timeout))
  until status; do
    if [ $SECONDS -ge $deadline ]; then log "a node is not listening after ${start_timeout}s"; exit 1; fi
    sleep 0.5
  done
  until java_cmd org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" --create \
      --if-not-exists --topic kafka-cluster.ready --partitions 1 --replication-factor 3 \
      >> "$state/tools.log" 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "not ready after ${start_timeout}s; the end of $state/tools.log:"; tail -n 20 "$state/tools.log" >&2
      exit 1
    fi
    sleep 1
  done
}

up() {
  "$here/kafka.sh" fetch
  mkdir -p "$state"
  cat > "$state/log4j2-tools.properties" <<LOG
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
LOG
  local n
  for n in "${nodes[@]}"; do write_config "$n"; format_node "$n"; done
  for n in "${nodes[@]}"; do start_node "$n"; done
  wait_ready
  log "up: $(bootstrap) (RF 3, min.insync.replicas 2)"
}

stop_node() {
  local n=$1 signal=${2:-TERM} pid
  if ! pid=$(running_pid "$n"); then rm -f "$(pidfile "$n")"; return; fi
  kill "-$signal" "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid"; fi
    sleep 0.2
  done
  rm -f "$(pidfile "$n")"
  log "node $n stopped ($signal)"
}

status() {
  local n
  for n in "${nodes[@]}"; do running_pid "$n" >/dev/null && answers "$n" || return 1; done
}

case "${1:-}" in
  up) up ;;
  down) for n in "${nodes[@]}"; do stop_node "$n"; done ;;
  status) status ;;
  kill) stop_node "${2:?node 1-3}" KILL ;;
  start) start_node "${2:?node 1-3}" ;;
  reset) for n in "${nodes[@]}"; do stop_node "$n"; done; rm -rf "$state" ;;
  *) echo "usage: $0 up|down|status|kill N|start N|reset" >&2; exit 2 ;;
esac
