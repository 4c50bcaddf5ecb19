#!/usr/bin/env bash
# The main job: the whole pipeline on generated data (no datasets, no GPU needed) — synthesise
# small ROCO, CheXpert, VQA-RAD and SLAKE sets in their published layouts, ingest them, write the
# evaluation splits, train the tiny Uni-Mlip for a few minutes, run retrieval, classification
# and VQA, print the tables and write a report page. Output goes to ./unimlip-demo (or $1);
# a second argument is passed on as the demo's --store (any store URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"

OUT="${1:-unimlip-demo}"
echo "== building unimlip (release)"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/unimlip"

ARGS=(demo --out "$OUT" --force)
if [ -n "${2:-}" ]; then
  ARGS+=(--store "$2")
fi
"$BIN" "${ARGS[@]}"
