#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds once, runs the
# Rust unit tests, lints, then the end-to-end suites against a real berthd with the real
# docker CLI, docker-py and a local registry.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build-deps.sh
bash scripts/deps.sh
# Chromium, keyutils and the npm packages of the dashboard tests; builds frontend/dist.
bash scripts/deps-desktop-web.sh
# QEMU, virtiofsd and vhost-device-vsock for the VM suite (tests/test_vm.py).
bash scripts/deps-vm.sh

# rustfmt and clippy ship with the machine's toolchain; if one is ever missing its
# check is reported as skipped instead of failing the run for an unrelated reason.
if cargo fmt --version >/dev/null 2>&1; then
  echo "test: cargo fmt --check"
  cargo fmt --all -- --check
else
  echo "test: WARNING: rustfmt is not installed; formatting NOT checked"
fi
echo "test: cargo build"
cargo build --workspace --locked
if cargo clippy --version >/dev/null 2>&1; then
  echo "test: cargo clippy"
  cargo clippy --workspace --locked --all-targets -- -D warnings
else
  echo "test: WARNING: clippy is not installed; lints NOT checked"
fi
echo "test: cargo test"
cargo test --workspace --locked
echo "test: berth-container-init and berth-shim (static, next to berthd, over what cargo put there)"
bash scripts/build-init.sh "${CARGO_TARGET_DIR:-target}/debug" >/dev/null
bash scripts/build-shim.sh "${CARGO_TARGET_DIR:-target}/debug" >/dev/null
echo "test: guest image (vm-images/build.sh; cached)"
bash vm-images/build.sh
echo "test: desktop app (deps, unit tests, Tauri build into target/desktop)"
bash scripts/build-desktop.sh
echo "test: pytest"
# Every suite must really run: a missing berthd binary is a failure, not a skip.
BERTH_REQUIRE_BERTHD=1 python3 -m pytest tests "$@"
