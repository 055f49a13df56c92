#!/usr/bin/env bash
# tools/base_gpu.sh — pretrain a larger base model on a GPU and score it, in one call of at most
# about 9 minutes.
#
#   tools/base_gpu.sh build   # here (Go, CUDA headers, no GPU): binaries into .gpu/base/ (git-ignored)
#   tools/base_gpu.sh run     # on the GPU machine (no Go, no network; carry .gpu/base): the steps below
#   tools/base_gpu.sh finetune [FLAGS]  # later, on the same warm machine: RL on the new base
#
# run, each step under its own time limit, outputs in $OUT (when set) or .gpu/base-out:
#   1. (no separate calibration: `pretrain -time-budget` times its first 30 steps on the card
#      and fits the cosine schedule to the budget itself);
#   2. pretrain: BUDGET seconds, the EMA weights saved to $OUT/pretrain/base.safetensors with
#      sample grids and the loss log; a SIGINT at the budget's hard limit still saves (cmd/pretrain
#      catches it);
#   3. score: `sample -heldout compose|text -n 4 -steps 10` on all 128 held-out prompts (512
#      images per task, the 10-step ODE of the README's held-out table), for the new base and,
#      on the same card, for the shipped one;
#   4. restore: the new base's held-out compose ground truth restored from noise levels 0.5–1
#      (`sample -from-truth`): the noise range where it loses shapes;
#   5. summary.txt: shape, steps, time per step, final loss, the held-out scores side by side and
#      the restore profile.
# The new base is also copied to .gpu/base-keep/base.safetensors (git-ignored, in the checkout),
# which stays on the GPU machine while it is held, for `finetune`; it comes back in $OUT too.
#
# finetune runs .gpu/base/finetune -device cuda -model MODEL (default the kept base) -preset paper
# and FLAGS, under LIMIT seconds (default 540; SIGINT then saves a checkpoint), in the run
# directory .gpu/base-keep/finetune (kept: the same command again resumes it with -resume, see
# RESUME=1), copying its small files (config, metrics, summary, curves, grids) to $OUT.
#
# The shape and budget come from the environment (defaults in brackets):
#   DIM [192] DEPTH [8] HEADS [6] SIZE [32] PATCH [4]  the MMDiT (SIZE 64 PATCH 8 keeps the token
#                                                       count and draws 4-character signs at glyph
#                                                       scale 2)
#   BATCH [256] LR [1e-3] CAPTIONS [exact] TEXT_FRACTION [0.35] SEED [1]
#   BUDGET [270] seconds of pretraining; DEVICE [cuda]
#   INIT: a checkpoint to continue from (a later curriculum stage; the shape flags are then dropped),
#   e.g. the committed CPU stage diffusion/base/candidates/wide-cpu-1.bf16.safetensors
#   PRETRAIN_FLAGS: more pretrain flags, split at spaces (e.g. "-see-held-out")
#   FLOWTUNE_CUDA_MATMUL=tf32|bf16 (default fp32) passes through to the backend: faster matmuls,
#   and the time budget turns the speed into more steps. bf16 passed the conformance tests on an
#   H100 and pretrained dim 192, depth 8 at 4378 img/s there (docs/measurements.md §5).
# Why these defaults: the shipped base is 2.1 M parameters (dim 128, depth 4, 8.2 MB) trained on
# 160 k images, and more images at that size gain only a few points. Width 192 and depth 8 are
# 9.3 M parameters (37 MB in fp32: within the ~40 MB the embedded base may grow to, and small
# enough to carry beside the finetune binary), at the same 64 image tokens and head width 32.
# A 4.5-minute budget leaves room in the 8-minute call for the start-up of five processes and
# the scoring of 4 × 512 images. Exact captions: the web captions of the shipped
# base under-describe their images, which caps what a short run can learn of composition.
#
# SMOKE=1 runs the same logic on the CPU at toy sizes (dim 16, depth 1, batch 4, a 20-second
# budget, 2 held-out prompts, 2 sampling steps) with binaries built without the cuda tag, to
# check the script end to end without a GPU:
#   SMOKE=1 tools/base_gpu.sh build && SMOKE=1 tools/base_gpu.sh run
# (under the CUDA emulator, `cuda/emu/run.sh` with DEVICE=cuda and the cuda binaries, one
# toy pretraining step takes about 20 s and a scoring several minutes.)
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.gpu/base tags=(-tags cuda)
[ -n "${SMOKE:-}" ] && bin=.gpu/base-smoke tags=()
keep=.gpu/base-keep
mode="${1:-}"

case "$mode" in
build)
  set -e
  mkdir -p "$bin"
  # Stripped (-s -w) so that the three fit one carry of .gpu/base.
  for c in pretrain sample finetune; do go build "${tags[@]}" -ldflags='-s -w' -o "$bin/$c" "./cmd/$c"; done
  ls -la "$bin"
  echo "base_gpu: built; carry $bin and run: tools/base_gpu.sh run"
  ;;
run)
  out="${OUT:-.gpu/base-out}" # outside .gpu/base, so that the carry stays the binaries
  mkdir -p "$out"
  for f in pretrain sample finetune; do
    [ -x "$bin/$f" ] || { echo "base_gpu: $bin/$f missing: run 'tools/base_gpu.sh build' first (where Go is) and carry .gpu/base" >&2; exit 1; }
  done
  DIM="${DIM:-192}" DEPTH="${DEPTH:-8}" HEADS="${HEADS:-6}" SIZE="${SIZE:-32}" PATCH="${PATCH:-4}"
  BATCH="${BATCH:-256}" LR="${LR:-1e-3}" CAPTIONS="${CAPTIONS:-exact}" TEXT_FRACTION="${TEXT_FRACTION:-0.35}"
  SEED="${SEED:-1}" BUDGET="${BUDGET:-270}"
  DEVICE="${DEVICE:-cuda}" INIT="${INIT:-}"
  prompts=0 score_steps=10 # all held-out prompts, the README's 10-step ODE
  # Time plan (seconds; each step's limit, then SIGINT and KILL 5 s later): pretraining
  # BUDGET + 25, four scorings of 35, one restore profile of 30: 465 s at the defaults, 490 s
  # at the very worst.
  score_limit=35 restore_limit=30 pretrain_limit=$((BUDGET + 25)) grids=1
  if [ -n "${SMOKE:-}" ]; then # toy sizes on the CPU; limits for a shared 2-core machine
    DIM=16 DEPTH=1 HEADS=2 BATCH=4 BUDGET=20 prompts=2 score_steps=2 DEVICE=cpu
    score_limit=120 restore_limit=120 pretrain_limit=120 grids=0
  fi
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
  fi
  step() { # step NAME SECONDS COMMAND...: output to $out/NAME.txt; SIGINT at the limit, KILL 5 s later
    local name="$1" limit="$2"
    shift 2
    local t0=$SECONDS
    timeout -s INT -k 5 "$limit" "$@" >"$out/$name.txt" 2>&1
    local rc=$?
    echo "base_gpu: $name: exit $rc in $((SECONDS - t0)) s (limit $limit s) -> $out/$name.txt"
    return $rc
  }
  shape=(-dim "$DIM" -depth "$DEPTH" -heads "$HEADS" -size "$SIZE" -patch "$PATCH")
  [ -n "$INIT" ] && shape=(-init "$INIT")
  read -r -a extra <<<"${PRETRAIN_FLAGS:-}"
  common=(-device "$DEVICE" "${shape[@]}" -batch "$BATCH" -lr "$LR" -captions "$CAPTIONS"
    -text-fraction "$TEXT_FRACTION" -seed "$SEED" "${extra[@]}")
  status=0

  # 2. The pretraining run: the schedule fitted to BUDGET by -time-budget, 25 s more for start-up,
  # the final sample grid and the checkpoint; past the limit, SIGINT saves the EMA weights
  # reached so far (the summary then shows fewer steps than planned).
  rm -rf "$out/pretrain"
  step pretrain "$pretrain_limit" "$bin/pretrain" "${common[@]}" -steps 1000000 -time-budget "$BUDGET" -log-every 50 \
    -sample-every $((grids ? 0 : -1)) -save-every 500 -out "$out/pretrain" || status=1
  steps=$(grep -o '"budget_steps":[0-9]*' "$out/pretrain/pretrain_log.jsonl" 2>/dev/null | cut -d: -f2)
  model="$out/pretrain/base.safetensors"
  [ -f "$model" ] || { echo "base_gpu: no checkpoint at $model; see $out/pretrain.txt" >&2; exit 1; }
  mkdir -p "$keep" && cp "$model" "$keep/base.safetensors"
  tail -1 "$out/pretrain/pretrain_log.jsonl"

  # 3. Held-out scores of the new base and of the shipped one on the same card.
  for task in compose text; do
    step "heldout_${task}_new" "$score_limit" "$bin/sample" -device "$DEVICE" -model "$model" -heldout "$task" \
      -prompts "$prompts" -n 4 -steps "$score_steps" -force -out "$out/heldout_new" || status=1
    step "heldout_${task}_shipped" "$score_limit" "$bin/sample" -device "$DEVICE" -heldout "$task" \
      -prompts "$prompts" -n 4 -steps "$score_steps" -force -out "$out/heldout_shipped" || status=1
  done

  # 3b. Where the new base loses shapes: held-out compose ground truth restored from rising noise
  # levels (sample -from-truth; the shipped base's profile is in docs/measurements.md §5).
  step restore_new "$restore_limit" "$bin/sample" -device "$DEVICE" -model "$model" -heldout compose \
    -prompts "$prompts" -n 2 -steps "$score_steps" -from-truth 0.5,0.6,0.7,0.8,1 -force -out "$out/restore_new" || status=1

  # 4. Summary.
  {
    echo "base_gpu summary ($(date -u +%Y-%m-%dT%H:%MZ), device $DEVICE$( [ -f "$out/gpu.txt" ] && echo ", $(head -1 "$out/gpu.txt")"))"
    echo "shape: ${shape[*]}; batch $BATCH, lr $LR, captions $CAPTIONS, text fraction $TEXT_FRACTION, seed $SEED, flags ${extra[*]:-none}"
    echo "schedule fitted to $BUDGET s: ${steps:-?} steps of $BATCH images"
    echo "last logged step: $(tail -1 "$out/pretrain/pretrain_log.jsonl")"
    for task in compose text; do
      for which in new shipped; do
        echo "-- held-out $task, $which base:"
        grep -E '^(  [a-z_]+ |[a-z]+ held-out:)' "$out/heldout_${task}_${which}.txt"
      done
    done
    echo "-- compose ground truth restored from noise level σ0, new base (sample -from-truth):"
    grep -E '^  (σ0|truth|[0-9.]+) ' "$out/restore_new.txt"
    echo "status $status; outputs in $out (the new base: $model, kept as $keep/base.safetensors)"
  } | tee "$out/summary.txt"
  exit $status
  ;;
finetune)
  shift
  out="${OUT:-.gpu/base-out}"
  model="${MODEL:-$keep/base.safetensors}" dir="$keep/finetune"
  mkdir -p "$out"
  [ -x "$bin/finetune" ] || { echo "base_gpu: $bin/finetune missing: run 'tools/base_gpu.sh build' where Go is, and carry $bin" >&2; exit 1; }
  [ -f "$model" ] || { echo "base_gpu: no base model at $model: run 'tools/base_gpu.sh run' on this machine first, or set MODEL" >&2; exit 1; }
  if [ -n "${RESUME:-}" ]; then
    args=(-resume "$dir" -model "$model")
  else
    rm -rf "$dir"
    args=(-preset paper -model "$model" -out "$dir")
  fi
  dev=(-device "${DEVICE:-cuda}")
  [ -n "${SMOKE:-}" ] && dev=(-device cpu -force-cpu)
  t0=$SECONDS
  timeout -s INT -k 20 "${LIMIT:-540}" "$bin/finetune" "${dev[@]}" "${args[@]}" "$@" >"$out/finetune.txt" 2>&1
  rc=$?
  echo "base_gpu: finetune: exit $rc in $((SECONDS - t0)) s (limit ${LIMIT:-540} s; 130: interrupted at the limit, RESUME=1 continues) -> $out/finetune.txt"
  for f in config.yaml metrics.jsonl summary.json reward_curve.png samples_base.png samples_final.png adapters.safetensors; do
    [ -f "$dir/$f" ] && cp "$dir/$f" "$out/"
  done
  tail -15 "$out/finetune.txt"
  exit $rc
  ;;
*)
  echo "usage: tools/base_gpu.sh build|run|finetune [FLAGS] (SMOKE=1 for toy sizes on the CPU; see the header for the settings)" >&2
  exit 2
  ;;
esac
