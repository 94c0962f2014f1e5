#!/usr/bin/env bash
# Benchmark (not a test): the events around sales-host, in one run.
#
# 1. Commit to arrival, under the POST peak load: an exclusive auto-delete
#    queue bound to the orders.created exchange (key order.created) and a
#    Kafka reader of order-events from its end (no consumer group) record when
#    each OrderCreated arrives, while wrk POSTs /api/v1/orders at the
#    concurrency of the peak in bench/orders-api.sh (64) for BENCH_DURATION.
#    Per broker: arrival minus the order's commit, p50/p99/max. The commit
#    time is Postgres's own (pg_xact_commit_timestamp of the order's
#    transaction): the run turns track_commit_timestamp on for itself, which
#    takes a restart of Postgres before and another after, to put it back
#    (BENCH_COMMIT_TIMESTAMPS=0: neither). Beside it, as before, arrival from
#    the outbox row's created_at (the statement's now(), before the commit)
#    and from the moment its 201 reached wrk (after it); without commit
#    timestamps the target is judged on the figure from created_at. The
#    outbox backlog (published_at IS NULL) is taken at the start and the end
#    of the load and every second during it. Two snapshots of every thread's
#    scheduler counters (/proc schedstat), at the start and the end of the
#    load, give each program's CPU time and its threads' wait for a CPU: on
#    two CPUs shared by everything, the relay's tail follows that wait.
# 2. Consumer throughput: BENCH_EVENTS OrderShipped/OrderDelivered envelopes
#    (BENCH_DUPLICATES of them exact duplicates, same event_id and body, each
#    after its original) to the queues the host consumes, until the host has
#    handled (acked) every message and recorded every unique event. Half the
#    orders are pending and get OrderShipped, half are already shipped and get
#    OrderDelivered, so no delivery waits for its shipment on the other queue
#    (that is retried after 5 s by contract, and would measure the retry
#    delay). Twice, with fresh orders and events each time:
#    a. live: published as fast as one publisher goes while the host
#       consumes, timed from the first publish. The publisher takes a core of
#       the machine's two for most of it, so this is not the consumer's own
#       figure; it is reported beside the other one for information.
#    b. prefilled (the figure the target is judged on): the host is stopped
#       (SIGTERM; its queues are durable and stay), everything is published
#       and the queues' depths checked, then the host is started again on the
#       same database and manifest (log: host2.out) and timed on its own log,
#       from its first "consuming" line to its last "message handled" line.
#       The start-up before the first "consuming" line is reported apart.
#
# The host consumes renamed queues (orders.shipped.<run>, ...) so that it
# takes nothing from the tests or a running service; they are deleted at the
# end. Results: stdout and bench/results/messaging-<time>.txt.
#
# Settings (environment): BENCH_DURATION (20s), BENCH_CONNECTIONS (64),
# BENCH_THREADS (2), BENCH_EVENTS (10000), BENCH_DUPLICATES (0.2),
# BENCH_DRAIN_TIMEOUT (120: seconds to wait for the outbox to empty after
# the load; events not arrived by then count as never arrived),
# BENCH_NO_BUILD (set: skip scripts/services.sh and scripts/build.sh, for
# reruns on an unchanged tree), BENCH_COMMIT_TIMESTAMPS (1; 0: no Postgres
# restart, arrival from created_at only), BENCH_FRESH_TANSU (1: tansu
# restarted empty before the run; 0: the running one), BENCH_KEEP_LOGS (a directory: the hosts' logs and the raw figures are
# copied there at the end), BENCH_KAFKA_LISTENER (native: bench/listeners'
# kafka-listener, librdkafka, the default; python: kafka-python, the listener
# of the runs before 2026-12-06, which under this load added its own delay:
# see bench/results/kafka-listener-ab-2026-12-06.txt), BENCH_AMQP_LISTENER
# (python: pika, the default, the listener of every run so far; native:
# bench/listeners' amqp-listener, lapin, which keeps up where pika sometimes
# lags but, bound, makes the relay's own tail worse, so the target's figure
# (both acked) is taken with pika: see
# bench/results/amqp-listener-ab-2026-12-06.txt).
BENCH_DURATION="${BENCH_DURATION:-20s}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kafka_listener="${BENCH_KAFKA_LISTENER:-native}"
amqp_listener="${BENCH_AMQP_LISTENER:-python}"
# Checked now, before the run restarts any service.
for listener in "BENCH_KAFKA_LISTENER=$kafka_listener" "BENCH_AMQP_LISTENER=$amqp_listener"; do
    [[ "${listener#*=}" == native || "${listener#*=}" == python ]] ||
        die "${listener%%=*}: native or python, not ${listener#*=}"
done
command_line="bench/messaging.sh (BENCH_DURATION=$duration BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64} BENCH_THREADS=$threads BENCH_EVENTS=${BENCH_EVENTS:-10000} BENCH_DUPLICATES=${BENCH_DUPLICATES:-0.2} BENCH_KAFKA_LISTENER=$kafka_listener BENCH_AMQP_LISTENER=$amqp_listener)"
# Where the relay sends each OrderCreated (CONTRACT.md, "Events"): the topic
# of every event, and RabbitMQ's exchange and routing key.
kafka_topic=order-events
amqp_exchange=orders.created
amqp_routing_key=order.created
# bench/messaging.py's publishers and pika listener connect here.
export BENCH_AMQP_URL="$amqp_url"
connections="${BENCH_CONNECTIONS:-64}"
events="${BENCH_EVENTS:-10000}"
duplicates="${BENCH_DUPLICATES:-0.2}"
drain_timeout="${BENCH_DRAIN_TIMEOUT:-120}"
loadavg_start="$(cut -d" " -f1-3 /proc/loadavg)"

# The consumers' and the publisher's Python libraries, once, in a venv.
venv="$root/target/bench-venv"
py="$venv/bin/python"
install_python_clients() {
    if [[ -x "$py" ]] && "$py" -c 'import pika, kafka' 2>/dev/null; then return; fi
    log "installing pika and kafka-python into $venv"
    python3 -m venv "$venv" >&2
    "$py" -m pip install -q 'pika==1.4.4' 'kafka-python==3.0.12' >&2
}

if [[ -n "${BENCH_NO_BUILD:-}" ]]; then install_wrk; else prepare; fi
install_python_clients

# Nothing else may be bound to the exchange: a forgotten listener or a test's
# queue takes every OrderCreated too, and RabbitMQ's time with it (a stray
# listener spoilt a series of runs on 2026-12-06). Checked before the run
# restarts any service.
bindings="$(rabbitmqctl -q list_bindings source_name destination_name)" ||
    die "rabbitmqctl list_bindings failed: cannot tell what else is bound to $amqp_exchange"
foreign="$(awk -v exchange="$amqp_exchange" '$1 == exchange { printf " %s", $2 }' <<<"$bindings")"
[[ -z "$foreign" ]] ||
    die "queues already bound to $amqp_exchange:$foreign (stop what consumes them, or delete them, and run again)"

# Exact commit times: with track_commit_timestamp on, Postgres keeps each
# transaction's commit time. The setting takes a server restart, so it is
# turned on below, before any host connects, and put back at the end.
pg_cluster="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)"
pg_restart() {
    # Through Python, whose child inherits no descriptor beyond stdio: the
    # new postmaster would otherwise keep the caller's open files, such as
    # the lock a `flock ... bench/messaging.sh` holds, for as long as it runs.
    python3 -c 'import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)' \
        pg_ctlcluster --skip-systemctl-redirect "$pg_cluster" main restart >&2 ||
        die "pg_ctlcluster $pg_cluster main restart failed"
    for _ in $(seq 1 150); do
        psql_server 'select 1' >/dev/null 2>&1 && return
        sleep 0.2
    done
    die "postgres did not come back after a restart"
}
helper() { "$py" "$root/bench/messaging.py" "$@"; }
psql_bench() { psql -h 127.0.0.1 -U root -d "$bench_db" -X -qAt -c "$1"; }
psql_server() { psql -h 127.0.0.1 -U root -d postgres -X -qAt -c "$1"; }

# The application's manifest with its consumed queues renamed for this run
# and its sources absolute (it lives in $work).
run_id="bench$(tr -d '-' </proc/sys/kernel/random/uuid | cut -c1-12)"
shipped_queue="orders.shipped.$run_id"
delivered_queue="orders.delivered.$run_id"
sed -E -e "s|^queue = \"([^\"]+)\"|queue = \"\\1.$run_id\"|" \
    -e "s|^source = \"([^/][^\"]*)\"|source = \"$root/\\1\"|" spin.toml >"$work/spin.toml"
grep -q "queue = \"$shipped_queue\"" "$work/spin.toml" || die "orders.shipped not found in spin.toml"
grep -q "queue = \"$delivered_queue\"" "$work/spin.toml" || die "orders.delivered not found in spin.toml"

user="$(cat /proc/sys/kernel/random/uuid)"
product="$(cat /proc/sys/kernel/random/uuid)"
bench_cleanup() {
    # The host first (it would redeclare the queues), then lib.sh's cleanup.
    # host_pid is whichever host runs: the first one, or the one started for
    # the prefilled run (stop_host empties it between the two).
    if [[ -n "${host_pid:-}" ]]; then kill "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
    helper delete-queues "$shipped_queue" "$delivered_queue" 2>/dev/null || true
    if [[ -n "${BENCH_KEEP_LOGS:-}" ]]; then
        mkdir -p "$BENCH_KEEP_LOGS" && cp -r "$work"/. "$BENCH_KEEP_LOGS"/ && log "kept $work in $BENCH_KEEP_LOGS"
    fi
    redis-cli -h 127.0.0.1 --scan --pattern "orders-api:idempotency:$user:*" | xargs -r redis-cli -h 127.0.0.1 DEL >/dev/null 2>&1 || true
    redis-cli -h 127.0.0.1 DEL "product-catalog:stock:$product" >/dev/null 2>&1 || true
    # Both consumer runs' orders (consumer-orders.txt, consumer-orders-prefilled.txt).
    for orders in "$work"/consumer-orders*.txt; do
        [[ -s "$orders" ]] || continue
        sed 's/^/orders-api:order:/' "$orders" | xargs -r -n 500 redis-cli -h 127.0.0.1 DEL >/dev/null 2>&1 || true
    done
    cleanup
    if [[ -n "${restore_commit_timestamps:-}" ]]; then
        log "postgres: track_commit_timestamp back off (a restart)"
        psql_server 'ALTER SYSTEM RESET track_commit_timestamp' || true
        pg_restart
    fi
}
trap bench_cleanup EXIT

# Before any host connects (a restart would cut its connections).
# tansu's in-memory storage slows down as it fills: after a day of tests and
# runs (520 MB resident) the Kafka listener saw events 274 ms (p50) after
# their commit, 69 ms right after a restart. So the run starts it empty
# (BENCH_FRESH_TANSU=0: not), and scripts/services.sh creates the topic.
if [[ "${BENCH_FRESH_TANSU:-1}" != 0 ]]; then
    log "tansu: restarting it empty"
    pkill -f '[t]ansu broker' || true
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/${kafka_brokers%:*}/${kafka_brokers##*:}") 2>/dev/null || break
        sleep 0.1
    done
    scripts/services.sh >&2
fi
commit_timestamps=off
restore_commit_timestamps=
if [[ "${BENCH_COMMIT_TIMESTAMPS:-1}" != 0 ]]; then
    if [[ "$(psql_server 'SHOW track_commit_timestamp')" != on ]]; then
        log "postgres: track_commit_timestamp on for this run (a restart now, another at the end)"
        restore_commit_timestamps=1
        psql_server 'ALTER SYSTEM SET track_commit_timestamp = on'
        pg_restart
    fi
    commit_timestamps=on
fi

JWT_SECRET="bench-secret-$RANDOM$RANDOM"
runtime_config=()
[[ -f runtime-config.toml ]] && runtime_config=(--runtime-config-file "$root/runtime-config.toml")
host_args=(--migrations "$root/migrations" "${runtime_config[@]}")
BENCH_MANIFEST="$work/spin.toml" start_host "${host_args[@]}"
log "sales-host on $host_addr, database $bench_db, queues $shipped_queue $delivered_queue"

# Stops the running host as an operator would (SIGTERM, then it drains and
# exits); fails if it is still there after 30 s. The durable queues stay.
stop_host() {
    local pid="$host_pid" status=0 deadline=$((SECONDS + 30)) p kept=()
    kill -TERM "$pid"
    # kill -0 succeeds on a zombie too: the state tells an exited child.
    while [[ -r "/proc/$pid/stat" && "$(sed -E 's/.*\) (.).*/\1/' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; do
        ((SECONDS < deadline)) || die "sales-host ($pid) still running 30 s after SIGTERM"
        sleep 0.1
    done
    wait "$pid" || status=$?
    ((status == 0)) || log "sales-host exited with status $status after SIGTERM"
    # Reaped: out of the cleanups' way (its pid may be reused).
    host_pid=""
    for p in "${pids[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
    pids=("${kept[@]}")
}

token="$(python3 - "$JWT_SECRET" "$user" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret, sub = sys.argv[1], sys.argv[2]
enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = enc(json.dumps({"sub": sub, "exp": int(time.time()) + 3600}).encode())
sig = enc(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)"
base="http://$host_addr"
curl -fsS -X PUT -d '{"available_quantity":1000000000}' "$base/product-service/products/$product" >/dev/null
export BENCH_USER="$user" BENCH_PRODUCT="$product" BENCH_TOKEN="$token"

# Waits until the outbox has nothing unpublished; prints the seconds it took.
wait_drained() {
    local started="$EPOCHREALTIME" limit="$1" n
    while :; do
        n="$(psql_bench "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
        if [[ "$n" == 0 ]]; then
            awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
            return
        fi
        if awk -v a="$started" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
            log "the outbox still holds $n unpublished events after ${limit}s"
            echo "not-drained"
            return
        fi
        sleep 0.2
    done
}

# 1. Commit to arrival. The listeners first: the relay publishes OrderCreated
# with `mandatory` set, so while no queue is bound to orders.created every
# event is refused (NO_ROUTE) and the relay stops at the oldest, Kafka too.
# Started directly (not through a shell function) so that $! is the
# listener's pid and SIGTERM reaches it.
amqp_listener_args=(--exchange "$amqp_exchange" --routing-key "$amqp_routing_key"
    --out "$work/amqp.txt" --ready "$work/amqp.ready")
if [[ "$amqp_listener" == native ]]; then
    target/release/amqp-listener --url "$amqp_url" "${amqp_listener_args[@]}" &
else
    "$py" bench/messaging.py amqp-listen "${amqp_listener_args[@]}" &
fi
amqp_pid=$!
pids+=("$amqp_pid")
if [[ "$kafka_listener" == native ]]; then
    target/release/kafka-listener --bootstrap "$kafka_brokers" --topic "$kafka_topic" \
        --out "$work/kafka.txt" --ready "$work/kafka.ready" &
else
    "$py" bench/messaging.py kafka-listen --bootstrap "$kafka_brokers" --topic "$kafka_topic" \
        --out "$work/kafka.txt" --ready "$work/kafka.ready" &
fi
kafka_pid=$!
pids+=("$kafka_pid")
for ready in amqp kafka; do
    for _ in $(seq 1 150); do [[ -f "$work/$ready.ready" ]] && break; sleep 0.2; done
    [[ -f "$work/$ready.ready" ]] || die "the $ready listener did not start"
done
# Warm-up (component instances, connections, the relay), then an empty outbox.
export BENCH_RUN="warmup-$RANDOM$RANDOM"
# Gently (c=4, 1 s): its events must be relayed before the measurement.
log "warm-up: wrk -t$threads -c4 -d1s"
wrk -t"$threads" -c4 -d1s -s bench/post-order.lua "$base/api/v1/orders" >"$work/wrk-warmup.txt"
warmup_drained="$(wait_drained "$drain_timeout")"
log "warm-up events relayed after ${warmup_drained}s"
after_id="$(psql_bench "SELECT coalesce(max(id), 0) FROM outbox")"

"$py" bench/messaging.py sample-backlog --db "$bench_db" --out "$work/backlog.txt" &
sampler_pid=$!
pids+=("$sampler_pid")

export BENCH_RUN="arrival-$RANDOM$RANDOM" BENCH_TIMES_DIR="$work/times"
mkdir -p "$BENCH_TIMES_DIR"
backlog_start="$(psql_bench "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
# The host's /metrics around the load: where the relay's time went.
curl -fsS "$base/metrics" >"$work/metrics-before.txt"
# And the machine's: who had the CPUs, who waited for them.
helper cpu-snapshot --out "$work/cpu-before.json"
load_start="$EPOCHREALTIME"
measure "post-c$connections" "$connections" "$base/api/v1/orders" -s bench/post-order-timed.lua
load_end="$EPOCHREALTIME"
helper cpu-snapshot --out "$work/cpu-after.json"
curl -fsS "$base/metrics" >"$work/metrics-after.txt"
backlog_end="$(psql_bench "SELECT count(*) FROM outbox WHERE published_at IS NULL")"
post_rps="$rps" post_p50="$p50_ms" post_p99="$p99_ms"
drained_after="$(wait_drained "$drain_timeout")"
sleep 2 # the last events' way from the brokers to the listeners
# The RabbitMQ listener stays (its queue bound) until the end: without it the
# relay would be refused again and stop relaying altogether.
for pid in "$kafka_pid" "$sampler_pid"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "$kafka_pid" "$sampler_pid"; do wait "$pid" 2>/dev/null || true; done
drained_arg=()
[[ "$drained_after" != not-drained ]] && drained_arg=(--drained-after "$drained_after")
helper report --db "$bench_db" --after-id "$after_id" --times-dir "$BENCH_TIMES_DIR" \
    --amqp "$work/amqp.txt" --kafka "$work/kafka.txt" --backlog "$work/backlog.txt" \
    --load-start "$load_start" --load-end "$load_end" \
    --backlog-start "$backlog_start" --backlog-end "$backlog_end" "${drained_arg[@]}" \
    --commit-timestamps "$commit_timestamps" --out "$work/arrival.json"

# 2. Consumer throughput. a. live: published while the host consumes.
log "consumer, live: $events status events ($duplicates duplicates) to $shipped_queue and $delivered_queue"
helper consumer --db "$bench_db" --shipped-queue "$shipped_queue" --delivered-queue "$delivered_queue" \
    --host-log "$work/host.out" --events "$events" --duplicates "$duplicates" \
    --orders-out "$work/consumer-orders.txt" --out "$work/consumer.json"
if [[ "$drained_after" != not-drained ]]; then
    consumer_drained="$(wait_drained "$drain_timeout")"
else
    consumer_drained="not-waited (the load's backlog was still draining)"
fi

# b. prefilled: everything published while no host consumes, then the host
# started on the full queues. The orders.created listener stays bound, as in
# the live run, so that the relay of the new host publishes the same way.
log "consumer, prefilled: stopping sales-host ($host_pid)"
stop_host
log "consumer, prefilled: $events status events ($duplicates duplicates) to $shipped_queue and $delivered_queue, no host running"
helper consumer-fill --db "$bench_db" --shipped-queue "$shipped_queue" --delivered-queue "$delivered_queue" \
    --events "$events" --duplicates "$duplicates" \
    --orders-out "$work/consumer-orders-prefilled.txt" --out "$work/prefilled-fill.json"
# Who has the CPUs while the host works through the full queues: the host,
# Postgres, RabbitMQ, tansu (the relay's OrderStatusChanged events).
helper cpu-snapshot --out "$work/cpu-prefilled-before.json"
BENCH_MANIFEST="$work/spin.toml" launch_host host2 "${host_args[@]}"
log "consumer, prefilled: sales-host ($host_pid) started again on $host_addr, database $bench_db"
helper consumer-drain --db "$bench_db" --shipped-queue "$shipped_queue" --delivered-queue "$delivered_queue" \
    --host-log "$work/host2.out" --host-pid "$host_pid" --host-started "$host_started" \
    --fill "$work/prefilled-fill.json" --out "$work/prefilled.json"
helper cpu-snapshot --out "$work/cpu-prefilled-after.json"
if [[ "$drained_after" != not-drained ]]; then
    prefilled_drained="$(wait_drained "$drain_timeout")"
else
    prefilled_drained="not-waited (the load's backlog was still draining)"
fi
# The relay's share of the prefilled run's work (bench/messaging.py
# relay-runs), from the second host's /metrics.
curl -fsS "http://$host_addr/metrics" >"$work/metrics-prefilled.txt"
loadavg_end="$(cut -d" " -f1-3 /proc/loadavg)"
kill -TERM "$amqp_pid" 2>/dev/null || true
wait "$amqp_pid" 2>/dev/null || true

results="$(results_file messaging)"
{
    echo "Messaging on sales-host: $command_line"
    results_header
    echo "working tree: $(git status --porcelain --untracked-files=no | wc -l) tracked files modified (built as they are)"
    echo "load average (1/5/15 min) before: $loadavg_start; after: $loadavg_end"
    echo
    helper summary --arrival "$work/arrival.json" --consumer "$work/consumer.json" \
        --prefilled "$work/prefilled.json" \
        --connections "$connections" --duration "$duration" --threads "$threads" \
        --post "$post_rps $post_p50 $post_p99" --consumer-drained "$consumer_drained" \
        --prefilled-drained "$prefilled_drained" \
        --relay-failures "$(cat "$work/host.out" "$work/host2.out" | grep -c '"outbox relay stopped' || true)" \
        --broker-interruptions "$(cat "$work/host.out" "$work/host2.out" | grep -c '"amqp connection failed"' || true)"
    helper relay-runs --metrics "$work/metrics-prefilled.txt"
    helper relay-breakdown --before "$work/metrics-before.txt" --after "$work/metrics-after.txt"
    helper cpu-share --before "$work/cpu-before.json" --after "$work/cpu-after.json" \
        --not-counted "; wrk, gone by the second snapshot, is not counted"
    helper cpu-share --before "$work/cpu-prefilled-before.json" --after "$work/cpu-prefilled-after.json" \
        --during "while consuming the prefilled queues (the host's start to the last message handled)"
} | tee "$results"
log "results written to $results"
