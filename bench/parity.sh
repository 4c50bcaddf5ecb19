#!/usr/bin/env bash
# Training from scratch in both implementations (not in CI; the 50-step parity test is). From one
# initialisation made as the original modules make it, `unimlip train` runs with `dump_steps`
# and the PyTorch reference replays the same micro-batches and draws (python/uni_mlip_ref.py
# replay); both final models are scored on the held-out ROCO pairs by the same retrieval code.
#   clip:  ITC alone, weight 1            (both implementations)
#   pmc:   ITC (weight 1) + MLM (0.5)     (both implementations)
# and, to locate where the five-loss run stalls from scratch (unimlip only; the parity test
# shows the reference follows it):
#   five:        the paper's five losses and weights, SimCLR with frozen BatchNorm statistics
#   five-naive:  the same with the statistics updated (naive SimCLR)
#   five-cm1:    frozen statistics, the three ITC terms at weight 1 instead of 0.167
#   five-warm:   the paper's five losses, started from `pmc`'s final weights (the demo's way)
# Prints, per run, the loss curve at five points, the logit scale, and R@1 / R@10 both ways.
# PARITY_DIR (default /tmp/unimlip-parity), PARITY_N (ROCO records, 3000), PARITY_EPOCHS (4).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${UNIMLIP_CACHE:-$HOME/.cache/unimlip}/env.sh"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/unimlip"
PY="$UNIMLIP_TORCH_PYTHON"
REF="$REPO/python/uni_mlip_ref.py"
WORK="${PARITY_DIR:-/tmp/unimlip-parity}"
N="${PARITY_N:-3000}"
EPOCHS="${PARITY_EPOCHS:-4}"
mkdir -p "$WORK"
cd "$WORK"

if [ ! -f data/roco/manifest.json ]; then
  "$BIN" synth --dataset roco --out raw/roco --n "$N" > /dev/null
  "$BIN" ingest --dataset roco --src raw/roco --out data/roco --overwrite > /dev/null
  "$BIN" tokenizer train --data data/roco --vocab-size 1000 --out vocab.txt > /dev/null
fi
# `tiny` without text dropout: the reference has none, and BERT's dropout masks are not dumped.
cat > model.toml <<'TOML'
embed_dim = 64
context_length = 77
fusion_layers = 2
fusion_heads = 4
ssl_mlp_dim = 128
ssl_emb_dim = 32

[vision]
image_size = 96
layers = [1, 1, 1, 1]
width = 8
heads = 4
output_dim = 64

[text]
vocab_size = 1000
hidden = 64
layers = 2
heads = 4
intermediate = 128
max_positions = 77
type_vocab = 2
dropout = 0.0
TOML
"$PY" "$REF" init init.safetensors --model model.toml

# train NAME INIT LOSSES DUMP: one unimlip run (with its dump when DUMP is 1).
train() {
  local name=$1 init=$2 losses=$3 dump=$4 dump_line=""
  if [ "$dump" = 1 ]; then dump_line="dump_steps = \"$WORK/$name-dump\""; fi
  local total
  total=$("$BIN" inspect data/roco --json | python3 -c "import json,sys; m=json.load(sys.stdin); print(m['splits']['train']['rows'] // 32 * $EPOCHS)")
  cat > "$name.toml" <<TOML
model = "model.toml"
tokenizer = "vocab.txt"
out = "$WORK/$name"
seed = 0
init = "$init"
$dump_line

[data]
sources = [{ url = "$WORK/data/roco", splits = ["train"] }]
batch_size = 32

[optim]
lr = 1e-3
warmup = 50
max_steps = $total

[losses]
$losses

[checkpoint]
every = 1000000
keep = 1
TOML
  rm -rf "${WORK:?}/$name" "${WORK:?}/$name-dump"
  "$BIN" train --config "$name.toml" --json > /dev/null 2> "$name.log"
}

# retrieval WEIGHTS: R@1 and R@10 both ways on the held-out pairs, as one TSV fragment.
retrieval() {
  "$BIN" eval retrieval --checkpoint "$1" --config model.toml --tokenizer vocab.txt \
    --data data/roco --split test --json \
    | python3 -c "import json,sys; r=json.load(sys.stdin); print('\t'.join(str(round(100*x, 1)) for x in [r['i2t']['r1'], r['t2i']['r1'], r['i2t']['r10'], r['t2i']['r10']]) + '\t' + str(r['pairs']))"
}

weights() {
  echo "$WORK/$1/checkpoints/$(python3 -c "import json; print(json.load(open('$WORK/$1/checkpoints/latest.json'))['dir'])")/weights.safetensors"
}

# curve FILE: the total and ITC losses at five points of a metrics.jsonl or a replay's JSON.
curve() {
  python3 - "$1" <<'PY'
import json, sys
p = sys.argv[1]
lines = json.load(open(p)) if p.endswith(".json") else [json.loads(l) for l in open(p)]
n = len(lines)
pts = [lines[min(n - 1, round(i * (n - 1) / 4))] for i in range(5)]
print("  ".join(f"{l['step']}:{l['loss']:.3f}/{l['loss_itc']:.3f}" for l in pts)
      + f"  scale {lines[-1]['logit_scale']:.1f}")
PY
}

CLIP='itc_img = false
itc_txt = false
i2i = false
mlm = false
weight_cm = 1.0'
PMC='itc_img = false
itc_txt = false
i2i = false
weight_cm = 1.0'
{
  echo "run	implementation	R@1 i→t	R@1 t→i	R@10 i→t	R@10 t→i	pairs	curve (step:total/ITC)"
  for row in "clip|$CLIP" "pmc|$PMC"; do
    name=${row%%|*}
    echo "$name: unimlip and the reference ..." >&2
    train "$name" "$WORK/init.safetensors" "${row#*|}" 1
    "$PY" "$REF" replay "$name.toml" "$name-dump" "$name-torch.json" --save "$name-torch.safetensors"
    echo "$name	unimlip	$(retrieval "$(weights "$name")")	$(curve "$name/metrics.jsonl")"
    echo "$name	PyTorch	$(retrieval "$name-torch.safetensors")	$(curve "$name-torch.json")"
    rm -rf "${WORK:?}/$name-dump"
  done
  for row in "five|" "five-naive|freeze_bn = false" "five-cm1|weight_cm = 1.0" "five-warm|"; do
    name=${row%%|*}
    init="$WORK/init.safetensors"
    if [ "$name" = five-warm ]; then init=$(weights pmc); fi
    echo "$name: unimlip ..." >&2
    train "$name" "$init" "${row#*|}" 0
    echo "$name	unimlip	$(retrieval "$(weights "$name")")	$(curve "$name/metrics.jsonl")"
  done
} | tee results.tsv
