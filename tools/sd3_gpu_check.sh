#!/usr/bin/env bash
# tools/sd3_gpu_check.sh — the SD3 measurements that need a GPU, as one script.
#
#   tools/sd3_gpu_check.sh [workdir]
#
# 1. writes a random-weight SD3.5-Medium checkpoint (bf16, diffusers layout) under workdir;
# 2. runs a CFG rollout and one AWM and one RAM step at 512², micro-batch 4, on the CUDA backend
#    (bf16 base, rank-32 LoRA, per-block recomputation), sampling the GPU's memory use every
#    100 ms with nvidia-smi and printing the peak;
# 3. with torch >= 2.6 and diffusers importable, times diffusers' SD3Transformer2DModel forward
#    and backward on the same card and the same shapes (tools/sd3_diffusers_bench.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/sd3-gpu-check}"
cd "$root"
[ -f cuda/kernels.ptx ] || ./build.sh
[ -f "$work/transformer/config.json" ] || go run ./cmd/sd3gen -out "$work"
go build -tags cuda -o "$work/sd3step" ./cmd/sd3step
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$work/mem.log" &
smi=$!
"$work/sd3step" -device cuda -model "$work" -size 512 -batch 4 -text 333
kill "$smi"
echo "peak GPU memory in use during the run: $(sort -n "$work/mem.log" | tail -1) MiB (includes the CUDA context)"
if python3 -c 'import torch, diffusers' 2>/dev/null; then
  python3 tools/sd3_diffusers_bench.py --model "$work" --size 512 --batch 4 --text 333
else
  echo "diffusers not importable: skipped the diffusers comparison"
fi
