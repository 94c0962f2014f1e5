#!/usr/bin/env bash
# Builds everything, in release: the WebAssembly components, then in ONE
# cargo invocation over the rest of the workspace with all targets, the host
# and the tests. One invocation means one feature resolution, so
# `scripts/up.sh` and `scripts/test.sh` share every compiled artifact:
# wasmtime is built once.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/guests.sh
source scripts/target-cache.sh

seed_target

echo "build: components (wasm32-wasip2): ${GUESTS[*]}" >&2
cargo build --locked --release --target wasm32-wasip2 "${GUEST_PACKAGES[@]}"

echo "build: sales-host and the tests" >&2
cargo build --locked --release --workspace "${GUEST_EXCLUDES[@]}" --all-targets

store_target || echo "build: storing target/ as a seed failed; the build stands" >&2
