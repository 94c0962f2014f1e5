#!/usr/bin/env bash
# Benchmark (not a test): the Orders API on sales-host, at concurrency 16 and
# 64 (and 32 for the cached GET target):
#   - POST /api/v1/orders (new key each request: product check over HTTP to
#     the mock, idempotency claim in Redis, order + outbox row in Postgres,
#     and the outbox relay publishing each event to RabbitMQ and Kafka);
#   - GET /api/v1/orders/:id served from the cache;
#   - the same order + outbox INSERT straight through pgbench with the host
#     stopped: the ceiling of what the database alone does on this machine;
# and the host's RSS at the end. Results: stdout and bench/results/.
#
# Settings (environment): BENCH_DURATION (10s), BENCH_THREADS (2).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -n "${BENCH_NO_BUILD:-}" ]]; then install_wrk; else prepare; fi
JWT_SECRET="bench-secret-$RANDOM$RANDOM"
start_host

user="$(cat /proc/sys/kernel/random/uuid)"
product="$(cat /proc/sys/kernel/random/uuid)"
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
declare -A R
for c in 16 64; do
    export BENCH_RUN="c$c-$RANDOM$RANDOM"
    measure "post-c$c" "$c" "$base/api/v1/orders" -s bench/post-order.lua
    R[post_$c]="$rps $p50_ms $p99_ms"
done

order_id="$(curl -fsS -X POST -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"idempotency_key\":\"get-$RANDOM$RANDOM\",\"user_id\":\"$user\",\"product_id\":\"$product\",\"quantity\":1}" \
    "$base/api/v1/orders" | python3 -c 'import json,sys; print(json.load(sys.stdin)["order_id"])')"
curl -fsS -H "authorization: Bearer $token" "$base/api/v1/orders/$order_id" >/dev/null
for c in 16 32 64; do
    measure "get-c$c" "$c" "$base/api/v1/orders/$order_id" -H "Authorization: Bearer $token"
    R[get_$c]="$rps $p50_ms $p99_ms"
done
rss_kib="$(ps -o rss= -p "$host_pid" | tr -d ' ')"
# The database alone: the host (and its outbox relay, which would publish
# pgbench's rows too) is stopped first.
kill "$host_pid"
wait "$host_pid" 2>/dev/null || true

# The same statements the component runs, straight into the same database:
# the order with its outbox row, then the relay's wake (migration 0005).
cat >"$work/insert.sql" <<SQL
WITH new_order AS (INSERT INTO orders (order_id, user_id, product_id, quantity, status, idempotency_key, request_fingerprint, created_at, updated_at) VALUES (gen_random_uuid(), '$user', '$product', 1, 'Pending Shipment', gen_random_uuid()::text, 'pgbench', now(), now()) RETURNING order_id) INSERT INTO outbox (event_id, event_type, order_id, payload) SELECT gen_random_uuid(), 'OrderCreated', order_id, '{"event_type":"OrderCreated"}'::jsonb FROM new_order;
SELECT wake_outbox_relay();
SQL
for c in 16 64; do
    log "pgbench -c$c -j$threads -T${duration%s}"
    out="$(pgbench -h 127.0.0.1 -U root -n -c "$c" -j "$threads" -T "${duration%s}" -f "$work/insert.sql" "$bench_db" 2>&1)"
    printf '%s\n' "$out" >&2
    tps="$(printf '%s\n' "$out" | awk '/^tps = / {print $3; exit}')"
    lat="$(printf '%s\n' "$out" | awk '/^latency average = / {print $4; exit}')"
    R[pg_$c]="$tps $lat"
done
redis-cli -h 127.0.0.1 --scan --pattern "orders-api:idempotency:$user:*" | xargs -r redis-cli -h 127.0.0.1 DEL >/dev/null
redis-cli -h 127.0.0.1 DEL "orders-api:order:$order_id" "product-catalog:stock:$product" >/dev/null

results="$(results_file orders-api)"
{
    echo "Orders API on sales-host: wrk -t$threads -d$duration; pgbench -n -j$threads -T${duration%s}"
    results_header
    echo
    printf "%-34s %12s %10s %10s\n" "what" "per second" "p50 ms" "p99 ms"
    for c in 16 64; do
        read -r rps p50 p99 <<<"${R[post_$c]}"
        printf "%-34s %12.0f %10.3f %10.3f\n" "POST /api/v1/orders c=$c" "$rps" "$p50" "$p99"
    done
    for c in 16 32 64; do
        read -r rps p50 p99 <<<"${R[get_$c]}"
        printf "%-34s %12.0f %10.3f %10.3f\n" "GET /api/v1/orders/:id cached c=$c" "$rps" "$p50" "$p99"
    done
    for c in 16 64; do
        read -r tps lat <<<"${R[pg_$c]}"
        printf "%-34s %12.0f %10s %10s   (mean latency %s ms)\n" "pgbench order+outbox INSERT c=$c" "$tps" "-" "-" "$lat"
    done
    echo
    for c in 16 64; do
        read -r rps _ _ <<<"${R[post_$c]}"
        read -r tps _ <<<"${R[pg_$c]}"
        awk -v c="$c" -v a="$rps" -v b="$tps" 'BEGIN { printf "POST / pgbench at c=%s: %.2f (target >= 0.50)\n", c, a / b }'
    done
    read -r rps _ p99 <<<"${R[get_32]}"
    echo "cached GET at c=32: $rps req/s, p99 $p99 ms (target >= 10000 req/s, p99 < 20 ms)"
    echo "sales-host RSS at the end: $((rss_kib / 1024)) MiB"
} | tee "$results"
log "results written to $results"
