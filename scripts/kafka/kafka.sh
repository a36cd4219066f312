#!/usr/bin/env bash
# Runs a real Apache Kafka broker (single KRaft node, broker+controller) on loopback, without
# Docker, for tests and CI. Needs only java (17+) and mvn; the jars come from Maven Central
# through scripts/kafka/pom.xml and are cached in $ROSTER_KAFKA_HOME/lib.
#
#   scripts/kafka/kafka.sh start|stop|restart|status|reset|fetch
#   scripts/kafka/kafka.sh run-class CLASS [ARGS...]   # a Kafka CLI class, e.g.
#       scripts/kafka/kafka.sh run-class org.apache.kafka.tools.TopicCommand \
#         --bootstrap-server 127.0.0.1:19092 --list
#
# See scripts/kafka/README.md for the environment variables.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

home="${ROSTER_KAFKA_HOME:-$root/.tools/kafka}"
port="${KAFKA_PORT:-19092}"
controller_port="${KAFKA_CONTROLLER_PORT:-19093}"
start_timeout="${KAFKA_START_TIMEOUT:-90}"
stop_timeout="${KAFKA_STOP_TIMEOUT:-30}"
heap_opts="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
host=127.0.0.1

lib="$home/lib"
data="$home/data"
conf="$home/server.properties"
pidfile="$home/kafka.pid"
logfile="$home/kafka.log"
cluster_id_file="$home/cluster.id"
log4j_conf="$here/log4j2.properties"

say() { printf 'kafka: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not on PATH (needed: $2)"; }

# ---------------------------------------------------------------------------------- jars ---

# The lib folder is current when its stamp matches the POM's checksum.
pom_sum() { sha256sum "$here/pom.xml" | cut -d' ' -f1; }

fetch() {
  if [[ -f "$lib/.pom.sha256" && "$(cat "$lib/.pom.sha256")" == "$(pom_sum)" ]]; then
    return 0
  fi
  need mvn "to resolve Kafka's jars from Maven Central"
  say "resolving jars with Maven into $lib ..."
  local t0 tmp
  t0="$(now)"
  mkdir -p "$home"
  tmp="$(mktemp -d "$home/lib.tmp.XXXXXX")"
  if ! mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$home/mvn.log" 2>&1; then
    cat "$home/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed (output above, also in $home/mvn.log)"
  fi
  pom_sum >"$tmp/.pom.sha256"
  rm -rf "$lib"
  mv "$tmp" "$lib"
  say "jars resolved in $(since "$t0") s ($(find "$lib" -name '*.jar' | wc -l) jars)"
}

# A short-lived JVM for Kafka's CLI classes: small heap, fast start.
run_class() {
  need java "to run Kafka"
  fetch
  # shellcheck disable=SC2086
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$log4j_conf" \
    ${KAFKA_TOOL_OPTS:-} -cp "$lib/*" "$@"
}

# --------------------------------------------------------------------------------- state ---

# The pid in the pid file, if that process is alive and is our broker.
broker_pid() {
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
  printf '%s' "$pid"
}

# Alive and not a zombie (a zombie answers kill -0 until its parent reaps it).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)"
  [[ "$state" != Z ]]
}

port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

# Sends one raw Kafka request from bash (no JVM to start) and prints the first $2 bytes of
# the response as decimal numbers. $1 is the whole request, size prefix included, as printf
# escapes. Fails on no connection, a short answer, or no answer within 5 s.
kafka_request() {
  local bytes
  bytes="$(
    exec 2>/dev/null 3<>"/dev/tcp/$host/$port" || exit 1
    # shellcheck disable=SC2059  # $1 is the request, written as printf escapes
    printf "$1" >&3
    timeout 5 head -c "$2" <&3 | od -An -v -tu1
  )" || return 1
  # shellcheck disable=SC2206
  local b=($bytes)
  ((${#b[@]} == $2)) || return 1
  printf '%s' "${b[*]}"
}

# Big-endian int32 from four byte values.
be32() { echo $(($1 << 24 | $2 << 16 | $3 << 8 | $4)); }

# Readiness: a Metadata v4 request (header v1, client id "roster-probe", no topics, no
# auto-creation). The broker answers once it serves requests, and lists itself among the
# brokers only once it is registered and unfenced. Response: size, correlation id,
# throttle_time_ms, brokers count, first broker's node id. Succeeds when node 1 is listed.
probe() {
  local r
  r="$(kafka_request '\x00\x00\x00\x1b\x00\x03\x00\x04\x00\x00\x00\x07\x00\x0croster-probe\x00\x00\x00\x00\x00' 20)" || return 1
  local -a b
  read -r -a b <<<"$r"
  (($(be32 "${b[@]:4:4}") == 7 && $(be32 "${b[@]:12:4}") >= 1 && $(be32 "${b[@]:16:4}") == 1))
}

# True when the response to request $3 carries correlation id $1 and error code 0 at byte
# offset $2 (offsets count from the start of the response, its size field included).
answers_ok() {
  local r
  r="$(kafka_request "$3" $(($2 + 2)))" || return 1
  local -a b
  read -r -a b <<<"$r"
  (($(be32 "${b[@]:4:4}") == $1 && b[$2] == 0 && b[$2 + 1] == 0))
}

# Coordinators: the first FindCoordinator makes the broker create __consumer_offsets or
# __transaction_state and it answers COORDINATOR_NOT_AVAILABLE until that is done; then the
# partition loads (COORDINATOR_LOAD_IN_PROGRESS), and the first producer id block is fetched
# from the controller. Each request below answers error 0 only once that step is over, so a
# test's first consumer group or idempotent producer meets none of these transient errors.
coordinators_ready() {
  # FindCoordinator v1, key "roster-probe", key_type 0 (group); response error at byte 12.
  answers_ok 8 12 '\x00\x00\x00\x25\x00\x0a\x00\x01\x00\x00\x00\x08\x00\x0croster-probe\x00\x0croster-probe\x00' &&
    # FindCoordinator v1, key_type 1 (transaction).
    answers_ok 9 12 '\x00\x00\x00\x25\x00\x0a\x00\x01\x00\x00\x00\x09\x00\x0croster-probe\x00\x0croster-probe\x01' &&
    # OffsetFetch v3 for group "roster-probe", all topics (null); response: throttle, empty
    # topics array, then the group's error code at byte 16.
    answers_ok 10 16 '\x00\x00\x00\x28\x00\x09\x00\x03\x00\x00\x00\x0a\x00\x0croster-probe\x00\x0croster-probe\xff\xff\xff\xff' &&
    # InitProducerId v1 with no transactional id (what an idempotent producer sends).
    answers_ok 11 12 '\x00\x00\x00\x1c\x00\x16\x00\x01\x00\x00\x00\x0b\x00\x0croster-probe\xff\xff\x00\x00\xea\x60'
}

# ---------------------------------------------------------------------------------- start ---

write_config() {
  mkdir -p "$data"
  cat >"$conf" <<EOF
# Written by scripts/kafka/kafka.sh on every start; edits here are overwritten.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port
advertised.listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=$host:$controller_port
log.dirs=$data

# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1

# Tests: no delay before the first rebalance, topics made on first use.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
num.partitions=3
EOF
}

format_storage() {
  [[ -f "$data/meta.properties" ]] && return 0
  local id
  if [[ -s "$cluster_id_file" ]]; then
    id="$(cat "$cluster_id_file")"
  else
    # What `StorageTool random-uuid` prints (16 random bytes, URL-safe base64, no padding),
    # without starting a JVM; like Kafka, avoid an id that starts with '-'.
    id=-
    while [[ "$id" == -* ]]; do
      id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    done
    printf '%s\n' "$id" >"$cluster_id_file"
  fi
  say "formatting $data (cluster id $id)"
  run_class kafka.tools.StorageTool format --standalone -t "$id" -c "$conf" \
    --ignore-formatted >&2
}

tail_log() {
  if [[ -f "$logfile" ]]; then
    say "last lines of $logfile:"
    tail -n 60 "$logfile" >&2
  fi
}

# Waits until the broker answers metadata and its group and transaction coordinators are
# available (so a test's first consumer group or transactional producer does not meet
# COORDINATOR_NOT_AVAILABLE); fails if the broker dies or the time runs out.
wait_ready() {
  local pid="$1" t0="$2" deadline=$((SECONDS + start_timeout)) serving=0
  while ((SECONDS < deadline)); do
    if ! alive "$pid"; then
      tail_log
      rm -f "$pidfile"
      die "broker (pid $pid) exited during startup"
    fi
    if ((!serving)) && port_open "$port" && probe; then
      serving=1
      say "answering metadata after $(since "$t0") s; waiting for the coordinators"
    fi
    if ((serving)) && coordinators_ready; then
      say "ready on $host:$port (pid $pid) after $(since "$t0") s"
      return 0
    fi
    sleep 0.2
  done
  tail_log
  die "broker (pid $pid) not ready after ${start_timeout} s; still running, see $logfile"
}

start() {
  local t0 pid
  t0="$(now)"
  if pid="$(broker_pid)"; then
    if probe && coordinators_ready; then
      say "already running on $host:$port (pid $pid)"
      return 0
    fi
    say "already started (pid $pid), waiting for it to answer"
    wait_ready "$pid" "$t0"
    return 0
  fi
  rm -f "$pidfile"
  for p in "$port" "$controller_port"; do
    port_open "$p" && die "port $host:$p is taken by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
  done

  need java "to run Kafka"
  fetch
  write_config
  format_storage

  [[ -f "$logfile" ]] && mv -f "$logfile" "$logfile.1"
  # setsid: the broker does not share the caller's process group, so it outlives a shell or
  # test runner that signals its own group. The inner shell writes its pid, then becomes java.
  # shellcheck disable=SC2016,SC2086  # the JVM option variables are meant to be split
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
    java $heap_opts -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$log4j_conf" \
    ${KAFKA_JVM_OPTS:-} -cp "$lib/*" kafka.Kafka "$conf" \
    </dev/null >"$logfile" 2>&1 &
  # Wait (briefly) for the pid file the inner shell writes.
  local i
  for ((i = 0; i < 50; i++)); do
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    [[ -n "$pid" ]] && break
    sleep 0.1
  done
  [[ -n "$pid" ]] || die "broker did not start (no pid file)"
  say "started broker (pid $pid), log $logfile"
  wait_ready "$pid" "$t0"
}

# ----------------------------------------------------------------------------------- stop ---

stop() {
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$pidfile"
    say "not running"
    return 0
  fi
  local t0 deadline
  t0="$(now)"
  deadline=$((SECONDS + stop_timeout))
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$pid"; then
    say "pid $pid still running after ${stop_timeout} s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  # A process counted as gone (a zombie) can still be releasing its sockets: stopped means
  # the ports are free for the next start.
  local free_deadline=$((SECONDS + 10))
  while { port_open "$port" || port_open "$controller_port"; } && ((SECONDS < free_deadline)); do sleep 0.1; done
  rm -f "$pidfile"
  say "stopped (pid $pid) in $(since "$t0") s"
}

status() {
  local pid
  if ! pid="$(broker_pid)"; then
    say "not running"
    return 3
  fi
  if probe; then
    say "running on $host:$port (pid $pid), answering metadata requests"
    return 0
  fi
  say "running (pid $pid) but not answering on $host:$port"
  return 1
}

reset() {
  stop
  rm -rf "$data" "$cluster_id_file"
  say "deleted $data"
}

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start) start ;;
  stop) stop ;;
  restart) stop && start ;;
  status) status ;;
  reset) reset ;;
  fetch) fetch ;;
  run-class) [[ $# -gt 0 ]] || usage; run_class "$@" ;;
  *) usage ;;
esac
