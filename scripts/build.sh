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

# The guests' unit tests run natively (scripts/test.sh), on a native build
# of their dependencies: built here so that the seed below holds it too.
echo "build: the components' unit tests (native)" >&2
cargo test --locked --release "${GUEST_PACKAGES[@]}" --lib --no-run

store_target || echo "build: storing target/ as a seed failed; the build stands" >&2
