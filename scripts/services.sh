#!/usr/bin/env bash
# Makes sure every service the project (and its tests) needs is installed and
# running on this machine, installing what is missing. Idempotent: when all is
# already fine it only checks (well under 2 s) and changes nothing.
#
#   PostgreSQL  127.0.0.1:5432  trust auth, superuser role `root`, database `root`  (apt: postgresql)
#   Redis       127.0.0.1:6379                                                     (apt: redis-server)
#   RabbitMQ    127.0.0.1:5672  guest/guest                                        (apt: rabbitmq-server)
#   Kafka       127.0.0.1:9092  tansu 0.6.0, in-memory storage, topic `order-events` with 3 partitions
#                               (cargo install, 8-16 minutes the first time on 2 cores)
#   Rust        the wasm32-wasip2 target (rustup)
#
# Usage: scripts/services.sh [--no-kafka]
#   --no-kafka   skip tansu (neither installed, started nor topic-checked): quick local runs
#   -h, --help   this text
#
# One line per service on stderr ("services: redis ok", "services: tansu started", ...).
# Exits non-zero with a message naming the service that could not be brought up.
# tansu keeps its topics in memory: they are lost when it stops, so the topic
# is checked (and created if missing) on every run. Its log: ${TMPDIR:-/tmp}/tansu.log.
set -Eeuo pipefail

KAFKA=1
for arg in "$@"; do
  case "$arg" in
    --no-kafka) KAFKA=0 ;;
    -h|--help) sed -n '2,/^set -/{/^set -/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "services: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."   # so that rustup sees the project's toolchain, if it ever pins one
[ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH" ;; esac
export PATH="$PATH:/usr/sbin:/sbin"

TMP="${TMPDIR:-/tmp}"
SERVICE=setup
log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $SERVICE: $*" >&2; exit 1; }
trap 'echo "services: ERROR: $SERVICE: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
port_open() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_until SECONDS CMD...: poll CMD every 0.25 s until it succeeds; fails on timeout
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.25
  done
}

APT_UPDATED=0
apt_install() {
  local aptlog="$TMP/services-apt.log"
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update >"$aptlog" 2>&1 || { tail -n 20 "$aptlog" >&2; die "apt-get update failed (log: $aptlog)"; }
    APT_UPDATED=1
  fi
  # confold: keep config files this script wrote before installing (rabbitmq-env.conf)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -o Dpkg::Options::=--force-confdef \
      -o Dpkg::Options::=--force-confold "$@" >>"$aptlog" 2>&1 ||
    { tail -n 20 "$aptlog" >&2; die "apt-get install $* failed (log: $aptlog)"; }
}

# --------------------------------------------------------------------- PostgreSQL
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
# one query checks the connection, trust auth, the role and the `root` database
pg_root_ok() {
  [ "$(psql -h 127.0.0.1 -p 5432 -U root -d postgres -w -qAtc \
        "select count(*) from pg_database where datname = 'root'" 2>/dev/null)" = 1 ]
}
# trust auth in effect: root's OS user gets in as role postgres, no password, over TCP and the socket
pg_trust_ok() {
  psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -qAtc 'select 1' >/dev/null 2>&1 &&
    psql -h /var/run/postgresql -p 5432 -U postgres -d postgres -w -qAtc 'select 1' >/dev/null 2>&1
}
as_postgres() { (cd / && su postgres -s /bin/sh -c "$1"); }

pg_configure() {
  local ver hba tmp
  ver="$(pg_version)"
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  [ -f "$hba" ] || die "$hba not found"
  # trust for local sockets and loopback TCP, ahead of every other rule (first match wins)
  if ! pg_trust_ok && ! head -n 4 "$hba" | grep -q '^# trust rules added by scripts/services.sh'; then
    tmp="$(mktemp)"
    {
      echo '# trust rules added by scripts/services.sh'
      echo 'local   all   all                  trust'
      echo 'host    all   all   127.0.0.1/32   trust'
      echo 'host    all   all   ::1/128        trust'
      cat "$hba"
    } >"$tmp"
    cat "$tmp" >"$hba" && rm -f "$tmp"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 ||
      die "pg_ctlcluster $ver main reload failed"
    sleep 0.5
    log "postgres: trust auth configured in $hba"
  fi
  if [ "$(as_postgres "psql -qAtc \"select count(*) from pg_roles where rolname = 'root'\"")" != 1 ]; then
    as_postgres "createuser -s root" || die "createuser -s root failed"
    log "postgres: role root created"
  else
    as_postgres "psql -qc 'alter role root superuser login'" >/dev/null || die "alter role root failed"
  fi
  if [ "$(psql -h 127.0.0.1 -U root -d postgres -w -qAtc "select count(*) from pg_database where datname = 'root'")" != 1 ]; then
    createdb -h 127.0.0.1 -U root -w root || die "createdb root failed"
    log "postgres: database root created"
  fi
}

ensure_postgres() {
  SERVICE=postgres
  local state=ok ver out
  if [ ! -d /etc/postgresql ] || [ -z "$(pg_version)" ] || ! command -v pg_ctlcluster >/dev/null; then
    log "postgres not installed: apt-get install postgresql"
    apt_install postgresql
    state=installed
  fi
  if ! pg_ready; then
    ver="$(pg_version)"
    [ -d "/etc/postgresql/$ver/main" ] || die "no cluster /etc/postgresql/$ver/main"
    out="$(pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>&1)" || true
    wait_until 30 pg_ready ||
      die "not accepting connections on 127.0.0.1:5432 after 'pg_ctlcluster $ver main start': $out (see /var/log/postgresql/)"
    [ "$state" = ok ] && state=started
  fi
  if ! pg_root_ok; then
    pg_configure
    pg_root_ok || die "psql -h 127.0.0.1 -U root -d postgres still fails after configuring trust auth and role root"
    [ "$state" = ok ] && state=configured
  fi
  log "postgres $state"
}

# -------------------------------------------------------------------------- Redis
redis_ok() { [ "$(timeout 2 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  SERVICE=redis
  local state=started out
  if redis_ok; then log "redis ok"; return; fi
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    log "redis not installed: apt-get install redis-server"
    apt_install redis-server
    state=installed
    # the package's own start (if any) may already be up
    if wait_until 3 redis_ok; then log "redis $state"; return; fi
  fi
  mkdir -p /var/lib/redis /var/log/redis
  out="$(redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
           --dir /var/lib/redis --logfile /var/log/redis/ci.log 2>&1)" ||
    die "redis-server failed to start: $out (log: /var/log/redis/ci.log)"
  wait_until 10 redis_ok ||
    { tail -n 5 /var/log/redis/ci.log >&2 2>/dev/null || true; die "no PONG on 127.0.0.1:6379 after starting (log: /var/log/redis/ci.log)"; }
  log "redis $state"
}

# ----------------------------------------------------------------------- RabbitMQ
rabbit_ok() { port_open 5672; }
# (not pgrep: on machines whose PID 1 does not reap, a stopped node lingers as a zombie beam.smp)
rabbit_beam_running() {
  id rabbitmq >/dev/null 2>&1 &&
    ps -u rabbitmq -o stat=,comm= 2>/dev/null | awk '$1 !~ /^Z/ && $2 == "beam.smp" { f = 1 } END { exit !f }'
}

ensure_rabbitmq() {
  SERVICE=rabbitmq
  local state=started out
  if rabbit_ok; then log "rabbitmq ok"; return; fi
  if [ ! -x /usr/sbin/rabbitmq-server ] || ! command -v rabbitmqctl >/dev/null; then
    log "rabbitmq not installed: apt-get install rabbitmq-server"
    # Same settings as the reference machine, written before the package so its
    # first start already uses them: a node name that does not depend on the
    # hostname resolving, and loopback only. Kept by --force-confold.
    if [ ! -e /etc/rabbitmq/rabbitmq-env.conf ]; then
      mkdir -p /etc/rabbitmq
      cat >/etc/rabbitmq/rabbitmq-env.conf <<'EOF'
NODENAME=rabbit@localhost
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
      [ -e /etc/rabbitmq/rabbitmq.conf ] || echo 'listeners.tcp.local = 127.0.0.1:5672' >/etc/rabbitmq/rabbitmq.conf
    fi
    apt_install rabbitmq-server
    state=installed
    if wait_until 3 rabbit_ok; then log "rabbitmq $state"; return; fi
  fi
  if rabbit_beam_running; then
    # booting, or the rabbit application was stopped (rabbitmqctl stop_app)
    log "rabbitmq node process running but 5672 closed: waiting 10 s, then rabbitmqctl start_app"
    if ! wait_until 10 rabbit_ok; then
      out="$(timeout 60 rabbitmqctl -q start_app 2>&1)" || log "rabbitmq: rabbitmqctl start_app: $out"
    fi
  else
    log "rabbitmq starting (rabbitmq-server -detached; can take ~10-20 s)"
    out="$(rabbitmq-server -detached 2>&1)" || die "rabbitmq-server -detached failed: $out"
  fi
  wait_until 60 rabbit_ok ||
    die "nothing listens on 127.0.0.1:5672 after 60 s (see /var/log/rabbitmq/, 'rabbitmqctl status')"
  timeout 30 rabbitmqctl -q await_startup >/dev/null 2>&1 || true
  log "rabbitmq $state"
}

# -------------------------------------------------------------------- Kafka (tansu)
TANSU_VERSION=0.6.0
TANSU_URL=tcp://127.0.0.1:9092
TOPIC=order-events
TOPIC_PARTITIONS=3

find_tansu() {
  TANSU="$(command -v tansu 2>/dev/null || true)"
  [ -n "$TANSU" ] || { [ -x "$HOME/.cargo/bin/tansu" ] && TANSU="$HOME/.cargo/bin/tansu"; } || true
  [ -n "$TANSU" ]
}

# ([c] and [ ] keep the pattern from matching a command line that merely contains it)
cargo_installing_tansu() { pgrep -f '[c]argo install.*[ ]tansu' >/dev/null; }
no_cargo_installing_tansu() { ! cargo_installing_tansu; }

install_tansu() {
  local ilog="$TMP/tansu-install.log"
  if cargo_installing_tansu; then
    log "tansu: a 'cargo install tansu' is already running; waiting for it (up to 40 min)"
    wait_until 2400 no_cargo_installing_tansu || die "the running cargo install did not finish in 40 min"
    find_tansu && return 0
    die "the running 'cargo install tansu' finished without installing tansu"
  fi
  command -v cargo >/dev/null || die "cargo not found (install Rust with rustup first)"
  if ! command -v cc >/dev/null; then
    log "tansu: no C compiler (needed by aws-lc-sys, zstd-sys, lz4-sys): apt-get install build-essential"
    apt_install build-essential pkg-config
  fi
  log "tansu not installed: cargo install --locked tansu --version $TANSU_VERSION --features dynostore" \
      "(takes 8-16 minutes on 2 cores; log: $ilog)"
  cargo install --locked tansu --version "$TANSU_VERSION" --features dynostore >"$ilog" 2>&1 ||
    { tail -n 20 "$ilog" >&2; die "cargo install tansu failed (log: $ilog)"; }
  find_tansu || die "cargo install succeeded but no tansu binary in PATH or ~/.cargo/bin"
}

# Replaces this (sub)shell with "$@", holding no descriptor beyond stdin,
# stdout and stderr: a daemon must not keep its starter's files open, such
# as the lock of a `flock FILE scripts/...` that started it.
without_inherited_fds() {
  local fd
  for fd in /proc/self/fd/*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  exec "$@"
}

ensure_tansu() {
  SERVICE=tansu
  local state=ok pid out blog="$TMP/tansu.log" parts
  if ! find_tansu; then
    install_tansu
    state=installed
  fi
  case "$("$TANSU" --version 2>/dev/null)" in
    *" $TANSU_VERSION") ;;
    *) log "tansu: warning: $TANSU is not version $TANSU_VERSION ($("$TANSU" --version 2>&1 | head -n 1))" ;;
  esac
  if ! port_open 9092; then
    # setsid + nohup + disown + no inherited fds: outlives this script and its caller's pipes
    (without_inherited_fds nohup setsid "$TANSU" broker --listener-url "$TANSU_URL" \
      --advertised-listener-url "$TANSU_URL" --storage-engine memory://tansu/) </dev/null >"$blog" 2>&1 &
    pid=$!
    disown "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 120; i++)); do   # up to 30 s; stop early if it exits
      port_open 9092 && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if ! port_open 9092; then
      tail -n 10 "$blog" >&2 || true
      die "broker not answering on 127.0.0.1:9092 (pid $pid $(kill -0 "$pid" 2>/dev/null && echo alive || echo exited); log: $blog)"
    fi
    [ "$state" = ok ] && state=started
    state="$state (pid $pid, log $blog)"
  fi
  log "tansu $state"

  # topic: memory storage forgets it whenever tansu restarts, so check every time
  SERVICE="tansu topic $TOPIC"
  out="$("$TANSU" topic list --broker "$TANSU_URL" 2>/dev/null)" ||
    die "'tansu topic list --broker $TANSU_URL' failed"
  # list prints JSON; count the partitions of our topic (empty if it does not exist)
  parts="$(printf '%s' "$out" | awk -v RS='"name":"' -v t="$TOPIC\"" \
             'index($0, t) == 1 { print gsub(/"partition_index"/, "") }')"
  if [ -z "$parts" ]; then
    if out="$("$TANSU" topic create "$TOPIC" --partitions "$TOPIC_PARTITIONS" --broker "$TANSU_URL" 2>&1)"; then
      log "tansu topic $TOPIC created ($TOPIC_PARTITIONS partitions)"
    elif printf '%s' "$out" | grep -qi 'already exists'; then
      log "tansu topic $TOPIC ok (created concurrently)"
    else
      die "'tansu topic create $TOPIC --partitions $TOPIC_PARTITIONS --broker $TANSU_URL' failed: $out"
    fi
  elif [ "$parts" != "$TOPIC_PARTITIONS" ]; then
    die "exists with $parts partitions, expected $TOPIC_PARTITIONS (tansu topic delete $TOPIC --broker $TANSU_URL, then rerun)"
  else
    log "tansu topic $TOPIC ok"
  fi
}

# --------------------------------------------------------------------------- Rust
ensure_rust_target() {
  SERVICE="rust wasm32-wasip2"
  command -v rustup >/dev/null || die "rustup not found (install Rust with rustup first)"
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    log "rust wasm32-wasip2 ok"
  else
    rustup target add wasm32-wasip2 >&2 || die "rustup target add wasm32-wasip2 failed"
    log "rust wasm32-wasip2 added"
  fi
}

[ "$(id -u)" = 0 ] || { SERVICE=setup; die "must run as root (installs packages and starts system services)"; }

ensure_rust_target
ensure_postgres
ensure_redis
ensure_rabbitmq
if [ "$KAFKA" = 1 ]; then
  ensure_tansu
else
  log "tansu skipped (--no-kafka)"
fi
