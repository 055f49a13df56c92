#!/usr/bin/env bash
# tools/base_sweep.sh — pretrain several base-model shapes side by side on one GPU in one call,
# score them there, and bring every checkpoint back, so the choice of base is made here, on the
# CPU, with the whole evaluation at leisure.
#
#   tools/base_sweep.sh build   # here (Go, CUDA headers, no GPU): binaries into .gpu/sweep/ (git-ignored)
#   tools/base_sweep.sh run     # on the GPU machine (carry .gpu/sweep): the steps below, outputs in $OUT
#   tools/base_sweep.sh unpack DIR  # here: rebuild the checkpoints from the parts the call brought back
#
# run:
#   1. gate: the bf16 GEMM conformance tests (never run on a GPU before). If they pass, the
#      pretraining matmuls run in bf16 (FLOWTUNE_CUDA_MATMUL=bf16, fp32 accumulation), else fp32;
#   2. pretrain: every shape of SHAPES at once, each `pretrain -time-budget BUDGET` (the schedule
#      is fitted to the budget after 30 timed steps, with the GPU shared as it will be), SIGINT
#      at BUDGET + 30 s (which still saves);
#   3. score: `sample -heldout compose|text -n 4 -steps 10` (512 images per task) for each new
#      base, and meanwhile the CUDA test binary's whole suite (a record for the kernels);
#   4. pack: the logs, loss curves and sample grids in logs.tgz; each checkpoint split in 15 MB
#      parts (the call brings back at most 8 files of 16 MiB).
# SHAPES is a list of name:dim:depth:heads (default below: the 9.3 M design of base_gpu.sh, the
# same depth at the shipped width, and the shipped shape itself, to separate width, depth and
# images seen). BATCH [256] LR [1e-3] CAPTIONS [exact] TEXT_FRACTION [0.5] BUDGET [390] seconds;
# FLAGS: more pretrain flags for every shape (e.g. FLAGS=-see-held-out).
# BIN [.gpu/sweep]: where the binaries are. `build` leaves sample out unless SAMPLE=1 (with it,
# the binaries and the tree exceed the call's 64 MiB); without it the scoring is left to the CPU:
#   tools/base_sweep.sh unpack DIR, then `go run ./cmd/sample -model DIR/models/NAME/base.safetensors
#   -heldout compose -n 2 -steps 10` for each NAME.
# SMOKE=1: toy shapes on the CPU with binaries built without the cuda tag, to test the script.
set -uo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-.gpu/sweep}" tags=(-tags cuda)
[ -n "${SMOKE:-}" ] && bin=.gpu/sweep-smoke tags=()
mode="${1:-}"

case "$mode" in
build)
  set -e
  mkdir -p "$bin"
  go build "${tags[@]}" -ldflags='-s -w' -o "$bin/pretrain" ./cmd/pretrain
  # sample (22 MB) only on request: with it the carry and the tree pass the call's 64 MiB.
  { [ -n "${SAMPLE:-}" ] || [ -n "${SMOKE:-}" ]; } && go build "${tags[@]}" -ldflags='-s -w' -o "$bin/sample" ./cmd/sample
  [ -z "${SMOKE:-}" ] && go test -c -tags cuda -ldflags='-s -w' -o "$bin/cuda.test" ./cuda/
  ls -la "$bin"
  echo "base_sweep: built; carry $bin and run: tools/base_sweep.sh run"
  ;;
run)
  out="${OUT:-.gpu/sweep-out}"
  work=.gpu/sweep-work # checkpoints and logs before packing (the carry stays the binaries)
  rm -rf "$work" && mkdir -p "$out" "$work"
  SHAPES="${SHAPES:-d192l8:192:8:6 d128l8:128:8:4 d128l4:128:4:4}"
  BATCH="${BATCH:-256}" LR="${LR:-1e-3}" CAPTIONS="${CAPTIONS:-exact}" TEXT_FRACTION="${TEXT_FRACTION:-0.5}"
  BUDGET="${BUDGET:-390}" DEVICE=cuda prompts=0 n=4 score_limit=75
  if [ -n "${SMOKE:-}" ]; then
    SHAPES="a:16:1:2 b:16:2:2" BATCH=4 BUDGET=40 DEVICE=cpu prompts=2 n=1 score_limit=120
  fi
  t0=$SECONDS
  log() { echo "base_sweep [$((SECONDS - t0)) s]: $*" | tee -a "$work/sweep.txt"; }
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$work/gpu.txt"

  # 1. The bf16 gate.
  matmul=fp32
  if [ -x "$bin/cuda.test" ]; then
    timeout -k 5 60 "$bin/cuda.test" -test.v -test.count=1 -test.run 'TestConformanceBF16|TestGemmBF16|TestLinearBiasFused|TestKernelImage$' >"$work/gate.txt" 2>&1
    rc=$?
    grep -E '^(--- |ok|PASS|FAIL|cuda: )' "$work/gate.txt" | head -20
    [ $rc -eq 0 ] && matmul=bf16
    log "bf16 gate exit $rc: pretraining matmuls in $matmul"
  fi

  # 2. All shapes at once.
  pids=()
  for s in $SHAPES; do
    IFS=: read -r name dim depth heads <<<"$s"
    mkdir -p "$work/$name"
    FLOWTUNE_CUDA_MATMUL=$matmul timeout -s INT -k 10 $((BUDGET + 30)) "$bin/pretrain" -device "$DEVICE" \
      -dim "$dim" -depth "$depth" -heads "$heads" -batch "$BATCH" -lr "$LR" -captions "$CAPTIONS" \
      -text-fraction "$TEXT_FRACTION" ${FLAGS:-} -steps 1000000 -time-budget "$BUDGET" -log-every 100 \
      -sample-every 0 -save-every 500 -out "$work/$name" >"$work/$name/pretrain.txt" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    log "pretrain $(echo $SHAPES | cut -d' ' -f$((i + 1))): exit $?"
  done
  for s in $SHAPES; do
    name=${s%%:*}
    log "$name: $(grep -o 'time budget: [^"]*' "$work/$name/pretrain.txt" | head -1); last: $(tail -1 "$work/$name/pretrain_log.jsonl")"
  done

  # 3. Scores on the card, and the CUDA suite beside them.
  if [ -x "$bin/cuda.test" ]; then
    # From cuda/, as `go test` runs them: some tests read kernels.cu and the kernel images there.
    timeout -k 5 $score_limit env -C cuda "$PWD/$bin/cuda.test" -test.v -test.count=1 >"$work/cudatests.txt" 2>&1 &
    tpid=$!
  fi
  spids=()
  for s in $SHAPES; do
    name=${s%%:*}
    [ -f "$work/$name/base.safetensors" ] || { log "$name: no checkpoint"; continue; }
    [ -x "$bin/sample" ] || { log "no $bin/sample: scoring left to the CPU"; break; }
    for task in compose text; do
      timeout -s INT -k 5 $score_limit "$bin/sample" -device "$DEVICE" -model "$work/$name/base.safetensors" \
        -heldout "$task" -prompts "$prompts" -n "$n" -steps 10 -force -out "$work/$name/heldout_$task" \
        >"$work/$name/heldout_$task.txt" 2>&1 &
      spids+=($!)
    done
  done
  for p in "${spids[@]}"; do wait "$p"; done
  [ -n "${tpid:-}" ] && { wait "$tpid"; log "cuda tests exit $?: $(grep -cE '^--- PASS' "$work/cudatests.txt") passed, $(grep -cE '^--- FAIL' "$work/cudatests.txt") failed"; }
  for s in $SHAPES; do
    name=${s%%:*}
    for task in compose text; do
      log "$name $task:"
      grep -E '^(  [a-z_]+ |[a-z]+ held-out:)' "$work/$name/heldout_$task.txt" | tee -a "$work/sweep.txt"
    done
  done

  # 4. Pack.
  for s in $SHAPES; do
    name=${s%%:*}
    [ -f "$work/$name/base.safetensors" ] && split -b 15000000 -d -a 1 "$work/$name/base.safetensors" "$out/$name.safetensors.part"
  done
  tar -czf "$out/logs.tgz" --exclude='*.safetensors' -C "$work" .
  log "packed: $(ls "$out" | tr '\n' ' ')"
  ;;
unpack)
  dir="${2:?usage: tools/base_sweep.sh unpack DIR (the folder the call brought back)}"
  mkdir -p "$dir/models"
  tar -xzf "$dir/logs.tgz" -C "$dir/models"
  for first in "$dir"/*.safetensors.part0; do
    [ -f "$first" ] || continue
    name=$(basename "$first" .safetensors.part0)
    cat "$dir/$name".safetensors.part* >"$dir/models/$name/base.safetensors"
    echo "base_sweep: $dir/models/$name/base.safetensors"
  done
  ;;
*)
  echo "usage: tools/base_sweep.sh build|run|unpack DIR (SMOKE=1 for toy sizes on the CPU; settings in the header)" >&2
  exit 2
  ;;
esac
