#!/usr/bin/env bash
# The whole test suite, from a fresh clone: makes sure the services run
# (installing what is missing), builds the host and the components once, in
# release (the same artifacts `scripts/up.sh` runs), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh

echo "test: building components (wasm32-wasip2) and sales-host" >&2
cargo build --locked --release --target wasm32-wasip2 -p product-catalog -p probe-guest
cargo build --locked --release -p sales-host

echo "test: running the suite" >&2
cargo test --locked --release --workspace "$@"
