#!/usr/bin/env bash
# The whole test suite, from a fresh clone: makes sure the services run
# (installing what is missing), builds everything once in release (the same
# artifacts `scripts/up.sh` runs), then runs every test: the guests' unit
# tests natively, then the rest of the workspace (host, domain, auth, and the
# black-box tests that start sales-host against the real services).
# Arguments go to the workspace's `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/guests.sh

scripts/services.sh
scripts/build.sh

echo "test: guest unit tests" >&2
cargo test --locked --release "${GUEST_PACKAGES[@]}" --lib

echo "test: workspace" >&2
cargo test --locked --release --workspace "${GUEST_EXCLUDES[@]}" "$@"
