#!/usr/bin/env bash
# Builds everything and runs the Sales API on 127.0.0.1:${PORT:-3000}.
#
# Settings come from the environment (see README "Configuration"); for a
# local run, the services on this machine are used by default and a
# development JWT secret is made up (set JWT_SECRET for anything shared).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh

scripts/build.sh

export DATABASE_URL="${DATABASE_URL:-postgres://root@127.0.0.1:5432/sales}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export RABBITMQ_URL="${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
if [ -z "${JWT_SECRET:-}" ]; then
  export JWT_SECRET="local-development-secret"
  echo "up: JWT_SECRET not set: using a development secret; set it for anything shared" >&2
fi

# The local database, created on first run (migrations run at start-up).
if [ "$DATABASE_URL" = "postgres://root@127.0.0.1:5432/sales" ] &&
   ! psql -h 127.0.0.1 -U root -d postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = 'sales'" | grep -q 1; then
  psql -h 127.0.0.1 -U root -d postgres -qc "CREATE DATABASE sales"
fi

exec target/release/sales-host up --manifest spin.toml "$@"
