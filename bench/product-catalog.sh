#!/usr/bin/env bash
# Benchmark (not a test): requests/s and p50/p99 latency of
# `GET /product-service/products/:id` served by `sales-host` (the
# product-catalog component, sandboxed) and by `native-baseline` (a trivial
# native hyper handler doing the same Redis GET), at concurrency 32. The
# throughput ratio component/native is the cost of the sandbox.
#
# Then the floor of that cost, in the same run: a component that does next
# to nothing (the probe guest's /probe/headers: it answers the request's
# headers as JSON, no I/O; on a second sales-host with tests/guests/spin.toml)
# against native-baseline's /headers doing the same. The component path can
# go no faster than its floor, whatever its guest does.
#
# Settings (environment): BENCH_DURATION (10s), BENCH_CONNECTIONS (32),
# BENCH_THREADS (2), BENCH_WARMUP (3s). Results: stdout and bench/results/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
connections="${BENCH_CONNECTIONS:-32}"

prepare
start_host

log "starting native-baseline"
launch_native

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

measure component "$connections" "$host_url"
c_rps="$rps" c_p50="$p50_ms" c_p99="$p99_ms"
measure native "$connections" "$native_url"
n_rps="$rps" n_p50="$p50_ms" n_p99="$p99_ms"
redis-cli -h 127.0.0.1 DEL "product-catalog:stock:$product_id" >/dev/null

log "the floor: a second sales-host with the probe guest"
kill "$host_pid" && wait "$host_pid" 2>/dev/null || true
BENCH_MANIFEST=tests/guests/spin.toml launch_host probe --migrations "$root/migrations"
probe_url="http://$host_addr/probe/headers"
native_headers_url="http://$native_addr/headers"
wrk -t"$threads" -c"$connections" -d"$warmup" "$probe_url" >/dev/null
wrk -t"$threads" -c"$connections" -d"$warmup" "$native_headers_url" >/dev/null
measure trivial-component "$connections" "$probe_url"
t_rps="$rps" t_p50="$p50_ms" t_p99="$p99_ms"
measure trivial-native "$connections" "$native_headers_url"
tn_rps="$rps" tn_p50="$p50_ms" tn_p99="$p99_ms"

results="$(results_file product-catalog)"
{
    echo "GET /product-service/products/:id, wrk -t$threads -c$connections -d$duration"
    results_header
    echo
    awk -v c_rps="$c_rps" -v c_p50="$c_p50" -v c_p99="$c_p99" \
        -v n_rps="$n_rps" -v n_p50="$n_p50" -v n_p99="$n_p99" \
        -v t_rps="$t_rps" -v t_p50="$t_p50" -v t_p99="$t_p99" \
        -v tn_rps="$tn_rps" -v tn_p50="$tn_p50" -v tn_p99="$tn_p99" 'BEGIN {
        row = "%-34s %12.0f %10.3f %10.3f\n"
        ratio = "%-34s %12.3f %10.3f %10.3f\n"
        printf "%-34s %12s %10s %10s\n", "server", "requests/s", "p50 ms", "p99 ms"
        printf row, "sales-host (component)", c_rps, c_p50, c_p99
        printf row, "native-baseline", n_rps, n_p50, n_p99
        printf ratio, "ratio component/native", \
            c_rps / n_rps, (n_p50 > 0 ? c_p50 / n_p50 : 0), (n_p99 > 0 ? c_p99 / n_p99 : 0)
        print ""
        print "the floor: /probe/headers (component) and /headers (native), no I/O"
        printf row, "sales-host (trivial component)", t_rps, t_p50, t_p99
        printf row, "native-baseline (trivial)", tn_rps, tn_p50, tn_p99
        printf ratio, "trivial component / Redis GET native", \
            t_rps / n_rps, (n_p50 > 0 ? t_p50 / n_p50 : 0), (n_p99 > 0 ? t_p99 / n_p99 : 0)
    }'
} | tee "$results"
log "results written to $results"
