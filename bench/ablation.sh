#!/usr/bin/env bash
# The rows of the paper's Tables 3 and 4 at the demo's small scale (not in CI): one PMC-CLIP
# pre-training from scratch, then, for each row and seed, the same number of steps continued
# from it with that row's losses, and ROCO retrieval on the held-out pairs.
#   Table 3: PMC-CLIP (ITC + MLM); + naive SimCLR (BatchNorm statistics not frozen);
#            + SimCLR with frozen BatchNorm statistics (the paper's).
#   Table 4: PMC-CLIP + each of ITC-image, ITC-text, SimCLR alone; all five (Uni-Mlip).
# Prints mean ± spread (sample standard deviation) over seeds of R@1 (image→text, text→image)
# and mean rank, as the paper's tables.
# ABLATION_DIR (default /tmp/unimlip-ablation), ABLATION_SEEDS (default "0 1 2"),
# ABLATION_N (ROCO records, default 6000), ABLATION_PRETRAIN (epochs, 10), ABLATION_EPOCHS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/unimlip"
WORK="${ABLATION_DIR:-/tmp/unimlip-ablation}"
SEEDS="${ABLATION_SEEDS:-0 1 2}"
N="${ABLATION_N:-6000}"
mkdir -p "$WORK"
cd "$WORK"

if [ ! -f data/roco/splits/roco-2000.parquet ]; then
  "$BIN" synth --dataset roco --out raw/roco --n "$N" > /dev/null
  "$BIN" ingest --dataset roco --src raw/roco --out data/roco --overwrite > /dev/null
  "$BIN" splits --data data/roco --recipe roco-2000 > /dev/null
  "$BIN" tokenizer train --data data/roco --vocab-size 1000 --out vocab.txt > /dev/null
fi

# run NAME SEED EPOCHS INIT LOSSES: one training run and its retrieval result (JSON on stdout).
run() {
  local name=$1 seed=$2 epochs=$3 init=$4 losses=$5 init_line=""
  if [ -n "$init" ]; then init_line="init = \"$init\""; fi
  cat > "$name.toml" <<TOML
model = "tiny"
tokenizer = "vocab.txt"
out = "$WORK/$name"
seed = $seed
$init_line

[data]
sources = [{ url = "$WORK/data/roco", splits = ["train"] }]
batch_size = 32

[optim]
lr = 1e-3
warmup = 50
epochs = $epochs

[losses]
$losses

[checkpoint]
every = 1000000
keep = 1
TOML
  rm -rf "${WORK:?}/$name"
  "$BIN" train --config "$name.toml" --json > /dev/null 2> "$name.log"
  "$BIN" eval retrieval --checkpoint "$WORK/$name" --data data/roco --json
}

PMC='itc_img = false
itc_txt = false
i2i = false
weight_cm = 0.5'
if [ ! -f pretrain/checkpoints/latest.json ]; then
  echo "pre-training PMC-CLIP from scratch (${ABLATION_PRETRAIN:-10} epochs) ..."
  run pretrain 0 "${ABLATION_PRETRAIN:-10}" "" "$PMC" > pretrain.json
fi
START="$WORK/pretrain/checkpoints/$(python3 -c 'import json; print(json.load(open("pretrain/checkpoints/latest.json"))["dir"])')/weights.safetensors"

ROWS=(
  "PMC-CLIP (ITC + MLM)|$PMC"
  "+ SimCLR, BN statistics not frozen (naive)|itc_img = false
itc_txt = false
freeze_bn = false"
  "+ SimCLR, BN statistics frozen|itc_img = false
itc_txt = false"
  "+ ITC, image perturbed (DropBlock)|itc_txt = false
i2i = false"
  "+ ITC, text perturbed (dropout)|itc_img = false
i2i = false"
  "Uni-Mlip (all five)|"
)

results="$WORK/results.tsv"
: > "$results"
for i in "${!ROWS[@]}"; do
  label="${ROWS[$i]%%|*}"
  losses="${ROWS[$i]#*|}"
  for seed in $SEEDS; do
    echo "row $((i + 1))/${#ROWS[@]} seed $seed: $label ..." >&2
    run "row$i-seed$seed" "$seed" "${ABLATION_EPOCHS:-3}" "$START" "$losses" \
      | python3 -c "import json,sys; r=json.load(sys.stdin); print('\t'.join(map(str, ['$i', '$label', r['i2t']['r1'], r['t2i']['r1'], r['i2t']['mean_rank'], r['t2i']['mean_rank'], r['pairs']])))" >> "$results"
  done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    i, label, a, b, ma, mb, n = line.rstrip("\n").split("\t")
    rows.setdefault((int(i), label), []).append((float(a), float(b), float(ma), float(mb), int(n)))
def ms(xs, pct=True):
    k = 100 if pct else 1
    m = statistics.mean(xs) * k
    s = statistics.stdev(xs) * k if len(xs) > 1 else 0.0
    return f"{m:.1f} ± {s:.1f}"
n = next(iter(rows.values()))[0][4]
print(f"\nROCO retrieval on {n} held-out pairs (chance R@1 {100 / n:.2f} %), mean ± sd over seeds\n")
print("| row | image→text R@1 | text→image R@1 | mean rank i→t | mean rank t→i | seeds |")
print("|---|---:|---:|---:|---:|---:|")
for (i, label), v in sorted(rows.items()):
    cols = list(zip(*v))
    print(f"| {label} | {ms(cols[0])} | {ms(cols[1])} | {ms(cols[2], False)} | {ms(cols[3], False)} | {len(v)} |")
PY
