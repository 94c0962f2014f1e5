#!/usr/bin/env bash
# Prints spin.toml without what only sales-host runs: the [[trigger.amqp]] and
# [[trigger.outbox]] tables and the components they name (order-events,
# outbox-relay). What is left is the HTTP part of the app, for `spin up`:
#
#   scripts/spin-http-manifest.sh > spin-http.toml && spin up -f spin-http.toml
#
# Write it next to spin.toml: component sources are relative to the manifest.
# Events still need sales-host (scripts/up.sh) running beside it, on another
# port (PORT=3001), against the same database and brokers.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest="${1:-spin.toml}"

# Components named by a non-HTTP trigger.
mapfile -t dropped < <(awk '
  /^\[\[trigger\.(amqp|outbox)\]\]/ { inside = 1; next }
  /^\[/ { inside = 0 }
  inside && /^component *= *"/ { gsub(/^component *= *"|".*$/, ""); print }
' "$manifest" | sort -u)

awk -v dropped="${dropped[*]}" '
  BEGIN { n = split(dropped, names, " "); for (i = 1; i <= n; i++) drop[names[i]] = 1 }
  /^\[/ {
    skip = 0
    if ($0 ~ /^\[\[trigger\.(amqp|outbox)\]\]/) skip = 1
    if (match($0, /^\[component\.[A-Za-z0-9_-]+/)) {
      name = substr($0, 12, RLENGTH - 11)
      if (name in drop) skip = 1
    }
  }
  !skip { print }
' "$manifest"
