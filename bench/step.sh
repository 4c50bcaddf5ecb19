#!/usr/bin/env bash
# One full training step (forward, the five losses, backward, AdamW, the logit-scale clamp) of
# unimlip-torch against the PyTorch reference doing the same step on the same batch and random
# draws (python/bench_step.py, torch.optim.AdamW(fused=True)), same model (the text tower's
# dropout included), batch and threads.
# Rows: tiny at batch 32 and rn50-pubmedbert at batch 4 (STEP_ROWS to change), each side run
# STEP_ROUNDS times (3) interleaved; each run reports its median step, the table the median of
# those. unimlip's written-out AdamW (`--adamw ops`) is timed beside as the earlier baseline.
# Run it alone: on 2 cores anything beside it is noise.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/unimlip"
PY="$UNIMLIP_TORCH_PYTHON"
WORK="${STEP_DIR:-/tmp/unimlip-step}"
ROUNDS="${STEP_ROUNDS:-3}"
ROWS="${STEP_ROWS:-tiny:32:10 rn50-pubmedbert:4:4}"
DEVICE="${STEP_DEVICE:-cpu}"
mkdir -p "$WORK"

median() { python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }

printf '%-16s %5s | %12s %12s %12s | %9s %9s\n' model batch "unimlip ms" "PyTorch ms" "ops ms" "ratio" "ops ratio"
for row in $ROWS; do
  IFS=: read -r model batch steps <<< "$row"
  dump="$WORK/$model-$batch"
  p=$("$BIN" bench step --model "$model" --batch "$batch" --steps 1 --warmup 0 --device "$DEVICE" \
    --dump "$dump" --json | field text_dropout)
  ours=() ref=() ops=() losses=()
  for _ in $(seq "$ROUNDS"); do
    j=$("$BIN" bench step --model "$model" --batch "$batch" --steps "$steps" --device "$DEVICE" --json)
    ours+=("$(field median <<< "$j")"); losses+=("unimlip $(field loss <<< "$j")")
    j=$(cd "$REPO/python" && "$PY" bench_step.py "$model" "$dump/step-00000-0.safetensors" \
      --steps "$steps" --device "$DEVICE" --text-dropout "$p")
    ref+=("$(field median <<< "$j")"); losses+=("PyTorch $(field loss <<< "$j")")
    j=$("$BIN" bench step --model "$model" --batch "$batch" --steps "$steps" --device "$DEVICE" \
      --adamw ops --json)
    ops+=("$(field median <<< "$j")")
  done
  o=$(median "${ours[@]}") r=$(median "${ref[@]}") w=$(median "${ops[@]}")
  python3 - "$model" "$batch" "$o" "$r" "$w" <<'PY'
import sys
m, b, o, r, w = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
print(f"{m:<16} {b:>5} | {o*1e3:>12.1f} {r*1e3:>12.1f} {w*1e3:>12.1f} | {o/r:>8.3f}x {w/r:>8.3f}x")
PY
  printf '    last losses (same weights seed, not the same init): %s\n' "${losses[*]:0:2}"
  printf '    runs: unimlip %s | PyTorch %s | ops %s\n' "${ours[*]}" "${ref[*]}" "${ops[*]}"
done
echo "ratio: unimlip (fused AdamW) over PyTorch (AdamW fused=True); below 1 is faster"
