#!/usr/bin/env bash
# Ingest benchmark: `unimlip ingest` against a straightforward Python baseline (PIL + pyarrow,
# bench/baseline_ingest.py) and the I/O floor (bench/io_floor.py: read the files, write the
# Parquet, decode nothing), on the same generated inputs, in one run:
#   (i)  2,000 PMC-OA-like JPEGs of about 500 px (kept as they are after validation)
#   (ii) 500 radiographs of 2,000-3,000 px, JPEG and 8/16-bit PNG, resized to 512
# Prints images/s, images/s per core and the ratios. Two more unimlip rows break its time down:
# `bench decode` runs the same validation and resize on the same workers but writes nothing, and
# with `--resize none` only validates (JPEGs entropy-decoded at 1/8 scale, PNGs inflated and
# unfiltered in full): the least work any ingest that checks every image must do with these
# decoders, so baseline / validate-only bounds the speed-up reachable. BENCH_DIR (default /tmp/unimlip-bench),
# BENCH_CORES (default: all cores), BENCH_SMALL / BENCH_LARGE (image counts) adjust it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/unimlip"
PY="$UNIMLIP_PYTHON"
WORK="${BENCH_DIR:-/tmp/unimlip-bench}"
CORES="${BENCH_CORES:-$(nproc)}"
mkdir -p "$WORK"

gen() { # name n sizes formats seed
  [ -f "$WORK/$1/pmc_oa_beta.jsonl" ] && [ "$(wc -l < "$WORK/$1/pmc_oa_beta.jsonl")" = "$2" ] && return
  rm -rf "${WORK:?}/$1"
  "$BIN" synth --dataset pmc-oa --out "$WORK/$1" --n "$2" --image-size "$3" --formats "$4" --seed "$5" > /dev/null
}
echo "generating inputs in $WORK ..."
gen small "${BENCH_SMALL:-2000}" 450-512 jpeg 1
gen large "${BENCH_LARGE:-500}" 2000-3000 jpeg,png8,png16 2

secs() { python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])'; }
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

bench_one() { # input
  local src="$WORK/$1" n mb
  n=$(wc -l < "$src/pmc_oa_beta.jsonl")
  mb=$(du -sm "$src" | cut -f1)
  cat "$src"/caption_T060_filtered_top4_sep_v0_subfigures/* > /dev/null   # same warm page cache for all three
  local ru=() rb=() rf=() rd=() rv=() tu tb tf td tv
  for _ in $(seq "${BENCH_REPEAT:-3}"); do   # interleaved repeats; the median is reported
    rm -rf "$WORK/out-"*
    ru+=("$("$BIN" ingest --dataset pmc-oa --src "$src" --out "$WORK/out-unimlip" --workers "$CORES" --json | secs)")
    rb+=("$("$PY" bench/baseline_ingest.py "$src" "$WORK/out-baseline" --workers "$CORES" | secs)")
    rf+=("$("$PY" bench/io_floor.py "$src" "$WORK/out-floor" | secs)")
    rd+=("$("$BIN" bench decode "$src" --workers "$CORES" --json | secs)")
    rv+=("$("$BIN" bench decode "$src" --workers "$CORES" --resize none --json | secs)")
  done
  tu=$(median "${ru[@]}"); tb=$(median "${rb[@]}"); tf=$(median "${rf[@]}")
  td=$(median "${rd[@]}"); tv=$(median "${rv[@]}")
  python3 - "$1" "$n" "$mb" "$CORES" "$tu" "$tb" "$tf" "$td" "$tv" <<'PY'
import sys
name, n, mb, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tu, tb, tf, td, tv = map(float, sys.argv[5:10])
rate = lambda t: n / t
print(f"\n[{name}] {n} images, {mb} MB, {cores} cores (median of the repeats)")
print(f"  {'':<32}{'seconds':>9}{'images/s':>11}{'per core':>11}")
rows = (
    ("unimlip ingest", tu, cores),
    ("python PIL+pyarrow", tb, cores),
    ("I/O floor (1 proc)", tf, 1),
    ("unimlip decode+resize, no write", td, cores),
    ("unimlip validate only", tv, cores),
)
for label, t, c in rows:
    print(f"  {label:<32}{t:>9.2f}{rate(t):>11.1f}{rate(t) / c:>11.1f}")
print(f"  unimlip / baseline (per core): {tb / tu:.2f}x")
print(f"  unimlip time / I/O floor time: {tu / tf:.2f}x (1.00 = at the floor)")
print(f"  baseline / validate-only: {tb / tv:.2f}x (the most any fully validating ingest on these decoders can reach)")
PY
}
bench_one small
bench_one large
