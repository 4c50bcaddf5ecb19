#!/usr/bin/env bash
# The GPU check, in at most 8 minutes on a machine with an NVIDIA GPU and torch 2.11 (cu130):
#   (a) `tiny` trained with NCCL at world size 1 (torchrun's variables) and through `--nproc 1`;
#   (b) the rn50-pubmedbert bf16 step at batch 128 against the PyTorch reference's bf16 step
#       (python/bench_step.py: autocast bf16, channels-last, cuDNN benchmark, AdamW fused=True),
#       on the same batch and draws;
#   (c) data_wait of rn50-pubmedbert training on the three-view pipeline from local shards;
#   (d) peak GPU memory of each run (nvidia-smi, sampled every 200 ms; the reference's also
#       from torch.cuda.max_memory_allocated).
# It uses binaries built elsewhere (GPU_BIN: the folder holding `unimlip` and `unimlip-torch`)
# against the machine's torch (GPU_TORCH: a venv whose python imports torch; /opt/torch/.venv).
#   bench/gpu.sh            run it
#   bench/gpu.sh --dry-run  everything up to the first CUDA call (data, configs, the reference's
#                           imports), then print what would run; CI runs this on the CPU
# GPU_WORK (default /tmp/unimlip-gpu), GPU_STEPS (timed steps, 10), GPU_TRAIN_STEPS (40).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
BIN_DIR="${GPU_BIN:-$REPO/.device/bin}"
TORCH_VENV="${GPU_TORCH:-/opt/torch/.venv}"
WORK="${GPU_WORK:-/tmp/unimlip-gpu}"
STEPS="${GPU_STEPS:-10}"
TRAIN_STEPS="${GPU_TRAIN_STEPS:-40}"
BIN="$BIN_DIR/unimlip"
PY="$TORCH_VENV/bin/python"
T0=$(date +%s)
say() { printf '[gpu %3ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() { printf 'bench/gpu.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN" ] && [ -x "$BIN_DIR/unimlip-torch" ] || fail "no unimlip and unimlip-torch in $BIN_DIR (set GPU_BIN)"
[ -x "$PY" ] || fail "no python in $TORCH_VENV (set GPU_TORCH)"
TORCH_LIB="$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" \
  || fail "$PY cannot import torch"
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "$DRY" = 0 ]; then
  command -v nvidia-smi > /dev/null || fail "nvidia-smi not found: this is not a GPU machine (try --dry-run)"
fi
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
say "torch $("$PY" -c 'import torch; print(torch.__version__)'), binaries from $BIN_DIR"

# Data: PMC-OA-like 512-px JPEGs with captions (three-view pipeline), ingested to local shards.
N="${GPU_N:-4000}"
[ "$DRY" = 1 ] && N=200
"$BIN" synth --dataset pmc-oa --out raw --n "$N" > /dev/null
"$BIN" ingest --dataset pmc-oa --src raw --out data --overwrite > /dev/null
"$BIN" tokenizer train --data data --vocab-size 1000 --out vocab-tiny.txt > /dev/null
"$BIN" tokenizer train --data data --vocab-size 30522 --out vocab-bert.txt > /dev/null
say "data: $("$BIN" inspect data --json | "$PY" -c 'import json,sys; m=json.load(sys.stdin); print(m["splits"]["train"]["rows"], "training rows")')"

# config NAME MODEL VOCAB BATCH STEPS: a run config for local shards.
config() {
  cat > "$1.toml" <<TOML
model = "$2"
tokenizer = "$3"
out = "$WORK/$1"
seed = 0

[data]
sources = [{ url = "$WORK/data", splits = ["train"] }]
batch_size = $4

[optim]
lr = 1e-4
warmup = 5
max_steps = $5

[checkpoint]
every = 100000
TOML
}
config tiny-ws1 tiny vocab-tiny.txt 64 "$TRAIN_STEPS"
config tiny-nproc1 tiny vocab-tiny.txt 64 "$TRAIN_STEPS"
config rn50-wait rn50-pubmedbert vocab-bert.txt 128 "$TRAIN_STEPS"
"$BIN" bench step --model rn50-pubmedbert --batch 4 --steps 1 --warmup 0 --device cpu \
  --dump dump-cpu --json > /dev/null
(cd "$REPO/python" && "$PY" -c 'import bench_step, replay, uni_mlip_ref') || fail "the reference does not import"

# peak PID_FILE OUT: samples the GPU memory of the processes in nvidia-smi until PID_FILE goes.
peak() {
  local max=0 used
  while [ -e "$1" ]; do
    used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | sort -n | tail -1)
    [ "${used:-0}" -gt "$max" ] && max=$used
    sleep 0.2
  done
  echo "$max" > "$2"
}
# measured NAME CMD...: runs CMD with the GPU memory sampled, its stdout to NAME.out.
measured() {
  local name=$1; shift
  touch "$name.running"
  peak "$name.running" "$name.peak" &
  local sampler=$!
  local rc=0
  "$@" > "$name.out" 2> "$name.err" || rc=$?
  rm -f "$name.running"
  wait "$sampler"
  [ "$rc" = 0 ] || { tail -5 "$name.err" >&2; fail "$name failed (rc $rc)"; }
}
metrics() {
  "$PY" - "$1/metrics.jsonl" <<'PY'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1])][3:]
print(f"steps {len(lines) + 3}, median samples/s {statistics.median(l['samples_per_s'] for l in lines):.0f},"
      f" median data_wait {statistics.median(l['data_wait'] for l in lines):.3f}, last loss {lines[-1]['loss']:.3f}")
PY
}

if [ "$DRY" = 1 ]; then
  say "dry run: data, configs and the CPU dump are ready; would run:"
  echo "  RANK=0 WORLD_SIZE=1 $BIN train --config tiny-ws1.toml --backend nccl"
  echo "  $BIN train --config tiny-nproc1.toml --nproc 1 --backend nccl"
  echo "  $BIN bench step --model rn50-pubmedbert --batch 128 --device cuda --steps $STEPS --dump dump"
  echo "  $PY python/bench_step.py rn50-pubmedbert dump/step-00000-0.safetensors --device cuda --bf16 --channels-last --cudnn-benchmark"
  echo "  $BIN train --config rn50-wait.toml"
  exit 0
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
say "(a) tiny, NCCL at world size 1 (torchrun's variables)"
measured tiny-ws1 env RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 \
  MASTER_PORT=29512 "$BIN" train --config tiny-ws1.toml --backend nccl
echo "  $(metrics tiny-ws1), peak GPU $(cat tiny-ws1.peak) MiB"
say "(a) tiny through --nproc 1"
measured tiny-nproc1 "$BIN" train --config tiny-nproc1.toml --nproc 1 --backend nccl
echo "  $(metrics tiny-nproc1), peak GPU $(cat tiny-nproc1.peak) MiB"

say "(b) rn50-pubmedbert bf16 step at batch 128"
for round in 1 2; do
  measured "step-ours-$round" "$BIN" bench step --model rn50-pubmedbert --batch 128 --device cuda \
    --steps "$STEPS" --warmup 3 --dump dump --json
  p=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["text_dropout"])' "step-ours-$round.out")
  measured "step-ref-$round" bash -c "cd '$REPO/python' && '$PY' bench_step.py rn50-pubmedbert \
    '$WORK/dump/step-00000-0.safetensors' --device cuda --bf16 --channels-last --cudnn-benchmark \
    --text-dropout $p --steps $STEPS --warmup 3"
done
"$PY" - <<'PY'
import json, statistics
def med(name):
    runs = [json.load(open(f"{name}-{r}.out")) for r in (1, 2)]
    return statistics.median(r["median"] for r in runs), runs
o, ours = med("step-ours")
r, ref = med("step-ref")
peak = lambda n: max(int(open(f"{n}-{r}.peak").read()) for r in (1, 2))
print(f"  unimlip  {o*1e3:8.1f} ms/step  {128/o:7.1f} samples/s  peak GPU {peak('step-ours')} MiB (nvidia-smi)")
print(f"  PyTorch  {r*1e3:8.1f} ms/step  {128/r:7.1f} samples/s  peak GPU {peak('step-ref')} MiB (nvidia-smi),"
      f" {max(x['peak_gpu_bytes'] for x in ref)/2**20:.0f} MiB allocated")
print(f"  ratio unimlip / PyTorch: {o/r:.3f}  (losses {ours[-1]['loss']:.4f} / {ref[-1]['loss']:.4f})")
PY

say "(c) rn50-pubmedbert training, three views from local shards: data_wait"
measured rn50-wait "$BIN" train --config rn50-wait.toml
echo "  $(metrics rn50-wait), peak GPU $(cat rn50-wait.peak) MiB"
say "done"
