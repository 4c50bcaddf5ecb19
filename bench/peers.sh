#!/usr/bin/env bash
# unimlip against the tools its users would pick instead, side by side in one run:
# NVIDIA DALI (CPU pipeline), Lightning's LitData, MosaicML Streaming (MDS), WebDataset and, if it
# builds here, FFCV. One set of PMC-OA-like 512-px JPEGs with captions (PEERS_N, 3,000), then,
# interleaved, medians of PEERS_REPEAT (3) runs:
#   conversion  unimlip ingest | litdata.optimize | MDSWriter | webdataset.ShardWriter, each peer
#               once copying the bytes (as its users run it) and once validating every image by a
#               full PIL decode (what unimlip ingest always does); images/s per core
#   loading     rrc-flip and the three-view Uni-Mlip pipeline, the same transforms everywhere
#               (torchvision v2 in a DataLoader for LitData, MDS and WebDataset; DALI's own CPU
#               operators on the WebDataset tars), PEERS_CORES workers or threads each, from local
#               disk and from the loopback S3 server (s3s-fs) where the peer reads S3;
#               samples/s per core from the first batch on (the pipeline full: FFCV's JIT and
#               the workers' start left out) and, apart, the time to the first batch
# The peers live in their own cached environment, keyed by their pinned versions, beside
# setup.sh's torch. PEERS_DIR (default /tmp/unimlip-peers), PEERS_SAMPLES (samples per loading
# run, 2,000), PEERS_ONLY (a regular expression over row names). Run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"
cargo build --release --quiet --bin unimlip
BIN="$CARGO_TARGET_DIR/release/unimlip"
WORK="${PEERS_DIR:-/tmp/unimlip-peers}"
CORES="${PEERS_CORES:-$(nproc)}"
N="${PEERS_N:-3000}"
SAMPLES="${PEERS_SAMPLES:-2000}"
REPEAT="${PEERS_REPEAT:-3}"
ONLY="${PEERS_ONLY:-.}"

# The peers' environment: their pinned versions over setup.sh's torch (a .pth file puts the torch
# environment's site-packages behind this one's, so torch is not installed twice).
PINS="nvidia-dali-cuda130==2.4.0 litdata==0.2.76 mosaicml-streaming==0.13.0 webdataset==1.0.2 torchvision==0.26.0 pillow==13.0.0 pyarrow==26.0.1"
FFCV_PIN="ffcv==1.0.2"
CACHE="${UNIMLIP_CACHE:-$HOME/.cache/unimlip}"
KEY=$(printf '%s' "$PINS" | sha256sum | cut -c1-12)
VENV="$CACHE/venv-peers-$KEY"
PY="$VENV/bin/python"
if [ ! -f "$VENV/.complete" ]; then
  echo "installing the peers into $VENV: $PINS"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  TORCH_SITE=$("$UNIMLIP_TORCH_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$TORCH_SITE" > "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/unimlip-torch.pth"
  # shellcheck disable=SC2086
  "$PY" -m pip install -q --disable-pip-version-check $PINS
  # FFCV builds from source against OpenCV and libjpeg-turbo (Debian's -dev packages, found
  # through pkg-config); tried once, the outcome kept.
  if [ "$(id -u)" = 0 ] && ! pkg-config --exists opencv4 2> /dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopencv-dev libturbojpeg0-dev > /dev/null || true
  fi
  if "$PY" -m pip install -q --disable-pip-version-check "$FFCV_PIN" > "$VENV/ffcv-build.log" 2>&1; then
    echo ok > "$VENV/ffcv"
  else
    grep -m1 -E 'RuntimeError|fatal error|Could not' "$VENV/ffcv-build.log" > "$VENV/ffcv" || echo "pip failed (see $VENV/ffcv-build.log)" > "$VENV/ffcv"
  fi
  touch "$VENV/.complete"
fi
FFCV=$(cat "$VENV/ffcv")

mkdir -p "$WORK"
cd "$WORK"
if [ ! -f raw/pmc_oa_beta.jsonl ] || [ "$(wc -l < raw/pmc_oa_beta.jsonl)" != "$N" ]; then
  echo "generating $N PMC-OA-like JPEGs of 480-512 px in $WORK/raw ..."
  rm -rf raw
  "$BIN" synth --dataset pmc-oa --out raw --n "$N" --image-size 480-512 --formats jpeg --seed 5 > /dev/null
fi
cat raw/caption_T060_filtered_top4_sep_v0_subfigures/* > /dev/null   # the same warm page cache

# The loopback S3 server, its bucket a folder (objects are its files).
S3ROOT="$WORK/s3"
rm -rf "$S3ROOT"
mkdir -p "$S3ROOT/peers"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$UNIMLIP_S3S_FS" --host 127.0.0.1 --port "$PORT" --access-key peerskey --secret-key peerssecret "$S3ROOT" > s3s.log 2>&1 &
S3PID=$!
trap 'kill $S3PID 2> /dev/null || true' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=peerskey AWS_SECRET_ACCESS_KEY=peerssecret AWS_REGION=us-east-1
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT))" 2> /dev/null && break; sleep 0.1; done

field() { python3 -c 'import json,sys; v=json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]]; print(v)' "$1"; }
# The median of the runs that finished (a failed run counts as nan and shows in the runs column).
median() { python3 -c 'import math,statistics,sys; v=[x for x in map(float, sys.argv[1:]) if not math.isnan(x)]; print(statistics.median(v) if v else "nan")' "$@"; }
RESULTS="$WORK/results.tsv"
: > "$RESULTS"
# record KIND ROW CORES RATE FIRST RUNS...
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"; }
PEERS="$REPO/bench/peers.py"

# ---- conversion ------------------------------------------------------------------------------
convert_rows=(unimlip litdata litdata-validate mds mds-validate wds wds-validate)
[ "$FFCV" = ok ] && convert_rows+=(ffcv)
declare -A conv
for _ in $(seq "$REPEAT"); do
  for row in "${convert_rows[@]}"; do
    [[ convert/$row =~ $ONLY ]] || continue
    case $row in
      unimlip) rm -rf out-unimlip   # a re-run into a complete dataset would reuse its shards
        j=$("$BIN" ingest --dataset pmc-oa --src raw --out out-unimlip --overwrite --workers "$CORES" --json)
        c=$CORES; r=$(python3 -c "import json,sys; print($N / json.loads(sys.argv[1])['seconds'])" "$j") ;;
      ffcv) j=$("$PY" "$PEERS" convert ffcv raw out-ffcv --workers "$CORES" 2> convert-ffcv.err)
        c=$(field cores <<< "$j"); r=$(field images_per_s <<< "$j") ;;
      *-validate) j=$("$PY" "$PEERS" convert "${row%-validate}" raw "out-${row%-validate}" --validate --workers "$CORES" 2> "convert-$row.err")
        c=$(field cores <<< "$j"); r=$(field images_per_s <<< "$j") ;;
      *) j=$("$PY" "$PEERS" convert "$row" raw "out-$row" --workers "$CORES" 2> "convert-$row.err")
        c=$(field cores <<< "$j"); r=$(field images_per_s <<< "$j") ;;
    esac
    conv[$row]="${conv[$row]:-} $r"; conv[$row.cores]=$c
  done
done
for row in "${convert_rows[@]}"; do
  [ -n "${conv[$row]:-}" ] || continue
  # shellcheck disable=SC2086
  record convert "$row" "${conv[$row.cores]}" "$(median ${conv[$row]})" - "${conv[$row]}"
done

# The converted sets on the S3 server (copied into its bucket folder: the same bytes).
for d in out-*; do [ "$d" = out-ffcv ] || cp -r "$d" "$S3ROOT/peers/${d#out-}"; done

# ---- loading ---------------------------------------------------------------------------------
load_rows=(unimlip litdata mds wds dali)
[ "$FFCV" = ok ] && load_rows+=(ffcv)
load_rows+=(unimlip-s3 litdata-s3 mds-s3 wds-s3)
declare -A rate first
for pipeline in rrc-flip unimlip; do
  for _ in $(seq "$REPEAT"); do
    for row in "${load_rows[@]}"; do
      name="$pipeline/$row"
      [[ $name =~ $ONLY ]] || continue
      [ "$name" = unimlip/ffcv ] && continue   # FFCV 1.0.2: one pipeline per field
      peer=${row%-s3}
      if [ "$row" = "$peer" ]; then src="$WORK/out-$peer"; else src="s3://peers/$peer"; fi
      [ "$peer" = dali ] && src="$WORK/out-wds"
      if [ "$peer" = unimlip ]; then
        j=$("$BIN" bench loader --data "$src" --pipeline "$pipeline" --threads "$CORES" --samples "$SAMPLES" --json)
      else
        j=$("$PY" "$PEERS" load "$peer" "$pipeline" "$src" --workers "$CORES" --samples "$SAMPLES" 2> "load-$pipeline-$row.err") \
          || { echo "$name failed: $(tail -1 "load-$pipeline-$row.err")"; rate[$name]="${rate[$name]:-} nan"; continue; }
      fi
      rate[$name]="${rate[$name]:-} $(field steady_samples_per_s <<< "$j")"
      first[$name]="${first[$name]:-} $(field first_batch_s <<< "$j")"
    done
  done
  for row in "${load_rows[@]}"; do
    name="$pipeline/$row"
    [ -n "${rate[$name]:-}" ] || continue
    # shellcheck disable=SC2086
    record "load-$pipeline" "$row" "$CORES" "$(median ${rate[$name]})" "$(median ${first[$name]:-nan})" "${rate[$name]}"
  done
done

python3 - "$RESULTS" "$N" "$SAMPLES" "$CORES" "$FFCV" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
n, samples, cores, ffcv = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
by = {}
for kind, row, c, rate, first, runs in rows:
    by.setdefault(kind, []).append((row, int(c), float(rate), first, runs.split()))
titles = {
    "convert": f"conversion of {n} 512-px JPEGs with captions (images/s)",
    "load-rrc-flip": f"loading, rrc-flip, {samples} samples, {cores} workers (samples/s after the first batch)",
    "load-unimlip": f"loading, three views (weak + 2 strong), {samples} samples, {cores} workers (samples/s after the first batch)",
}
for kind, title in titles.items():
    if kind not in by:
        continue
    print(f"\n[{title}; medians of the runs]")
    print(f"  {'':<20}{'rate':>9}{'cores':>6}{'per core':>10}{'unimlip/peer':>14}{'first batch s':>15}   runs")
    ours = next((r for r in by[kind] if r[0] == "unimlip"), None)
    for row, c, rate, first, runs in by[kind]:
        base = ours
        if row.endswith("-s3"):
            base = next((r for r in by[kind] if r[0] == "unimlip-s3"), None)
        ratio = "" if base is None or row.startswith("unimlip") or rate != rate else f"{(base[2] / base[1]) / (rate / c):.2f}x"
        fb = "" if first == "-" else f"{float(first):.2f}"
        print(f"  {row:<20}{rate:>9.1f}{c:>6}{rate / c:>10.1f}{ratio:>14}{fb:>15}   {' '.join(f'{float(x):.1f}' for x in runs)}")
print("\nunimlip/peer: per-core rates (above 1: unimlip ahead). -validate: the peer fully decodes every"
      " image, as unimlip ingest does; ffcv always decodes and re-encodes. dali reads the WebDataset"
      " tars with its own reader. ffcv has no three-view row: FFCV 1.0.2 gives a field one pipeline"
      " only (and has no hue, greyscale or blur operator). -s3: from the loopback S3 server;"
      " dali and ffcv read no S3 here.")
print(f"ffcv: {'measured' if ffcv == 'ok' else 'not measured, it did not build here: ' + ffcv}")
PY
