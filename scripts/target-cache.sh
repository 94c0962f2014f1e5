# Sourced by build.sh: a copy of the last build's `target/`, kept under
# ~/.cargo so that a fresh clone on the same machine (CI's, for one) starts
# from it and compiles only what changed, not wasmtime, rdkafka and the rest
# of the dependencies again (20 to 26 minutes on 2 cores).
#
# A seed, not a shared directory: each clone builds into its own `target/`,
# so two clones never overwrite each other's binaries while one of them is
# testing or serving. The workspace's own crates are cleaned out of the copy
# before it becomes `target/`: cargo decides their freshness by file times,
# and a clone whose sources are older than the seed's artifacts would
# otherwise take another commit's build as its own. Dependencies are safe to
# reuse: cargo fingerprints them by version, features, profile and compiler.
#
# The seed is refreshed after a build whose dependency set (every
# Cargo.toml, Cargo.lock, the compiler, the build commands) differs from
# the seed's, so it is copied once per such change, not on every build.

TARGET_CACHE="${CARGO_HOME:-$HOME/.cargo}/target-cache/sales-api"
BUILD_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# What the seed's dependency builds depend on: the compiler, the manifests,
# the lock file and the build commands.
target_cache_key() {
  {
    rustc -vV
    cat "$BUILD_SCRIPTS/build.sh" "$BUILD_SCRIPTS/guests.sh"
    find . -name Cargo.toml -not -path './target/*' -print0 | sort -z | xargs -0 sha256sum
    sha256sum Cargo.lock
  } | sha256sum | cut -d' ' -f1
}

# Before the first build of a clone: `target/` from the seed, if there is
# one. Any step that fails leaves no `target/`: the build then starts from
# scratch, never from a seed whose workspace crates were not cleaned.
seed_target() {
  [ ! -e target ] && [ -d "$TARGET_CACHE/target" ] || return 0
  local started=$SECONDS members=() packages=()
  mapfile -t members < <(cargo metadata --locked --no-deps --format-version 1 | jq -r '.packages[].name')
  if [ "${#members[@]}" -eq 0 ]; then
    echo "build: could not list the workspace's crates; not seeding target/" >&2
    return 0
  fi
  for member in "${members[@]}"; do packages+=(-p "$member"); done
  rm -rf target.seeding # left by a seeding that was interrupted
  if ! cp -a --reflink=auto "$TARGET_CACHE/target" target.seeding ||
    ! CARGO_TARGET_DIR=target.seeding cargo clean --quiet --release "${packages[@]}" ||
    ! CARGO_TARGET_DIR=target.seeding cargo clean --quiet --release --target wasm32-wasip2 "${packages[@]}"; then
    # For one, a seed being replaced under the copy.
    echo "build: could not seed target/ from $TARGET_CACHE; building everything" >&2
    rm -rf target.seeding
    return 0
  fi
  mv -T target.seeding target
  echo "build: seeded target/ from $TARGET_CACHE in $((SECONDS - started)) s (the workspace's crates are rebuilt)" >&2
}

# After a successful build: refresh the seed if its dependency set is not
# ours. Best effort: a seed that cannot be stored fails nothing, and it is
# not attempted when the copy would leave the disk less than 2 GB free (the
# databases on this machine write to the same disk).
store_target() {
  local key
  key="$(target_cache_key)"
  [ "$(cat "$TARGET_CACHE/key" 2>/dev/null)" != "$key" ] || return 0
  local started=$SECONDS needed_kb avail_kb
  mkdir -p "$TARGET_CACHE" || return 0
  needed_kb=$(du -sk target | cut -f1)
  avail_kb=$(df -Pk "$TARGET_CACHE" | awk 'NR == 2 {print $4}')
  if [ "$avail_kb" -lt $((needed_kb + 2 * 1024 * 1024)) ]; then
    echo "build: not storing target/ as a seed: $((needed_kb / 1024)) MB to copy, $((avail_kb / 1024)) MB free" >&2
    return 0
  fi
  local fresh stale
  fresh="$(mktemp -d "$TARGET_CACHE/target.new.XXXXXX")" || return 0
  stale="$fresh.old"
  if ! cp -a --reflink=auto target/. "$fresh"; then
    echo "build: could not store target/ as a seed in $TARGET_CACHE" >&2
    rm -rf "$fresh"
    return 0
  fi
  # Another clone may be swapping its own copy in at the same moment: then
  # one of the two copies wins, and the key may name the other's dependency
  # set. Harmless: the key only decides when to refresh, and cargo checks
  # every dependency it reuses.
  rm -f "$TARGET_CACHE/key"
  mv -T "$TARGET_CACHE/target" "$stale" 2>/dev/null || true
  if ! mv -T "$fresh" "$TARGET_CACHE/target" 2>/dev/null; then
    rm -rf "$fresh" "$stale"
    return 0
  fi
  echo "$key" >"$TARGET_CACHE/key"
  rm -rf "$stale"
  echo "build: stored target/ as the seed for fresh clones ($TARGET_CACHE, $((SECONDS - started)) s)" >&2
}
