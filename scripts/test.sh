#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds once, runs the
# Rust unit tests, lints, then the end-to-end suites against a real berthd with the real
# docker CLI, docker-py and a local registry.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build-deps.sh
bash scripts/deps.sh

echo "test: cargo fmt --check"
cargo fmt --all -- --check
echo "test: cargo build"
cargo build --workspace --locked
echo "test: cargo clippy"
cargo clippy --workspace --locked --all-targets -- -D warnings
echo "test: cargo test"
cargo test --workspace --locked
echo "test: pytest"
# Every suite must really run: a missing berthd binary is a failure, not a skip.
BERTH_REQUIRE_BERTHD=1 python3 -m pytest tests "$@"
