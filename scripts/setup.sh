#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine (run as root) or a developer box.
# Installs what the build and the tests need into a cache outside the clone, keyed by version,
# and writes "$UNIMLIP_CACHE/env.sh" for the other scripts to source.
set -euo pipefail

CACHE="${UNIMLIP_CACHE:-$HOME/.cache/unimlip}"
S3S_VERSION=0.14.1
PYARROW_VERSION=26.0.1
PILLOW_VERSION=13.0.0
TORCH_VERSION=2.11.0
NUMPY_VERSION=2.3.5
CUDA_CRT_VERSION=13.0.88
CUDA_CCCL_VERSION=13.0.85
MATURIN_VERSION=1.16.0
PYTEST_VERSION=9.2.0
TENSORBOARD_VERSION=2.21.0
DATASETS_VERSION=5.2.0
TRANSFORMERS_VERSION=5.25.0
PLAYWRIGHT_VERSION=1.64.1
mkdir -p "$CACHE"

say() { printf '[setup] %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    say "cargo not found: install Rust 1.95 (rustup) first"; exit 1
  fi
fi

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# libjpeg-turbo (bundled with the turbojpeg crate) builds with cmake and its SIMD code with nasm.
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v nasm >/dev/null 2>&1 || need_apt+=(nasm)
# Debian's Chromium and Node.js: `inspect --html` pages are tested in a real headless browser.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
# strace: the durability test checks that every local commit syncs before and after its rename.
command -v strace >/dev/null 2>&1 || need_apt+=(strace)
# Gloo's headers: the trainer's c10d shim compiles ProcessGroupGloo against them.
[ -f /usr/include/gloo/config.h ] || need_apt+=(libgloo-dev)
if [ "${#need_apt[@]}" -gt 0 ]; then
  say "installing system packages: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# The loopback S3 server the object-storage tests talk to.
S3S_ROOT="$CACHE/tools/s3s-fs-$S3S_VERSION"
if [ ! -x "$S3S_ROOT/bin/s3s-fs" ]; then
  say "building s3s-fs $S3S_VERSION (once per machine)"
  cargo install --quiet --locked "s3s-fs@$S3S_VERSION" --features binary --root "$S3S_ROOT"
fi

# pyarrow, to check that the shards open in the reference Parquet reader; Pillow for the
# benchmark's Python baseline.
PY_ENV="$CACHE/venv-pyarrow-$PYARROW_VERSION-pillow-$PILLOW_VERSION"
if [ ! -x "$PY_ENV/bin/python" ] || ! "$PY_ENV/bin/python" -c 'import pyarrow, PIL' 2>/dev/null; then
  say "creating $PY_ENV with pyarrow $PYARROW_VERSION and Pillow $PILLOW_VERSION"
  rm -rf "$PY_ENV"
  python3 -m venv "$PY_ENV" 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    python3 -m venv "$PY_ENV"
  }
  "$PY_ENV/bin/python" -m pip install --quiet --disable-pip-version-check "pyarrow==$PYARROW_VERSION" "pillow==$PILLOW_VERSION"
fi

# libtorch for the trainer: the PyTorch wheel (CUDA build; it runs on machines without a GPU),
# which torch-sys builds against with LIBTORCH_USE_PYTORCH=1.
TORCH_ENV="$CACHE/venv-torch-$TORCH_VERSION"
if [ ! -x "$TORCH_ENV/bin/python" ] || ! "$TORCH_ENV/bin/python" -c 'import torch, numpy' 2>/dev/null; then
  say "creating $TORCH_ENV with torch $TORCH_VERSION (about 4.6 GB, once per machine)"
  rm -rf "$TORCH_ENV"
  python3 -m venv "$TORCH_ENV"
  "$TORCH_ENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" "numpy==$NUMPY_VERSION"
fi
# CUDA's host-compiler and libcu++ headers, which the wheel leaves out: the trainer's c10d shim
# compiles ProcessGroupNCCL against them (headers only, a few MB).
if [ ! -f "$("$TORCH_ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia/cu13/include/nv/target" ]; then
  say "adding CUDA's crt and cccl headers to $TORCH_ENV (for the NCCL shim)"
  "$TORCH_ENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "nvidia-cuda-crt==$CUDA_CRT_VERSION" "nvidia-cuda-cccl==$CUDA_CCCL_VERSION"
fi
# maturin builds the Python package (py/) against this environment; pytest runs its tests;
# TensorBoard reads back the event files the trainer writes; Hugging Face `datasets` (with
# Pillow) opens the shards as its users would; `transformers` makes the BERT folders that
# `convert hf-bert` is tested on (random weights, no download).
TOOLS=("maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION" "tensorboard==$TENSORBOARD_VERSION"
       "datasets==$DATASETS_VERSION" "pillow==$PILLOW_VERSION"
       "transformers==$TRANSFORMERS_VERSION")
if ! "$TORCH_ENV/bin/python" - "${TOOLS[@]}" <<'PY' 2>/dev/null; then
import importlib.metadata as m, sys
sys.exit(any(m.version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))
PY
  say "adding ${TOOLS[*]} to $TORCH_ENV"
  "$TORCH_ENV/bin/python" -m pip install --quiet --disable-pip-version-check "${TOOLS[@]}"
fi
# playwright-core drives that Chromium (it downloads no browser of its own).
PW_ROOT="$CACHE/node-playwright-core-$PLAYWRIGHT_VERSION"
if [ ! -f "$PW_ROOT/node_modules/playwright-core/package.json" ]; then
  say "installing playwright-core $PLAYWRIGHT_VERSION into $PW_ROOT"
  mkdir -p "$PW_ROOT"
  npm install --silent --no-audit --no-fund --prefix "$PW_ROOT" "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi

TORCH_LIB="$("$TORCH_ENV/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"

RUST_KEY="$(rustc --version | awk '{print $2}')"
cat > "$CACHE/env.sh" <<ENV
export PATH="$HOME/.cargo/bin:\$PATH"
export UNIMLIP_S3S_FS="$S3S_ROOT/bin/s3s-fs"
export UNIMLIP_PYTHON="$PY_ENV/bin/python"
export CARGO_TARGET_DIR="\${CARGO_TARGET_DIR:-$CACHE/target-rust-$RUST_KEY}"
export UNIMLIP_TORCH_PYTHON="$TORCH_ENV/bin/python"
export UNIMLIP_PLAYWRIGHT="$PW_ROOT/node_modules/playwright-core"
export UNIMLIP_CHROMIUM="$(command -v chromium)"
export LIBTORCH_USE_PYTORCH=1
export VIRTUAL_ENV="$TORCH_ENV"
export PATH="$TORCH_ENV/bin:\$PATH"
export LD_LIBRARY_PATH="$TORCH_LIB\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
say "ready (environment in $CACHE/env.sh)"
