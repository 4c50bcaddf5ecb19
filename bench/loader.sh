#!/usr/bin/env bash
# Loader benchmark: `unimlip bench loader` (the real reader and augmentation pool) against a
# PyTorch baseline (bench/baseline_loader.py: pyarrow + PIL + torchvision v2 + a DataLoader with
# one worker per core), on the same shards, interleaved, in one run, for two pipelines:
#   (a) rrc-flip: decode + RandomResizedCrop 224 + flip
#   (b) unimlip:  decode once, one weak and two strong views
# Prints samples/s, per core and the ratios (medians of BENCH_REPEAT runs, default 3).
# BENCH_DIR (default /tmp/unimlip-bench-loader), BENCH_N (images, default 5000), BENCH_CORES
# (default: all cores). The first run adds torchvision to setup.sh's torch environment.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/unimlip"
WORK="${BENCH_DIR:-/tmp/unimlip-bench-loader}"
CORES="${BENCH_CORES:-$(nproc)}"
N="${BENCH_N:-5000}"
VENV="$(dirname "$(dirname "$UNIMLIP_TORCH_PYTHON")")"   # setup.sh's torch environment
if ! "$VENV/bin/python" -c 'import torchvision, pyarrow, PIL' 2> /dev/null; then
  echo "adding torchvision 0.26.0, pyarrow and Pillow to $VENV ..."
  "$VENV/bin/pip" install -q torchvision==0.26.0 pyarrow==26.0.1 pillow==13.0.0
fi
PY="$VENV/bin/python"
mkdir -p "$WORK"
if [ ! -f "$WORK/shards/manifest.json" ] || [ "$(wc -l < "$WORK/raw/pmc_oa_beta.jsonl")" != "$N" ]; then
  echo "generating $N images of 480-512 px in $WORK ..."
  rm -rf "${WORK:?}/raw" "${WORK:?}/shards"
  "$BIN" synth --dataset pmc-oa --out "$WORK/raw" --n "$N" --image-size 480-512 --formats jpeg --seed 3 > /dev/null
  "$BIN" ingest --dataset pmc-oa --src "$WORK/raw" --out "$WORK/shards" --json > /dev/null
fi
cat "$WORK/shards/shards/"*.parquet > /dev/null   # the same warm page cache for both sides

field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

for pipeline in rrc-flip unimlip; do
  ru=(); rb=()
  for _ in $(seq "${BENCH_REPEAT:-3}"); do
    ru+=("$("$BIN" bench loader --data "$WORK/shards" --pipeline "$pipeline" --threads "$CORES" --samples "$N" --json | field samples_per_s)")
    rb+=("$("$PY" bench/baseline_loader.py "$WORK/shards" --pipeline "$pipeline" --workers "$CORES" --samples "$N" | field samples_per_s)")
  done
  python3 - "$pipeline" "$N" "$CORES" "$(median "${ru[@]}")" "$(median "${rb[@]}")" "${ru[*]}" "${rb[*]}" <<'PY'
import sys
name, n, cores, u, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"\n[{name}] {n} samples of 480-512 px JPEGs, {cores} cores (median of the repeats)")
print(f"  {'':<30}{'samples/s':>11}{'per core':>11}   runs")
runs = lambda s: " ".join(f"{float(x):.1f}" for x in s.split())
print(f"  {'unimlip bench loader':<30}{u:>11.1f}{u / cores:>11.1f}   {runs(sys.argv[6])}")
print(f"  {'pytorch DataLoader + tv v2':<30}{b:>11.1f}{b / cores:>11.1f}   {runs(sys.argv[7])}")
print(f"  unimlip / baseline (per core): {u / b:.2f}x")
PY
done
