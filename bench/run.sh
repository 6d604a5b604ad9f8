#!/usr/bin/env bash
# The standard benchmark suite of issue 5 (`just bench`):
#   builds release, then for each load scenario starts the sync-worker release binary on
#   a free loopback port with a fresh temporary SQLite database and a random JWT_SECRET
#   (REQUIRE_AUTH=true), runs the scenario with sync-bench, and stops the server; then
#   runs the criterion micro-benchmarks and writes bench-results/{*.json,*.txt,summary.md}.
#
# Needs no state: run it from a fresh clone. Sizes can be scaled down for a smoke run:
#   BENCH_QUICK=1 bench/run.sh
# Environment knobs (defaults are the issue-5 standard suite):
#   PUSH_BATCH=100 FANOUT_C=1000 FANOUT_RATE=100 PULL_N=1000000 CONN_K=10000 STORES_S=100
#   DURATION=10 (seconds per throughput scenario), RESULTS=bench-results, SKIP_CRITERION=1
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RESULTS="${RESULTS:-$ROOT/bench-results}"

if [[ "${BENCH_QUICK:-0}" == "1" ]]; then
  : "${FANOUT_C:=100}" "${PULL_N:=50000}" "${CONN_K:=1000}" "${STORES_S:=10}" "${DURATION:=3}"
fi
PUSH_BATCH="${PUSH_BATCH:-100}"
FANOUT_C="${FANOUT_C:-1000}"
FANOUT_RATE="${FANOUT_RATE:-100}"
PULL_N="${PULL_N:-1000000}"
CONN_K="${CONN_K:-10000}"
STORES_S="${STORES_S:-100}"
DURATION="${DURATION:-10}"

log() { printf '[bench] %s\n' "$*" >&2; }

# Many sockets need many descriptors, in this shell and so in the server and the client.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open-file limit: $(ulimit -n)"
if (( $(ulimit -n) < CONN_K + 1024 )); then
  log "warning: ulimit -n $(ulimit -n) is below K=$CONN_K + 1024; the connections scenario may fail"
fi

log "building release (sync-worker, sync-bench)"
cargo build --release -p sync-worker -p sync-bench
SERVER="$CARGO_TARGET_DIR/release/sync-worker"
BENCH="$CARGO_TARGET_DIR/release/sync-bench"

mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.txt "$RESULTS"/summary.md
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sync-bench.XXXXXX")"
JWT_SECRET="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
SERVER_PID=""

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a fresh server (new database directory) on a free port; sets PORT and SERVER_PID.
start_server() {
  local name="$1" dir="$WORK/$1"
  mkdir -p "$dir"
  PORT="$("$BENCH" free-port)"
  # cwd is the empty temp dir, so no .dev.vars of the checkout is read.
  (
    cd "$dir"
    exec env RUST_LOG="${SERVER_LOG:-warn}" HOST=127.0.0.1 PORT="$PORT" \
      DATABASE_URL="sqlite://$dir/sync.db" REQUIRE_AUTH=true JWT_SECRET="$JWT_SECRET" \
      "$SERVER"
  ) >"$RESULTS/$name.server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited at start:"; cat "$RESULTS/$name.server.log" >&2; return 1; }
    sleep 0.05
  done
  log "server did not listen on $PORT within 10 s"
  return 1
}

FAILED=()
# run_scenario NAME ARGS...: fresh server, one sync-bench scenario, server stopped.
run_scenario() {
  local name="$1"
  shift
  log "scenario $name: $*"
  if ! start_server "$name"; then
    FAILED+=("$name")
    return 0
  fi
  if ! "$BENCH" --url "ws://127.0.0.1:$PORT" --jwt-secret "$JWT_SECRET" \
    --server-pid "$SERVER_PID" --json "$RESULTS/$name.json" "$@" 2>&1 \
    | tee "$RESULTS/$name.txt"; then
    log "scenario $name FAILED"
    FAILED+=("$name")
  fi
  stop_server
}

run_scenario push push --batch "$PUSH_BATCH" --duration "$DURATION"
run_scenario stores stores --stores "$STORES_S" --batch "$PUSH_BATCH" --duration "$DURATION"
run_scenario fanout fanout --connections "$FANOUT_C" --rate "$FANOUT_RATE" --duration "$DURATION"
run_scenario pull pull --events "$PULL_N"
run_scenario connections connections --connections "$CONN_K"

CRITERION_ARGS=()
if [[ "${SKIP_CRITERION:-0}" != "1" ]]; then
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
  echo "- server: sync-worker release, SQLite (fresh file per scenario), REQUIRE_AUTH=true; load generator on the same machine"
  echo
  jsons=()
  for name in push stores fanout pull connections; do
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
