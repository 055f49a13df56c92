#!/usr/bin/env bash
# tools/sd3_gpu_check.sh — the SD3 measurements that need a GPU, in one call.
#
#   tools/sd3_gpu_check.sh build   # where Go is (no GPU needed): binaries into .gpu/sd3/ (git-ignored)
#   tools/sd3_gpu_check.sh run     # on the GPU machine (Go not needed): the steps below
#
# run, each step under its own time limit, outputs in $OUT (when set) or .gpu/sd3/out:
#   1. writes a random-weight SD3.5-Medium checkpoint and SD3 VAE (bf16, diffusers layout) and a
#      random 333×4096 / 2048 prompt-embedding cache under $WORK (default /tmp/sd3-gpu);
#   2. cmd/sd3step: a CFG-4.5 rollout of 10 steps and one AWM and one RAM training step of the
#      transformer at 512², micro-batch 4, bf16 base, rank-32 LoRA, per-block recomputation,
#      each phase timed, while nvidia-smi samples the memory in use every 100 ms;
#   3. the whole pipeline through cmd/finetune: one RAM and one AWM step at 512², one prompt ×
#      group 8, rollouts with CFG, VAE decode, a loopback reward (tools/reward_server.py), with
#      seconds per phase from metrics.jsonl and the peak memory;
#   4. with torch >= 2.6 and diffusers importable, diffusers' SD3Transformer2DModel forward and
#      backward on the same card and shapes (tools/sd3_diffusers_bench.py), for the ratio.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.gpu/sd3
mode="${1:-}"

case "$mode" in
build)
  set -e
  mkdir -p "$bin"
  # Stripped (-s -w) so that these and cuda/gpucheck.sh's binaries fit one 64 MiB carry;
  # finetune is shared with cuda/gpucheck.sh (.gpu/finetune).
  for c in sd3gen vaegen embedcache; do go build -ldflags='-s -w' -o "$bin/$c" "./cmd/$c"; done
  go build -tags cuda -ldflags='-s -w' -o "$bin/sd3step" ./cmd/sd3step
  go build -tags cuda -ldflags='-s -w' -o .gpu/finetune ./cmd/finetune
  ls -la "$bin" .gpu/finetune
  echo "sd3_gpu_check: built; carry .gpu and run: tools/sd3_gpu_check.sh run"
  ;;
run)
  out="${OUT:-$bin/out}"
  work="${WORK:-/tmp/sd3-gpu}"
  mkdir -p "$out" "$work"
  for f in sd3/sd3gen sd3/vaegen sd3/embedcache sd3/sd3step finetune; do
    [ -x ".gpu/$f" ] || { echo "sd3_gpu_check: .gpu/$f missing: run 'tools/sd3_gpu_check.sh build' where Go is, and carry .gpu" >&2; exit 1; }
  done
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
  step() { # step NAME SECONDS COMMAND...: output to $out/NAME.txt, GPU memory sampled meanwhile
    local name="$1" limit="$2"
    shift 2
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$out/$name.mem" 2>/dev/null &
    local smi=$! t0=$SECONDS
    timeout -k 5 "$limit" "$@" >"$out/$name.txt" 2>&1
    local rc=$?
    kill "$smi" 2>/dev/null
    echo "sd3_gpu_check: $name: exit $rc in $((SECONDS - t0)) s (limit $limit s), peak GPU memory $(sort -n "$out/$name.mem" | tail -1) MiB (CUDA context included)"
    return $rc
  }
  status=0
  # 1. Inputs in the real formats.
  [ -f "$work/transformer/config.json" ] || step gen_transformer 240 "$bin/sd3gen" -out "$work" || status=1
  [ -f "$work/vae/config.json" ] || step gen_vae 60 "$bin/vaegen" -out "$work/vae" || status=1
  printf 'a photo of a cat\na photo of a dog\n' >"$work/train.txt"
  step gen_cache 60 "$bin/embedcache" -random -prompts "$work/train.txt" -out "$work/cache.safetensors" -bf16 || status=1
  # 2. The transformer's training step alone.
  step sd3step 240 "$bin/sd3step" -device cuda -model "$work" -size 512 -batch 4 -text 333 || status=1
  # 3. The pipeline: rollouts with CFG, VAE decode, a loopback reward, one training step.
  python3 tools/reward_server.py --port 8737 --name brightness >"$out/reward_server.txt" 2>&1 &
  server=$!
  sleep 1
  for algo in ram awm; do
    rm -rf "$out/run-$algo"
    step "finetune_$algo" 240 .gpu/finetune -device cuda -model "$work" -embeddings "$work/cache.safetensors" \
      -prompts "$work/train.txt" -reward brightness@http://127.0.0.1:8737 -algo "$algo" \
      -steps 1 -prompts 1 -group 8 -eval-prompts 2 -eval-seeds 1 -out "$out/run-$algo" || status=1
    grep -h '"kind":"train"' "$out/run-$algo/metrics.jsonl" 2>/dev/null | head -1
  done
  kill "$server" 2>/dev/null
  # 4. diffusers on the same card.
  if python3 -c 'import torch, diffusers' 2>/dev/null; then
    step diffusers 240 python3 tools/sd3_diffusers_bench.py --model "$work" --size 512 --batch 4 --text 333 || status=1
    tail -5 "$out/diffusers.txt"
  else
    echo "sd3_gpu_check: diffusers not importable: skipped the diffusers comparison"
  fi
  grep -h -E 'rollout|awm|ram|peak|s/step|seconds' "$out/sd3step.txt" | head -20
  echo "sd3_gpu_check: done (status $status); outputs in $out"
  exit $status
  ;;
*)
  echo "usage: tools/sd3_gpu_check.sh build|run" >&2
  exit 2
  ;;
esac
