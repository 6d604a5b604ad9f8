#!/usr/bin/env bash
# `just bench-compare`: the same sync-bench scenarios against the Cloudflare original
# (@livestore/sync-cf 0.3.1's worker and Durable Object, run by wrangler 4.20 in local
# workerd, bench/reference/) and against sync-worker, in one run, then the ratio per row.
#
# Scenarios (every writer one push in flight, as LiveStore's client):
#   push     one socket, B=100
#   fanout   C=50 receivers, 100 pushes/s of 1 event
#   pull     replay of N=20,000 events (seeded in pushes of 100)
#   clients  S=20 stores x (1 writer + R=4 readers), batches of 1-50, unpaced
# Each run gets a fresh server with fresh state. Results: bench-results/compare/
# {original,sync-worker}/<scenario>.{json,txt}, compare.md (the table).
#
# Needs node >= 20 and npm: installs bench/reference's packages itself (npm ci, exact
# versions from its lock file) on the first run. workerd runs offline; wrangler's
# telemetry is off (WRANGLER_SEND_METRICS=false) and it binds 127.0.0.1 only.
# Knobs: DURATION=10 COMPARE_PULL_N=20000 COMPARE_FANOUT_C=50 COMPARE_CLIENTS_S=20
#   COMPARE_CLIENTS_R=4 RESULTS=bench-results ONLY_TARGET=original|sync-worker
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RESULTS="${RESULTS:-$ROOT/bench-results}/compare"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

DURATION="${DURATION:-10}"
PULL_N="${COMPARE_PULL_N:-20000}"
FANOUT_C="${COMPARE_FANOUT_C:-50}"
CLIENTS_S="${COMPARE_CLIENTS_S:-20}"
CLIENTS_R="${COMPARE_CLIENTS_R:-4}"

command -v node >/dev/null || { log "node (>= 20) is needed for the reference"; exit 1; }
raise_nofile 4096
log "building release (sync-worker, sync-bench, auth-worker)"
cargo build --release -p sync-worker -p sync-bench -p auth-worker --bins --example login_load
SERVER="$CARGO_TARGET_DIR/release/sync-worker"
BENCH="$CARGO_TARGET_DIR/release/sync-bench"
install_reference

rm -rf "$RESULTS"
mkdir -p "$RESULTS/original" "$RESULTS/sync-worker"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sync-bench-compare.XXXXXX")"
JWT_SECRET="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SCENARIOS=(push fanout pull clients)
scenario_args() {
  case "$1" in
    push) echo "push --batch 100 --duration $DURATION" ;;
    fanout) echo "fanout --connections $FANOUT_C --rate 100 --duration $DURATION" ;;
    pull) echo "pull --events $PULL_N --seed-batch 100" ;;
    clients) echo "clients --stores $CLIENTS_S --readers $CLIENTS_R --duration $DURATION" ;;
  esac
}

# One target: each scenario against a fresh server of that kind.
measure() {
  local target="$1" results_base="$RESULTS"
  for name in "${SCENARIOS[@]}"; do
    local args
    read -r -a args <<<"$(scenario_args "$name")"
    log "$target: $name: ${args[*]} (load $(load_line))"
    RESULTS="$results_base/$target"
    REFERENCE_PID=""
    if [[ "$target" == original ]]; then
      start_reference "$name" || { FAILED+=("$target/$name"); RESULTS="$results_base"; continue; }
      RSS_PID="$REFERENCE_PID" run_bench "$name" "${args[@]}"
    else
      start_sync_worker "$name" || { FAILED+=("$target/$name"); RESULTS="$results_base"; continue; }
      RSS_PID="$SERVER_PID" run_bench "$name" "${args[@]}"
    fi
    stop_server
    RESULTS="$results_base"
  done
}

for target in original sync-worker; do
  if [[ -z "${ONLY_TARGET:-}" || "$ONLY_TARGET" == "$target" ]]; then
    measure "$target"
  fi
done

{
  echo "# sync-worker vs the Cloudflare original (sync-bench, same scenarios, one run)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average at the end: $(load_line)"
  echo "- original: @livestore/sync-cf 0.3.1 worker + Durable Object, wrangler $(cd "$REFERENCE_DIR" && ./node_modules/.bin/wrangler --version 2>/dev/null | tail -n1) dev --local (workerd, local D1)"
  echo "- sync-worker: release build, SQLite synchronous=FULL, REQUIRE_AUTH=true"
  echo
  "$BENCH" compare --original "$RESULTS/original" --ours "$RESULTS/sync-worker"
  if ((${#FAILED[@]})); then
    echo
    echo "FAILED: ${FAILED[*]} (see $RESULTS/*/*.txt and *.server.log)"
  fi
} >"$RESULTS/compare.md"

log "wrote $RESULTS/compare.md"
cat "$RESULTS/compare.md"
if ((${#FAILED[@]})); then
  log "failed: ${FAILED[*]}"
  exit 1
fi
