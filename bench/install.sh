#!/usr/bin/env bash
# The README's two installs side by side, each in a new virtual environment from a clean copy of the
# repository, without pip's cache: (cpu) PyTorch's CPU-only wheels first, then the project; (default) the
# README's `pip install -e .` (PyPI's torch, which on Linux x86_64 brings CUDA). Prints seconds and size.
#
#   bash bench/install.sh
#   CPU_TORCH="/path/torch-X+cpu.whl torchvision==Y" bash bench/install.sh   # CPU wheels from files instead of
#                                                                          # download.pytorch.org/whl/cpu
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/slamags-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$work")
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
cpu_torch=(${CPU_TORCH:-torch torchvision --index-url https://download.pytorch.org/whl/cpu})

install() {  # name, then the install commands as one string
  local name=$1 cmd=$2 env="$work/venv-$1"
  python3 -m venv "$env"
  local start end rc
  start=$(date +%s.%N)
  (cd "$work" && . "$env/bin/activate" && eval "$cmd" > "$work/$name.log" 2>&1); rc=$?
  end=$(date +%s.%N)
  local site=("$env"/lib/python3*/site-packages)
  printf '%s\trc=%s\tseconds=%.0f\tenv_MB=%s\ttorch_MB=%s\tnvidia_MB=%s\ttriton_MB=%s\t%s\n' "$name" "$rc" \
    "$(echo "$end - $start" | bc)" "$(du -sm "$env" | cut -f1)" "$(du -sm "$site/torch" 2>/dev/null | cut -f1)" \
    "$(du -smc "$site"/nvidia* 2>/dev/null | tail -1 | cut -f1)" "$(du -smc "$site"/triton* 2>/dev/null | tail -1 | cut -f1)" \
    "$("$env/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)"
  [ "$rc" = 0 ] || tail -n 5 "$work/$name.log" >&2
}
install cpu "pip install -q ${cpu_torch[*]} && pip install -q -e ."
install default "pip install -q -e ."
echo "python $(python3 --version 2>&1 | cut -d' ' -f2), pip $(pip --version | cut -d' ' -f2), $(uname -m), $(date -u +%F)"
