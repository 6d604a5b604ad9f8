#!/usr/bin/env bash
# The standard benchmark suite of issues 5 and 8 (`just bench`):
#   builds release, then for each load scenario starts the sync-worker release binary on
#   a free loopback port with a fresh temporary SQLite database and a random JWT_SECRET
#   (REQUIRE_AUTH=true), runs the scenario with sync-bench, and stops the server; runs
#   the auth-under-load row against a fresh auth-worker; then runs the criterion
#   micro-benchmarks and writes bench-results/{*.json,*.txt,summary.md}.
#
# Every writer behaves like LiveStore's client (one push in flight) except in the rows
# named `-pipelined`. Rows named `-v04` speak LiveStore 0.4's WebSocket transport
# (`--protocol 0.4`); the others 0.3.1.
#
# Needs no state: run it from a fresh clone. Sizes can be scaled down for a smoke run:
#   BENCH_QUICK=1 bench/run.sh
# Environment knobs (defaults are the standard suite):
#   PUSH_BATCH=100 FANOUT_C=1000 FANOUT_RATE=100 PULL_N=1000000 CONN_K=50000 STORES_S=100
#   CLIENTS_S=1000 CLIENTS_R=4 CLIENTS_RATE=2 (pushes/s per writer in the paced row)
#   CONN_SOURCES=127.0.0.2-127.0.0.9 (K is lowered to what RLIMIT_NOFILE allows) AUTH_CLIENTS=8 DURATION=10 (seconds per throughput
#   scenario), RESULTS=bench-results, SKIP_CRITERION=1, ONLY="push clients" (a subset),
#   BENCH_PROFILE=dev (a smoke run on the debug build)
# PostgreSQL rows (opt-in): PG_URL=postgres://root@127.0.0.1:5432/postgres names a server
# where the suite may create and drop its own databases (one fresh database per row):
#   pg-push, pg-clients, pg-pull on one node; pg-clients-2nodes-a/-b (two nodes, each
#   with its own load generator: writers on its node, readers on the other; the two
#   rows' acked events/s add up to the two-node total, to compare with pg-clients);
#   pg-fanout-cross (writer on node 1, PG_FANOUT_PER_NODE=200 receivers on each of two
#   nodes, FANOUT_RATE pushes/s: push-to-receive on the writer's node and across nodes)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RESULTS="${RESULTS:-$ROOT/bench-results}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

if [[ "${BENCH_QUICK:-0}" == "1" ]]; then
  : "${FANOUT_C:=100}" "${PULL_N:=50000}" "${CONN_K:=1000}" "${STORES_S:=10}" "${DURATION:=3}"
  : "${CLIENTS_S:=50}" "${AUTH_DURATION:=3}"
fi
PUSH_BATCH="${PUSH_BATCH:-100}"
FANOUT_C="${FANOUT_C:-1000}"
FANOUT_RATE="${FANOUT_RATE:-100}"
PULL_N="${PULL_N:-1000000}"
CONN_K="${CONN_K:-50000}"
CONN_SOURCES="${CONN_SOURCES:-127.0.0.2-127.0.0.9}"
STORES_S="${STORES_S:-100}"
CLIENTS_S="${CLIENTS_S:-1000}"
CLIENTS_R="${CLIENTS_R:-4}"
CLIENTS_RATE="${CLIENTS_RATE:-2}"
AUTH_CLIENTS="${AUTH_CLIENTS:-8}"
DURATION="${DURATION:-10}"
AUTH_DURATION="${AUTH_DURATION:-$DURATION}"
ONLY="${ONLY:-}"

raise_nofile $((CONN_K + 1024))
# Each side of K sockets needs K descriptors and more. Where the hard limit cannot be
# raised (no CAP_SYS_RESOURCE, even as root in a container), K is what the limit allows;
# the report's `connections` parameter shows the K that ran.
if (($(ulimit -n) < CONN_K + 1024)); then
  CONN_K=$(($(ulimit -n) - 1024))
  log "connections: K lowered to $CONN_K by the open-file limit $(ulimit -n)"
fi

# BENCH_PROFILE=dev runs a smoke test on the debug build (numbers meaningless).
BENCH_PROFILE="${BENCH_PROFILE:-release}"
BIN_DIR="$CARGO_TARGET_DIR/$([[ $BENCH_PROFILE == dev ]] && echo debug || echo "$BENCH_PROFILE")"
log "building $BENCH_PROFILE (sync-worker, sync-bench, auth-worker and its login_load example)"
cargo build --profile "$BENCH_PROFILE" -p sync-worker -p sync-bench -p auth-worker --bins --example login_load
SERVER="$BIN_DIR/sync-worker"
BENCH="$BIN_DIR/sync-bench"
AUTH_SERVER="$BIN_DIR/auth-worker"
LOGIN_LOAD="$BIN_DIR/examples/login_load"

mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.txt "$RESULTS"/*.log "$RESULTS"/summary.md
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sync-bench.XXXXXX")"
JWT_SECRET="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wanted() { [[ -z "$ONLY" || " $ONLY " == *" $1 "* ]]; }

# run_scenario NAME ARGS...: fresh server, one sync-bench scenario, server stopped.
run_scenario() {
  local name="$1"
  shift
  wanted "$name" || return 0
  log "scenario $name: $* (load $(load_line))"
  if ! start_sync_worker "$name"; then
    FAILED+=("$name")
    return 0
  fi
  RSS_PID="$SERVER_PID" run_bench "$name" "$@"
  stop_server
}

CORES="$(nproc)"
run_scenario push push --batch "$PUSH_BATCH" --duration "$DURATION"
run_scenario push-pipelined push-pipelined --batch "$PUSH_BATCH" --duration "$DURATION"
run_scenario stores stores --stores "$STORES_S" --batch "$PUSH_BATCH" --duration "$DURATION"
run_scenario stores-pipelined stores-pipelined --stores "$STORES_S" --batch "$PUSH_BATCH" --duration "$DURATION"
run_scenario clients clients --stores "$CLIENTS_S" --readers "$CLIENTS_R" --rate "$CLIENTS_RATE" --duration "$DURATION"
run_scenario clients-unpaced --label clients-unpaced clients --stores "$CLIENTS_S" --readers "$CLIENTS_R" --duration "$DURATION"
run_scenario fanout fanout --connections "$FANOUT_C" --rate "$FANOUT_RATE" --duration "$DURATION"
if ((CORES >= 2)) && command -v taskset >/dev/null; then
  # The same fanout with the server on core 0 and the load generator on core 1.
  SERVER_WRAP=(taskset -c 0) BENCH_WRAP=(taskset -c 1)
  run_scenario fanout-pinned --label fanout-pinned fanout --connections "$FANOUT_C" --rate "$FANOUT_RATE" --duration "$DURATION" --threads 1
  SERVER_WRAP=() BENCH_WRAP=()
else
  log "fanout-pinned skipped: needs 2 cores and taskset"
fi
run_scenario pull pull --events "$PULL_N"
# The same load over LiveStore 0.4's WebSocket transport (Effect RPC, live pulls).
run_scenario push-v04 --label push-v04 --protocol 0.4 push --batch "$PUSH_BATCH" --duration "$DURATION"
run_scenario clients-v04 --label clients-v04 --protocol 0.4 clients --stores "$CLIENTS_S" --readers "$CLIENTS_R" --rate "$CLIENTS_RATE" --duration "$DURATION"
run_scenario fanout-v04 --label fanout-v04 --protocol 0.4 fanout --connections "$FANOUT_C" --rate "$FANOUT_RATE" --duration "$DURATION"
run_scenario pull-v04 --label pull-v04 --protocol 0.4 pull --events "$PULL_N"
run_scenario connections --source-addrs "$CONN_SOURCES" connections --connections "$CONN_K"
# The same with 1 KiB WebSocket buffers (WS_BUFFER_BYTES; the default is 2 KiB).
SERVER_ENV=(WS_BUFFER_BYTES=1024)
run_scenario connections-1k-buffers --label connections-1k-buffers --source-addrs "$CONN_SOURCES" connections --connections "$CONN_K"
SERVER_ENV=()

if [[ -n "${PG_URL:-}" ]]; then
  PG_FANOUT_PER_NODE="${PG_FANOUT_PER_NODE:-200}"
  trap 'stop_nodes; pg_drop_databases; cleanup' EXIT
  # run_pg NAME NODES ARGS...: NODES fresh nodes on a fresh database, one sync-bench run
  # against the first (in ARGS, @NODE1@ and @NODE2@ stand for the nodes' URLs), stopped.
  run_pg() {
    local name="$1" nodes="$2"
    shift 2
    wanted "$name" || return 0
    log "scenario $name ($nodes node(s), PostgreSQL): $* (load $(load_line))"
    pg_database "$name"
    local ports=() i
    for ((i = 0; i < nodes; i++)); do
      start_pg_node "$name" "$PG_DB_URL" || { FAILED+=("$name"); stop_nodes; return 0; }
      ports+=("$PORT")
    done
    NODE1="ws://127.0.0.1:${ports[0]}"
    NODE2="ws://127.0.0.1:${ports[$((nodes - 1))]}"
    PORT="${ports[0]}"
    local args=() arg
    for arg in "$@"; do
      arg="${arg//@NODE1@/$NODE1}"
      args+=("${arg//@NODE2@/$NODE2}")
    done
    RSS_PID="${NODE_PIDS[0]}" run_bench "$name" "${args[@]}"
    stop_nodes
    pg_drop_databases
  }
  run_pg pg-push 1 --label pg-push push --batch "$PUSH_BATCH" --duration "$DURATION"
  run_pg pg-clients 1 --label pg-clients clients --stores "$CLIENTS_S" --readers "$CLIENTS_R" --duration "$DURATION"
  run_pg pg-pull 1 --label pg-pull pull --events "$PULL_N"
  if wanted pg-clients-2nodes; then
    log "scenario pg-clients-2nodes (2 nodes, PostgreSQL): S=$CLIENTS_S split over both (load $(load_line))"
    pg_database pg-clients-2nodes
    start_pg_node pg-clients-2nodes "$PG_DB_URL" && P1="$PORT" &&
      start_pg_node pg-clients-2nodes "$PG_DB_URL" && P2="$PORT" || FAILED+=("pg-clients-2nodes")
    if ((${#NODE_PIDS[@]} == 2)); then
      half=$((CLIENTS_S / 2))
      for side in a b; do
        if [[ $side == a ]]; then from="$P1" to="$P2"; else from="$P2" to="$P1"; fi
        "$BENCH" --url "ws://127.0.0.1:$from" --receiver-url "ws://127.0.0.1:$to" \
          --jwt-secret "$JWT_SECRET" --store-prefix "bench-$side" --label "pg-clients-2nodes-$side" \
          --json "$RESULTS/pg-clients-2nodes-$side.json" \
          clients --stores "$half" --readers "$CLIENTS_R" --duration "$DURATION" \
          >"$RESULTS/pg-clients-2nodes-$side.txt" 2>&1 &
        eval "BENCH_$side=\$!"
      done
      # shellcheck disable=SC2154 # set by the eval above
      wait "$BENCH_a" || FAILED+=("pg-clients-2nodes-a")
      # shellcheck disable=SC2154
      wait "$BENCH_b" || FAILED+=("pg-clients-2nodes-b")
      cat "$RESULTS"/pg-clients-2nodes-?.txt
    fi
    stop_nodes
    pg_drop_databases
  fi
  # Receivers alternate between the nodes: PG_FANOUT_PER_NODE on each.
  run_pg pg-fanout-cross 2 --label pg-fanout-cross --receiver-url @NODE1@,@NODE2@ fanout \
    --connections $((2 * PG_FANOUT_PER_NODE)) --rate "$FANOUT_RATE" --duration "$DURATION"
fi

if wanted auth; then
  log "scenario auth: $AUTH_CLIENTS clients logging in, /health polled (load $(load_line))"
  if start_auth_worker auth; then
    if ! "$LOGIN_LOAD" --url "http://127.0.0.1:$PORT" --clients "$AUTH_CLIENTS" \
      --duration "$AUTH_DURATION" --json "$RESULTS/auth.json" 2>&1 | tee "$RESULTS/auth.txt"; then
      FAILED+=("auth")
    fi
    stop_server
  else
    FAILED+=("auth")
  fi
fi

CRITERION_ARGS=()
if [[ "${SKIP_CRITERION:-0}" != "1" ]] && wanted criterion; then
  log "criterion micro-benchmarks"
  rm -rf "$CARGO_TARGET_DIR/criterion"
  if cargo bench -p sync-bench --bench token_verify --bench protocol -- --warm-up-time 1 --measurement-time 3 \
    | tee "$RESULTS/criterion.txt"; then
    CRITERION_ARGS=(--criterion-dir "$CARGO_TARGET_DIR/criterion")
  else
    FAILED+=("criterion")
  fi
fi

{
  echo "# sync-bench results"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr)"
  echo "- load average at the end: $(load_line)"
  echo "- server: sync-worker $BENCH_PROFILE, SQLite (fresh file per scenario)${PG_URL:+; pg-* rows: PostgreSQL (fresh database per row)}, REQUIRE_AUTH=true; load generator on the same machine"
  echo
  jsons=()
  for name in push push-pipelined stores stores-pipelined clients clients-unpaced fanout fanout-pinned pull push-v04 clients-v04 fanout-v04 pull-v04 connections connections-1k-buffers \
    pg-push pg-clients pg-clients-2nodes-a pg-clients-2nodes-b pg-pull pg-fanout-cross auth; do
    [[ -f "$RESULTS/$name.json" ]] && jsons+=("$RESULTS/$name.json")
  done
  "$BENCH" summarize "${CRITERION_ARGS[@]}" "${jsons[@]}"
  if ((${#FAILED[@]})); then
    echo
    echo "FAILED: ${FAILED[*]} (see $RESULTS/*.txt and *.server.log)"
  fi
} >"$RESULTS/summary.md"

log "wrote $RESULTS/summary.md"
cat "$RESULTS/summary.md"
if ((${#FAILED[@]})); then
  log "failed: ${FAILED[*]}"
  exit 1
fi
