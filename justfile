# Recipes for working on the workspace. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Both services in one process with development config (SQLite under ./data).
dev:
    cargo run -p dev-stack

# The test suite (the README's test command).
test:
    cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo fmt --manifest-path fuzz/Cargo.toml -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Fuzz every parser of untrusted input for 10 minutes each (cargo-fuzz; see "Fuzzing" in
# the README). `just fuzz 120 v03_frame` runs one target for 2 minutes.
fuzz seconds="600" *targets="":
    fuzz/run.sh {{seconds}} {{targets}}

# The short run CI does: 60 s per target.
fuzz-ci:
    fuzz/run.sh 60

# End to end: the real LiveStore clients in Node (0.3.1, then 0.4.0 with the mixed and
# two-node runs on the machine's PostgreSQL, PG_TEST_URL), then the demo app in headless Chromium.
e2e:
    cargo build -p auth-worker -p sync-worker
    cd e2e && npm ci --no-audit --no-fund && npm test
    cd e2e/v04 && npm ci --no-audit --no-fund && npm test
    cd web && npm ci --no-audit --no-fund && npm run build
    cd e2e/browser && npm ci --no-audit --no-fund && npm test

# The standard benchmark suite against a release build (issues 5 and 8); results in bench-results/
bench:
    bash bench/run.sh

# The same scenarios against the Cloudflare original (bench/reference, wrangler in local
# workerd; installs its npm packages itself) and sync-worker, with the ratio per row.
bench-compare:
    bash bench/compare.sh
