#!/usr/bin/env bash
# `unimlip.Loader` from Python against `unimlip bench loader` on the same shards: the same
# 3,000-image set (480-512 px JPEGs) for both, interleaved, medians of BENCH_REPEAT (default 3),
# for the unimlip and rrc-flip pipelines. Fails when Python's rate is below 95 % of the CLI's.
# BENCH_DIR (default /tmp/unimlip-bench-python), BENCH_N (images), BENCH_CORES (threads).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"
cargo build --release --quiet
bash py/install.sh   # the release build of the Python package
BIN="$CARGO_TARGET_DIR/release/unimlip"
PY="$UNIMLIP_TORCH_PYTHON"
WORK="${BENCH_DIR:-/tmp/unimlip-bench-python}"
N="${BENCH_N:-3000}"
CORES="${BENCH_CORES:-$(nproc)}"
mkdir -p "$WORK"
if [ ! -f "$WORK/shards/manifest.json" ] || [ "$(wc -l < "$WORK/raw/pmc_oa_beta.jsonl")" != "$N" ]; then
  echo "generating $N images of 480-512 px in $WORK ..."
  rm -rf "${WORK:?}/raw" "${WORK:?}/shards"
  "$BIN" synth --dataset pmc-oa --out "$WORK/raw" --n "$N" --image-size 480-512 --formats jpeg --seed 3 > /dev/null
  "$BIN" ingest --dataset pmc-oa --src "$WORK/raw" --out "$WORK/shards" --json > /dev/null
fi
cat "$WORK/shards/shards/"*.parquet > /dev/null
status=0
for pipeline in unimlip rrc-flip; do
  "$PY" py/bench_loader.py "$WORK/shards" --bin "$BIN" --pipeline "$pipeline" \
    --threads "$CORES" --repeat "${BENCH_REPEAT:-3}" --min-ratio 0.95 || status=1
done
exit $status
