#!/usr/bin/env bash
# Everything CI checks, in order: set-up, formatting, lints, a smoke run of
# the release binary, and every test of every crate (the guest tests run
# each program natively and under every platform this host supports).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

# The README's first command, so it cannot rot; also logs which platforms
# this machine offers, i.e. which ones the guest tests below will cover.
rvisor="${CARGO_TARGET_DIR:-target}/release/rvisor"
"$rvisor" platforms
test "$(timeout 60 "$rvisor" run -- /bin/busybox echo hello)" = hello

cargo test --workspace
