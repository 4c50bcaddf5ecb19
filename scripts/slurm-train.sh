#!/usr/bin/env bash
# Runs `unimlip train` as one rank per Slurm task, with torchrun's variables taken from Slurm's:
#
#   #SBATCH --nodes=2 --ntasks-per-node=4 --gpus-per-node=4
#   srun scripts/slurm-train.sh --config run.toml [--resume]
#
# Rank 0's node hosts the rendezvous (MASTER_PORT, default 29500). Under Kubernetes (an indexed
# Job, a PyTorchJob) set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT the same way
# and run `unimlip train` directly. The backend is NCCL on GPUs and Gloo on CPUs (--backend).
set -euo pipefail
: "${SLURM_PROCID:?run this under srun}"
export RANK="$SLURM_PROCID"
export WORLD_SIZE="$SLURM_NTASKS"
export LOCAL_RANK="${SLURM_LOCALID:-0}"
export MASTER_ADDR="${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}"
export MASTER_PORT="${MASTER_PORT:-29500}"
exec "${UNIMLIP:-unimlip}" train "$@"
