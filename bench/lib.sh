# Shared by bench/run.sh (`just bench`) and bench/compare.sh (`just bench-compare`):
# starting and stopping the servers under test, and running one sync-bench scenario.
# Source it after setting ROOT, RESULTS and WORK. Every server is a process this script
# started itself; it is stopped by its own pid (the reference by its own process group).

log() { printf '[bench] %s\n' "$*" >&2; }

# Many sockets need many descriptors, in this shell and so in the servers and clients.
# Root may raise the hard limit; others get what the hard limit allows.
raise_nofile() {
  local want="$1"
  ulimit -Hn 1048576 2>/dev/null || true
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  log "open-file limit: $(ulimit -n)"
  if (($(ulimit -n) < want)); then
    log "warning: ulimit -n $(ulimit -n) is below $want; raise it as root (ulimit -Hn $want)"
  fi
}

SERVER_PID=""
SERVER_PGID=""
# A prefix for the server command (e.g. `taskset -c 0`), and extra environment
# (`KEY=value` words) for it, per scenario.
SERVER_WRAP=()
SERVER_ENV=()

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    if [[ -n "$SERVER_PGID" ]]; then
      kill -TERM -- "-$SERVER_PGID" 2>/dev/null || true
    else
      kill -TERM "$SERVER_PID" 2>/dev/null || true
    fi
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if [[ -n "$SERVER_PGID" ]]; then
      kill -KILL -- "-$SERVER_PGID" 2>/dev/null || true
    else
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  SERVER_PGID=""
}

# wait_for_port PORT LOGFILE: until something accepts on 127.0.0.1:PORT (60 s at most).
wait_for_port() {
  local port="$1" logfile="$2"
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || {
      log "server exited at start:"
      cat "$logfile" >&2
      return 1
    }
    sleep 0.1
  done
  log "server did not listen on $port within 60 s"
  return 1
}

# The load generator opens tens of thousands of sockets from a few loopback addresses
# as a handful of users, so the connection caps (sync-worker's limits module) are lifted
# for every server under test. The message rate limit stays at its default: no
# scenario's client sends faster than its acks come back, as LiveStore's does not.
BENCH_CAPS_OFF=(MAX_CONNECTIONS=0 MAX_CONNECTIONS_PER_IP=0 MAX_CONNECTIONS_PER_USER=0)

# start_sync_worker NAME: fresh sync-worker (new database directory) on a free port;
# sets PORT and SERVER_PID. Needs SERVER (binary), BENCH, JWT_SECRET.
start_sync_worker() {
  local name="$1" dir="$WORK/sync-worker-$1"
  mkdir -p "$dir"
  PORT="$("$BENCH" free-port)"
  # cwd is the empty temp dir, so no .dev.vars of the checkout is read.
  (
    cd "$dir"
    # SERVER_ENV entries come after BENCH_CAPS_OFF and win.
    exec "${SERVER_WRAP[@]}" env "${BENCH_CAPS_OFF[@]}" "${SERVER_ENV[@]}" RUST_LOG="${SERVER_LOG:-warn}" HOST=127.0.0.1 PORT="$PORT" \
      DATABASE_URL="sqlite://$dir/sync.db" REQUIRE_AUTH=true JWT_SECRET="$JWT_SECRET" \
      "$SERVER"
  ) >"$RESULTS/$name.server.log" 2>&1 &
  SERVER_PID=$!
  SERVER_PGID=""
  wait_for_port "$PORT" "$RESULTS/$name.server.log"
}

# start_auth_worker NAME: fresh auth-worker (new database) on a free port; sets PORT,
# SERVER_PID. Needs AUTH_SERVER, BENCH, JWT_SECRET.
start_auth_worker() {
  local name="$1" dir="$WORK/auth-worker-$1"
  mkdir -p "$dir"
  PORT="$("$BENCH" free-port)"
  (
    cd "$dir"
    exec env RUST_LOG="${SERVER_LOG:-warn}" HOST=127.0.0.1 PORT="$PORT" \
      DATABASE_URL="sqlite://$dir/auth.db" JWT_SECRET="$JWT_SECRET" \
      AUTH_RATE_LIMIT_PER_MINUTE=0 "$AUTH_SERVER"
  ) >"$RESULTS/$name.server.log" 2>&1 &
  SERVER_PID=$!
  SERVER_PGID=""
  wait_for_port "$PORT" "$RESULTS/$name.server.log"
}

# PostgreSQL rows: several sync-worker nodes on one database this script created.
NODE_PIDS=()

# pg_database NAME: creates a fresh database on the server $PG_URL names and sets
# PG_DB_URL to it (the name carries NAME and a random suffix; pg_drop_databases drops
# every one this script created, and only those).
PG_DATABASES=()
pg_database() {
  local db
  db="bench_${1//-/_}_$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')"
  psql -q -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE $db" >&2
  PG_DATABASES+=("$db")
  local base="${PG_URL%%\?*}"
  PG_DB_URL="${base%/*}/$db"
}

pg_drop_databases() {
  local db
  for db in "${PG_DATABASES[@]}"; do
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >&2 || true
  done
  PG_DATABASES=()
}

# start_pg_node NAME DATABASE_URL: one more sync-worker node on DATABASE_URL, on a free
# port; sets PORT, appends its pid to NODE_PIDS (and sets SERVER_PID to it).
start_pg_node() {
  local name="$1" url="$2" dir="$WORK/sync-node-$1-${#NODE_PIDS[@]}"
  mkdir -p "$dir"
  PORT="$("$BENCH" free-port)"
  (
    cd "$dir"
    exec env "${BENCH_CAPS_OFF[@]}" "${SERVER_ENV[@]}" RUST_LOG="${SERVER_LOG:-warn}" HOST=127.0.0.1 PORT="$PORT" \
      DATABASE_URL="$url" REQUIRE_AUTH=true JWT_SECRET="$JWT_SECRET" "$SERVER"
  ) >>"$RESULTS/$name.server.log" 2>&1 &
  SERVER_PID=$!
  SERVER_PGID=""
  NODE_PIDS+=("$SERVER_PID")
  wait_for_port "$PORT" "$RESULTS/$name.server.log"
}

# stop_nodes: every node start_pg_node started, by its pid (TERM, then KILL after 10 s).
stop_nodes() {
  local pid
  for pid in "${NODE_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${NODE_PIDS[@]}"; do
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  NODE_PIDS=()
  SERVER_PID=""
}

REFERENCE_DIR="$ROOT/bench/reference"

# Installs the reference's npm packages (exact versions from its package-lock.json)
# unless they are already there for this lock file.
install_reference() {
  local stamp="$REFERENCE_DIR/node_modules/.bench-lock.sha256"
  local want
  want="$(sha256sum "$REFERENCE_DIR/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$REFERENCE_DIR/node_modules/.bin/wrangler" ]]; then
    return 0
  fi
  log "installing the reference's npm packages (bench/reference)"
  (cd "$REFERENCE_DIR" && npm ci --no-audit --no-fund)
  echo "$want" >"$stamp"
}

# start_reference NAME: the Cloudflare original (@livestore/sync-cf 0.3.1 in wrangler's
# local workerd) with fresh state, on a free loopback port; sets PORT, SERVER_PID (the
# workerd process, for RSS) and SERVER_PGID (wrangler's process group).
start_reference() {
  local name="$1" dir="$WORK/reference-$1"
  mkdir -p "$dir"
  PORT="$("$BENCH" free-port)"
  (
    cd "$REFERENCE_DIR"
    exec setsid env WRANGLER_SEND_METRICS=false WRANGLER_LOG=warn NO_UPDATE_NOTIFIER=1 \
      "${SERVER_WRAP[@]}" ./node_modules/.bin/wrangler dev --local --ip 127.0.0.1 \
      --port "$PORT" --inspector-port 0 --persist-to "$dir/state" \
      --show-interactive-dev-session=false
  ) >"$RESULTS/$name.server.log" 2>&1 </dev/null &
  SERVER_PID=$!
  SERVER_PGID=$SERVER_PID
  wait_for_port "$PORT" "$RESULTS/$name.server.log" || return 1
  # The first request compiles the worker; let it happen before anything is timed.
  curl -s -m 30 -o /dev/null "http://127.0.0.1:$PORT/" || true
  local workerd
  workerd="$(pgrep -g "$SERVER_PGID" -f 'workerd' | head -n1 || true)"
  REFERENCE_PID="${workerd:-}"
}

FAILED=()
# run_bench NAME ARGS...: one sync-bench run against the server on $PORT, with
# $SERVER_PID for RSS readings when set as $RSS_PID; report in $RESULTS/NAME.{json,txt}.
run_bench() {
  local name="$1"
  shift
  local pid_args=()
  [[ -n "${RSS_PID:-}" ]] && pid_args=(--server-pid "$RSS_PID")
  if ! "${BENCH_WRAP[@]}" "$BENCH" --url "ws://127.0.0.1:$PORT" --jwt-secret "$JWT_SECRET" \
    "${pid_args[@]}" --json "$RESULTS/$name.json" "$@" 2>&1 | tee "$RESULTS/$name.txt"; then
    log "scenario $name FAILED"
    FAILED+=("$name")
  fi
}
BENCH_WRAP=()

# load_line: the machine's load average, for the record.
load_line() { cut -d' ' -f1-3 /proc/loadavg; }
