#!/usr/bin/env bash
# Benchmark (not a test): instructions per request, counted by valgrind's
# callgrind, for the routes of bench/product-catalog.sh on sales-host and on
# native-baseline. Counts do not drift with the machine's speed or load the
# way requests/s do, so they compare two builds of the host exactly (the
# kernel's share, sockets and wake-ups, is not counted: a throughput ratio
# is better than the instruction ratio).
#
# Each server runs under callgrind (sales-host with tests/guests/spin.toml,
# which serves both the product mock and the probe guest, and a pool of two
# instances: valgrind cannot reserve the default pool's address space). Per
# route: a few warm-up requests, counters zeroed, wrk with one connection for
# BENCH_DURATION, counters dumped; the process's instructions divided by the
# requests wrk counted.
#
# Settings (environment): BENCH_DURATION (10s). Results: stdout and
# bench/results/instructions-<time>.txt.
BENCH_DURATION="${BENCH_DURATION:-10s}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
    log "installing valgrind"
    DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind >&2
fi

prepare

# callgrind_control finds a process by its pid; the dumps go to $work.
callgrind() { echo "valgrind --tool=callgrind --dump-instr=no --callgrind-out-file=$work/$1.callgrind"; }

bench_db="sales_bench_$(tr -d '-' </proc/sys/kernel/random/uuid)"
psql -h 127.0.0.1 -U root -d postgres -qc "CREATE DATABASE $bench_db"
databases+=("$bench_db")
BENCH_HOST_WRAPPER="$(callgrind host)" BENCH_START_TIMEOUT=600 BENCH_MANIFEST=tests/guests/spin.toml \
    launch_host host --migrations "$root/migrations" --max-instances 2

log "starting native-baseline under callgrind"
# shellcheck disable=SC2046 # the command line is words
BENCH_START_TIMEOUT=600 launch_native $(callgrind native)

product_id="$(cat /proc/sys/kernel/random/uuid)"
stock_key="product-catalog:stock:$product_id"
curl -fsS -X PUT -H 'content-type: application/json' \
    -d '{"available_quantity":5}' "http://$host_addr/product-service/products/$product_id" >/dev/null

# count NAME PID URL: sets ir (instructions), requests and per_request.
count() {
    local name="$1" pid="$2" url="$3" dump before
    for _ in 1 2 3 4 5; do curl -fsS "$url" >/dev/null; done
    callgrind_control -z "$pid" >/dev/null
    before="$(ls "$work" | grep -c '\.callgrind\.' || true)"
    log "counting $name: wrk -t1 -c1 -d$duration $url"
    wrk -t1 -c1 -d"$duration" "$url" >"$work/wrk-$name.txt"
    grep -q 'Non-2xx or 3xx responses' "$work/wrk-$name.txt" && die "$name answered errors"
    callgrind_control -d "$pid" >/dev/null
    # The dump is written by the profiled process itself: wait for it.
    for _ in $(seq 1 100); do
        (($(ls "$work" | grep -c '\.callgrind\.' || true) > before)) && break
        sleep 0.2
    done
    dump="$(ls -t "$work"/*.callgrind.* | head -1)"
    ir="$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
    requests="$(awk '/requests in/ {print $1}' "$work/wrk-$name.txt")"
    [[ -n "$ir" && -n "$requests" && "$requests" -gt 0 ]] || die "no count for $name"
    per_request=$((ir / requests))
}

results="$(results_file instructions)"
{
    echo "Instructions per request (callgrind), wrk -t1 -c1 -d$duration each"
    results_header
    echo
    printf "%-44s %-16s %9s %16s %12s\n" route server requests instructions per-request
    for row in \
        "product GET|sales-host|$host_pid|http://$host_addr/product-service/products/$product_id" \
        "product GET|native-baseline|$native_pid|http://$native_addr/product-service/products/$product_id" \
        "trivial, no I/O (/probe/headers, /headers)|sales-host|$host_pid|http://$host_addr/probe/headers" \
        "trivial, no I/O (/probe/headers, /headers)|native-baseline|$native_pid|http://$native_addr/headers"; do
        IFS='|' read -r route server pid url <<<"$row"
        count "$server" "$pid" "$url"
        printf "%-44s %-16s %9d %16d %12d\n" "$route" "$server" "$requests" "$ir" "$per_request"
    done
} | tee "$results"
redis-cli -h 127.0.0.1 DEL "$stock_key" >/dev/null
log "results written to $results"
