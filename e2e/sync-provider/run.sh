#!/usr/bin/env bash
# LiveStore's own sync-provider suite (tests/sync-provider at tag v0.4.0) against sync-worker,
# over ws and http. The suite is not on npm: it is exported from a git mirror of
# livestorejs/livestore into e2e/.tmp/sync-provider (git-ignored, never committed), our
# registry.ts replaces its provider registry, and its test file runs unchanged.
#
#   e2e/sync-provider/run.sh <mirror git dir> [sync-worker base URL]
#
# Without a URL a sync-worker is started here ($SYNC_WORKER_BIN, else the workspace's
# target/debug/sync-worker) on a free loopback port with a fresh SQLite database and
# REQUIRE_AUTH=false (the suite sends no sync payload), and stopped at the end.
# SYNC_PROVIDER_KEYS=ws or =http runs one transport. Needs git, npm, node 20+.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mirror="${1:?usage: run.sh <livestore mirror git dir> [sync-worker URL]}"
url="${2:-}"
tag=v0.4.0
work="$root/e2e/.tmp/sync-provider"

git --git-dir "$mirror" rev-parse --verify --quiet "$tag^{commit}" >/dev/null ||
    { echo "run.sh: $mirror has no tag $tag" >&2; exit 2; }

echo "==> exporting tests/sync-provider at $tag into $work"
# A previous run's node_modules is kept when it was installed from the same lockfile.
find "$work" -mindepth 1 -maxdepth 1 ! -name node_modules ! -name .installed-lock.json -exec rm -rf {} + 2>/dev/null || true
mkdir -p "$work"
git --git-dir "$mirror" archive "$tag:tests/sync-provider" | tar -x -C "$work"
# Our package manifest (npm packages at 0.4.0 instead of the monorepo's workspace links),
# registry, Node 20 setup, TypeScript and vitest configuration; the upstream test file is untouched.
cp "$here/package.json" "$here/package-lock.json" "$here/tsconfig.json" "$work/"
cp "$here/registry.ts" "$work/src/providers/registry.ts"
cp "$here/setup.ts" "$work/sync-worker-setup.ts"
cp "$here/vitest.config.ts" "$work/vitest.config.ts"

if [ -d "$work/node_modules" ] && cmp -s "$here/package-lock.json" "$work/.installed-lock.json"; then
    echo "==> node_modules already installed from this lockfile"
else
    echo "==> npm ci (the suite's dependencies, from npm)"
    (cd "$work" && npm ci --legacy-peer-deps --no-audit --no-fund --loglevel=error)
    cp "$here/package-lock.json" "$work/.installed-lock.json"
fi

server_pid=""
cleanup() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

if [ -z "$url" ]; then
    bin="${SYNC_WORKER_BIN:-$root/${CARGO_TARGET_DIR:-target}/debug/sync-worker}"
    [ -x "$bin" ] || { echo "run.sh: no sync-worker binary at $bin (cargo build -p sync-worker)" >&2; exit 2; }
    port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
    mkdir -p "$work/server"
    (cd "$work/server" && exec env HOST=127.0.0.1 PORT="$port" ENVIRONMENT=development REQUIRE_AUTH=false \
        DATABASE_URL="sqlite://$work/server/sync.db" RUST_LOG="${RUST_LOG:-warn}" NO_COLOR=1 \
        "$bin" >"$work/server/sync-worker.log" 2>&1) &
    server_pid=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -fsS "$url/" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fsS "$url/" >/dev/null || { echo "run.sh: sync-worker did not start; log:" >&2; cat "$work/server/sync-worker.log" >&2; exit 1; }
    echo "==> sync-worker $bin on $url (log: $work/server/sync-worker.log)"
fi

echo "==> vitest run against $url"
cd "$work"
SYNC_PROVIDER_URL="$url" npx vitest run --reporter=verbose 2>&1 | tee "$work/vitest.log"
