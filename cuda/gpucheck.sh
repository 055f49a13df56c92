#!/usr/bin/env bash
# cuda/gpucheck.sh — every GPU check of the CUDA backend in one call of at most 8 minutes.
#
#   cuda/gpucheck.sh build   # here (Go, nvcc headers, no GPU): binaries into .gpu/ (git-ignored)
#   cuda/gpucheck.sh run     # on the GPU machine (no Go there): the checks below, then the ratios
#
# run, in order, each step under its own time limit so that one hang cannot eat the rest:
#   1. kernel image: the module load time of the cubin the card gets and of the PTX (driver JIT);
#   2. the CUDA test binary: the conformance suites (fp32, tf32, bf16, validating) and GPU tests;
#   3. cmd/kernelbench: every kernel against its CPU twin, then timed;
#   4. cuda/torch_ref.py: PyTorch on the same card, same shapes (torch with CUDA required);
#   5. a toy fine-tuning run, `finetune -device cuda -steps 8`, timed; then the toy RL step per
#      phase before and after the launch-overhead savings (FLOWTUNE_CUDA_LEGACY=1 turns them off
#      in the same binary), each run with -phase-table (wall and GPU ms, launches, syncs, copies
#      and allocations per phase), and the speedup per phase (gpucheck_rlstep.py);
#   6. the table: each kernelbench row beside its PyTorch twin and the ratio (gpucheck_ratios.py).
# Outputs go to $OUT (when set, e.g. by the GPU machine's runner) or .gpu/out, one file per step.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.gpu
mode="${1:-}"

case "$mode" in
build)
  set -e
  mkdir -p "$bin"
  # Stripped (-s -w) so that these and tools/sd3_gpu_check.sh's binaries fit one 64 MiB carry.
  go test -c -tags cuda -ldflags='-s -w' -o "$bin/cuda.test" ./cuda/
  go build -tags cuda -ldflags='-s -w' -o "$bin/kernelbench" ./cmd/kernelbench
  go build -tags cuda -ldflags='-s -w' -o "$bin/finetune" ./cmd/finetune
  ls -la "$bin"
  echo "gpucheck: built; carry .gpu and run: cuda/gpucheck.sh run"
  ;;
run)
  out="${OUT:-$bin/out}"
  mkdir -p "$out"
  for f in cuda.test kernelbench finetune; do
    [ -x "$bin/$f" ] || { echo "gpucheck: $bin/$f missing: run 'cuda/gpucheck.sh build' first (where Go is) and carry .gpu" >&2; exit 1; }
  done
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
  step() { # step NAME SECONDS COMMAND...: runs COMMAND, output to $out/NAME.txt and a summary line
    local name="$1" limit="$2"
    shift 2
    local t0=$SECONDS
    timeout -k 5 "$limit" "$@" >"$out/$name.txt" 2>&1
    local rc=$?
    echo "gpucheck: $name: exit $rc in $((SECONDS - t0)) s (limit $limit s) -> $out/$name.txt"
    return $rc
  }
  status=0
  # 1. Which image loads, and how long the cubin and the PTX take (each in a fresh process).
  step image_cubin 30 "$bin/cuda.test" -test.run 'TestKernelImage$' -test.v || status=1
  step image_ptx 45 env FLOWTUNE_CUDA_IMAGE=ptx "$bin/cuda.test" -test.run 'TestKernelImage$' -test.v || status=1
  grep -h '^cuda: ' "$out/image_cubin.txt" "$out/image_ptx.txt"
  # 2. Conformance and the GPU tests.
  # From cuda/, as `go test` runs them: some tests read kernels.cu and the kernel images there.
  step tests 120 env -C cuda "$PWD/$bin/cuda.test" -test.v -test.count=1 || status=1
  grep -E '^(--- FAIL|FAIL|ok|PASS)' "$out/tests.txt" | head -20
  # 3. and 4. Our kernels and PyTorch's, same card, same shapes.
  step kernelbench 120 "$bin/kernelbench" || status=1
  step torch 100 python3 cuda/torch_ref.py || status=1
  # 5. The toy RL run on the GPU, wall time including start-up.
  rm -rf "$out/run"
  step finetune 60 "$bin/finetune" -device cuda -steps 8 -out "$out/run" || status=1
  grep -E 'cuda|step' "$out/finetune.txt" | head -20
  for mode in legacy fast; do
    legacy=0
    [ "$mode" = legacy ] && legacy=1
    rm -rf "$out/rl_$mode"
    step "rlstep_$mode" 45 env FLOWTUNE_CUDA_LEGACY=$legacy "$bin/finetune" -device cuda -phase-table -steps 6 \
      -eval-prompts 4 -eval-seeds 1 -eval-every 0 -checkpoint-every 0 -out "$out/rl_$mode" || status=1
    echo "== $mode"; grep -A16 '^phase table' "$out/rlstep_$mode.txt"
  done
  python3 cuda/gpucheck_rlstep.py "$out/rl_legacy/metrics.jsonl" "$out/rl_fast/metrics.jsonl" | tee "$out/rlstep.txt"
  # 6. Ratios.
  python3 cuda/gpucheck_ratios.py "$out/kernelbench.txt" "$out/torch.txt" | tee "$out/ratios.txt"
  echo "gpucheck: done (status $status); outputs in $out"
  exit $status
  ;;
*)
  echo "usage: cuda/gpucheck.sh build|run" >&2
  exit 2
  ;;
esac
