# Sourced by the bench scripts: starting sales-host on a database of its own,
# running wrk, reading its figures. Benchmarks are not tests: they report.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

duration="${BENCH_DURATION:-10s}"
threads="${BENCH_THREADS:-2}"
warmup="${BENCH_WARMUP:-3s}"
redis_url="redis://127.0.0.1:6379"
# RabbitMQ and tansu (scripts/services.sh): the host's RABBITMQ_URL and
# KAFKA_BROKERS, and where the bench's listeners and publishers connect.
amqp_url="amqp://guest:guest@127.0.0.1:5672/%2f"
kafka_brokers="127.0.0.1:9092"

work="$(mktemp -d)"
pids=()
databases=()
cleanup() {
    local pid db
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for db in "${databases[@]}"; do
        psql -h 127.0.0.1 -U root -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

install_wrk() {
    command -v wrk >/dev/null && return
    log "installing wrk"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2; then
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2
    fi
}

# The same build as the tests and `scripts/up.sh` (one feature resolution,
# so nothing is compiled twice), and the services.
prepare() {
    install_wrk
    scripts/services.sh
    scripts/build.sh >&2
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

# Creates a database of its own and starts sales-host on it with the
# application's spin.toml (or BENCH_MANIFEST's, which then needs --migrations
# among the arguments); sets host_addr, host_pid and bench_db.
start_host() {
    bench_db="sales_bench_$(tr -d '-' </proc/sys/kernel/random/uuid)"
    psql -h 127.0.0.1 -U root -d postgres -qc "CREATE DATABASE $bench_db"
    databases+=("$bench_db")
    launch_host host "$@"
}

# launch_host NAME [args...]: starts sales-host on the existing $bench_db,
# output in $work/NAME.out and .err; sets host_pid (the EXIT trap stops it),
# host_addr and host_started (the epoch just before the process started).
# Logs at `warn`: a JSON line per request would measure the logger.
# BENCH_HOST_WRAPPER (words, e.g. a valgrind command line) runs the host
# under that command; host_pid is then the wrapper's.
launch_host() {
    local name="$1" line wrapper=()
    shift
    [[ -n "${BENCH_HOST_WRAPPER:-}" ]] && read -r -a wrapper <<<"$BENCH_HOST_WRAPPER"
    host_started="$EPOCHREALTIME"
    DATABASE_URL="postgres://root@127.0.0.1:5432/$bench_db" \
        REDIS_URL="$redis_url" \
        RABBITMQ_URL="$amqp_url" \
        KAFKA_BROKERS="$kafka_brokers" \
        JWT_SECRET="${JWT_SECRET:-bench-secret}" \
        RUST_LOG="warn,sales_host=info,sales_host::server=warn" \
        "${wrapper[@]}" target/release/sales-host up --listen 127.0.0.1:0 --manifest "${BENCH_MANIFEST:-spin.toml}" "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    host_pid=$!
    pids+=("$host_pid")
    line="$(wait_for_line "$work/$name.out" '"message":"listening"' "$host_pid" "${BENCH_START_TIMEOUT:-120}" sales-host)"
    host_addr="$(printf '%s\n' "$line" | sed -nE 's/.*"addr":"([^"]+)".*/\1/p')"
    [[ -n "$host_addr" ]] || die "no \"addr\" in sales-host's line: $line"
}

# launch_native [command words...]: starts native-baseline (under the
# command given, e.g. valgrind, if any), output in $work/native.out and
# .err; sets native_pid (the EXIT trap stops it) and native_addr.
launch_native() {
    local line
    REDIS_URL="$redis_url" "$@" target/release/native-baseline --listen 127.0.0.1:0 \
        >"$work/native.out" 2>"$work/native.err" &
    native_pid=$!
    pids+=("$native_pid")
    line="$(wait_for_line "$work/native.out" '^listening on ' "$native_pid" "${BENCH_START_TIMEOUT:-30}" native-baseline)"
    native_addr="${line#listening on }"
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

# measure NAME CONNECTIONS URL [wrk args...]: runs wrk; sets rps, p50_ms and
# p99_ms. Fails if any response was not a 2xx: the figures of a benchmark of
# errors mean nothing.
measure() {
    local name="$1" connections="$2" url="$3" out="$work/wrk-$1.txt"
    shift 3
    log "measuring $name: wrk -t$threads -c$connections -d$duration --latency $* $url"
    wrk -t"$threads" -c"$connections" -d"$duration" --latency "$@" "$url" >"$out"
    cat "$out" >&2
    if grep -qE 'Non-2xx or 3xx responses' "$out"; then
        die "$name answered errors during the run (see above)"
    fi
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50_ms="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99_ms="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    [[ -n "$rps" ]] || die "could not read requests/s from wrk's output"
}

# A results file under bench/results, named for the benchmark and the time.
results_file() {
    mkdir -p bench/results
    echo "bench/results/$1-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
}

results_header() {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "machine: $(nproc) CPUs, $(uname -sr); load generator on the same machine"
}
