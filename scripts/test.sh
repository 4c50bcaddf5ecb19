#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, unit and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --quiet 2>&1 | tee "${TMPDIR:-/tmp}/unimlip-test.log"
