#!/usr/bin/env bash
# The main job: synthesise small ROCO and PMC-OA sets, ingest both to a local store, and
# print what was stored. Output goes to ./unimlip-demo (or the folder given as $1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"

OUT="${1:-unimlip-demo}"
echo "== building unimlip (release)"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/unimlip"

for ds in roco pmc-oa; do
  echo "== synth $ds → $OUT/raw/$ds"
  "$BIN" synth --dataset "$ds" --out "$OUT/raw/$ds" --n 400 --seed 7
  echo "== ingest $ds → $OUT/store/$ds"
  "$BIN" ingest --dataset "$ds" --src "$OUT/raw/$ds" --out "$OUT/store/$ds" --overwrite
  echo "== inspect $OUT/store/$ds --verify"
  "$BIN" inspect "$OUT/store/$ds" --verify
done
