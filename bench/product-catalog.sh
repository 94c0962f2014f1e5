#!/usr/bin/env bash
# Benchmark (not a test): requests/s and p50/p99 latency of
# `GET /product-service/products/:id` served by `sales-host` (the
# product-catalog component, sandboxed) and by `native-baseline` (a trivial
# native hyper handler doing the same Redis GET), both at concurrency 32. The
# throughput ratio component/native is the cost of the sandbox.
#
# Needs Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432 (the host
# migrates its database at start-up): `scripts/services.sh` starts them.
# Results go to stdout and to bench/results/product-catalog-<date>.txt.
#
# Settings (environment): BENCH_DURATION (default 10s), BENCH_CONNECTIONS (32),
# BENCH_THREADS (2), BENCH_WARMUP (3s).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# spin.toml names the component under target/, so build there.
export CARGO_TARGET_DIR="$root/target"

duration="${BENCH_DURATION:-10s}"
connections="${BENCH_CONNECTIONS:-32}"
threads="${BENCH_THREADS:-2}"
warmup="${BENCH_WARMUP:-3s}"
redis_url="redis://127.0.0.1:6379"

work="$(mktemp -d)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

install_wrk() {
    command -v wrk >/dev/null && return
    log "installing wrk"
    local sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2; then
        "${sudo[@]}" apt-get update >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2
    fi
}

# Waits until `file` has a line matching `pattern` (an extended regex) and
# prints it; fails if process `pid` exits first or after `timeout` seconds.
wait_for_line() {
    local file="$1" pattern="$2" pid="$3" timeout="$4" what="$5" line
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if line="$(grep -m1 -E "$pattern" "$file" 2>/dev/null)"; then
            printf '%s\n' "$line"
            return
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    log "$what did not start; its output:"
    cat "$work"/*.out "$work"/*.err >&2 2>/dev/null || true
    die "$what did not report its address within ${timeout}s"
}

# Converts a wrk latency ("812.00us", "1.23ms", "2.01s") to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000
        else if (v ~ /ms$/) n = n
        else if (v ~ /m$/) n *= 60000
        else if (v ~ /s$/) n *= 1000
        printf "%.3f", n
    }'
}

# Runs wrk against `url`; sets rps, p50_ms and p99_ms. Fails if any response
# was not a 2xx: the figures of a benchmark of errors mean nothing.
measure() {
    local name="$1" url="$2" out="$work/wrk-$1.txt"
    log "measuring $name: wrk -t$threads -c$connections -d$duration --latency $url"
    wrk -t"$threads" -c"$connections" -d"$duration" --latency "$url" >"$out"
    cat "$out" >&2
    if grep -qE 'Non-2xx or 3xx responses' "$out"; then
        die "$name answered errors during the run (see above)"
    fi
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50_ms="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99_ms="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    [[ -n "$rps" ]] || die "could not read requests/s from wrk's output"
}

install_wrk
if command -v redis-cli >/dev/null; then
    redis-cli -u "$redis_url" ping >/dev/null 2>&1 || die "redis is not answering at $redis_url (run scripts/services.sh)"
fi

log "building"
cargo build --release -p sales-host -p native-baseline >&2
cargo build --target wasm32-wasip2 --release -p product-catalog >&2
# The host loads every component spin.toml names, not only the one measured.
target/release/sales-host build --manifest spin.toml >&2

log "starting sales-host"
DATABASE_URL=postgres://root@127.0.0.1:5432/postgres \
    REDIS_URL="$redis_url" \
    RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/%2f \
    KAFKA_BROKERS=127.0.0.1:9092 \
    JWT_SECRET=bench-secret \
    target/release/sales-host up --listen 127.0.0.1:0 --manifest spin.toml \
    >"$work/host.out" 2>"$work/host.err" &
host_pid=$!
pids+=("$host_pid")
line="$(wait_for_line "$work/host.out" '"message":"listening"' "$host_pid" 120 sales-host)"
host_addr="$(printf '%s\n' "$line" | sed -nE 's/.*"addr":"([^"]+)".*/\1/p')"
[[ -n "$host_addr" ]] || die "no \"addr\" in sales-host's line: $line"

log "starting native-baseline"
REDIS_URL="$redis_url" target/release/native-baseline --listen 127.0.0.1:0 \
    >"$work/native.out" 2>"$work/native.err" &
native_pid=$!
pids+=("$native_pid")
line="$(wait_for_line "$work/native.out" '^listening on ' "$native_pid" 30 native-baseline)"
native_addr="${line#listening on }"

product_id="$(cat /proc/sys/kernel/random/uuid)"
path="/product-service/products/$product_id"
host_url="http://$host_addr$path"
native_url="http://$native_addr$path"

log "setting the stock of product $product_id through sales-host"
curl -fsS -X PUT -H 'content-type: application/json' \
    -d '{"available_quantity":5}' "$host_url" >/dev/null
host_body="$(curl -fsS "$host_url")"
native_body="$(curl -fsS "$native_url")"
[[ "$host_body" == "$native_body" ]] ||
    die "the two servers disagree: sales-host $host_body, native-baseline $native_body"

log "warming up ($warmup each)"
wrk -t"$threads" -c"$connections" -d"$warmup" "$host_url" >/dev/null
wrk -t"$threads" -c"$connections" -d"$warmup" "$native_url" >/dev/null

measure component "$host_url"
c_rps="$rps" c_p50="$p50_ms" c_p99="$p99_ms"
measure native "$native_url"
n_rps="$rps" n_p50="$p50_ms" n_p99="$p99_ms"

mkdir -p bench/results
results="bench/results/product-catalog-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
{
    echo "GET /product-service/products/:id, wrk -t$threads -c$connections -d$duration"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "machine: $(nproc) CPUs, $(uname -sr)"
    echo
    awk -v c_rps="$c_rps" -v c_p50="$c_p50" -v c_p99="$c_p99" \
        -v n_rps="$n_rps" -v n_p50="$n_p50" -v n_p99="$n_p99" 'BEGIN {
        printf "%-26s %12s %10s %10s\n", "server", "requests/s", "p50 ms", "p99 ms"
        printf "%-26s %12.0f %10.3f %10.3f\n", "sales-host (component)", c_rps, c_p50, c_p99
        printf "%-26s %12.0f %10.3f %10.3f\n", "native-baseline", n_rps, n_p50, n_p99
        printf "%-26s %12.3f %10.3f %10.3f\n", "ratio component/native", \
            c_rps / n_rps, (n_p50 > 0 ? c_p50 / n_p50 : 0), (n_p99 > 0 ? c_p99 / n_p99 : 0)
    }'
} | tee "$results"
log "results written to $results"
