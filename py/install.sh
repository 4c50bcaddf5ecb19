#!/usr/bin/env bash
# Builds the Python package with maturin and installs it into setup.sh's torch environment:
#   bash py/install.sh          release build (for benchmarks and use)
#   bash py/install.sh dev      the test profile (shares the compiled crates of `cargo test`)
# A user's own environment: `pip install ./py` (maturin from PyPI builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"
args=()
if [ "${1:-release}" = dev ]; then
  args=(--profile dev)
fi
MATURIN_PEP517_ARGS="${args[*]:-}" "$UNIMLIP_TORCH_PYTHON" -m pip install --quiet \
  --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./py
