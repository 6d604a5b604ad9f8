#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, starting from a scratch
# copy of its committed seed corpus, so a run never writes into fuzz/corpus. A crash, a
# failed assertion or a slow input (over TIMEOUT seconds) stops with a non-zero status and
# leaves the input in fuzz/artifacts/<target>/ (ignored by git).
#
#   fuzz/run.sh SECONDS [TARGET...]     (just fuzz: 600, just fuzz-ci and CI: 60)
#
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them. No sanitizer: every crate of ours forbids `unsafe`, and what the targets
# look for (panics, failed assertions, overflows; debug assertions are on) needs none.
set -euo pipefail

seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
timeout=${FUZZ_TIMEOUT:-30}

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Build every target first, so each run's time limit is spent fuzzing.
for target in "${targets[@]}"; do
    cargo fuzz build --sanitizer none "$target"
done

for target in "${targets[@]}"; do
    printf '\n--- fuzzing %s for %s s\n' "$target" "$seconds"
    mkdir -p "$scratch/$target"
    cp corpus/"$target"/seed-* "$scratch/$target/"
    cargo fuzz run --sanitizer none "$target" "$scratch/$target" -- \
        -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1
done
