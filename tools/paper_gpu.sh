#!/usr/bin/env bash
# tools/paper_gpu.sh — the paper-sized RL runs (finetune -preset paper) of several algorithms at
# once on one GPU, under one wall-clock limit, in one device call.
#
#   tools/paper_gpu.sh build          # here (Go, CUDA headers, no GPU): .gpu/paper/finetune.gz
#   tools/paper_gpu.sh run [FLAGS]    # on the GPU machine (no Go; carry .gpu/paper): the runs below
#
# A device call carries the working tree and the carried paths, 64 MiB in all, and the tracked
# tree is already about 58 MB (three model files among it). So the binary is built without the
# embedded base (-tags noembedbase: 18.7 MB less), stripped and gzipped (about 6 MB), and the
# runs read the base from the checkout (-model diffusion/base/base.safetensors, the same file).
#
# run starts one `finetune -device cuda -preset paper -algo A -eval-every EVAL_EVERY FLAGS` per
# algorithm in ALGOS, all at once: one model of the built-in world's size does not fill a card (a
# step is bound by kernel launches, not by the matmuls), so runs side by side share it better than
# runs in turn. Each gets LIMIT seconds; then SIGINT makes it finish its step, save a checkpoint and
# write summary.json with the paired held-out change from step 0 to its last evaluation (an
# evaluation cut short is dropped, so EVAL_EVERY bounds the steps lost). The run directories are
# in RUNS [.gpu/paper-keep]/A, which stays on the GPU machine while it is held (a second call with
# RESUME=1 continues them with -resume). What comes back in $OUT is few files, because a device
# call returns only a handful: each run's log $OUT/A.txt (its held-out evaluations are in it, so
# they come back even if the call is cut short), nvidia-smi samples in $OUT/gpu_use.csv, and at
# the end $OUT/runs.tar.gz with every run's small files (config, metrics, summary, curves, sample
# grids, adapters; not the checkpoints).
#
# The settings come from the environment (defaults in brackets):
#   ALGOS ["awm ram flowgrpo"; "awm ram" on a card under 120 000 MiB]  LIMIT [470] seconds
#   EVAL_EVERY [10]
#     (three at once held 100–143 GB of an H200's 143 GB, as each process's memory pool keeps
#     what it frees, so an 80 GB H100 runs two at a time)
#   MODEL [diffusion/base/base.safetensors]
#   FLOWTUNE_CUDA_MATMUL: unset (fp32) by default. Flow-GRPO's ratio clip is 1e-4, and a rollout's
#   log-prob recomputed in bf16 under another batch shape can differ by more than that, which
#   would clip away its gradient for a reason that is not the algorithm's.
# A run that fails within its first 90 s is retried once, in fp32, for the time left (if ≥ 60 s).
#
# SMOKE=1 runs the same logic on the CPU at toy sizes (binary built without the cuda tag, tiny
# groups and evaluations, a 40-second limit) to check the script end to end without a GPU:
#   SMOKE=1 tools/paper_gpu.sh build && SMOKE=1 tools/paper_gpu.sh run
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.gpu/paper tags=(-tags 'cuda noembedbase')
[ -n "${SMOKE:-}" ] && bin=.gpu/paper-smoke tags=(-tags noembedbase)
mode="${1:-}"

case "$mode" in
build)
  set -e
  mkdir -p "$bin"
  rm -f "$bin/finetune" "$bin/finetune.gz"
  go build "${tags[@]}" -ldflags='-s -w' -o "$bin/finetune" ./cmd/finetune
  gzip "$bin/finetune"
  ls -la "$bin"
  echo "paper_gpu: built; carry $bin and run: tools/paper_gpu.sh run"
  ;;
run)
  shift
  out="${OUT:-.gpu/paper-out}"
  keep="${RUNS:-.gpu/paper-keep}"
  mkdir -p "$out" "$keep"
  [ -f "$bin/finetune.gz" ] && gunzip -f "$bin/finetune.gz"
  [ -x "$bin/finetune" ] || { echo "paper_gpu: $bin/finetune missing: run 'tools/paper_gpu.sh build' where Go is, and carry $bin" >&2; exit 1; }
  default_algos="awm ram flowgrpo"
  if [ -z "${ALGOS:-}" ] && command -v nvidia-smi >/dev/null; then
    mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -1 | tr -dc 0-9)
    if [ -n "$mib" ] && [ "$mib" -lt 120000 ]; then # three runs held 100–143 GB of an H200
      default_algos="awm ram"
      echo "paper_gpu: $mib MiB on the card holds two runs, not three: running '$default_algos' (name ALGOS=flowgrpo in a second call)"
    fi
  fi
  read -r -a algos <<<"${ALGOS:-$default_algos}"
  limit="${LIMIT:-470}" every="${EVAL_EVERY:-10}"
  dev=(-device cuda)
  size=()
  if [ -n "${SMOKE:-}" ]; then
    dev=(-device cpu -force-cpu) limit="${LIMIT:-40}"
    size=(-prompts 2 -group 4 -micro-batch 4 -eval-prompts 2 -eval-seeds 2 -rollout-steps 2 -eval-steps 2)
    every="${EVAL_EVERY:-1}"
  fi
  model=(-model "${MODEL:-diffusion/base/base.safetensors}")
  cores=$(nproc 2>/dev/null || echo 2)
  procs=$(( cores / ${#algos[@]} ))
  [ "$procs" -lt 1 ] && procs=1
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 15 >"$out/gpu_use.csv" 2>&1 &
    smi=$!
  fi
  t0=$SECONDS
  # one ALGO LIMIT [fp32]: a run in the foreground of its subshell, its log in $out/ALGO.txt.
  one() {
    local a="$1" lim="$2" args pre=()
    [ "${3:-}" = fp32 ] && pre=(env -u FLOWTUNE_CUDA_MATMUL)
    if [ -n "${RESUME:-}" ] && [ -f "$keep/$a/checkpoint.safetensors" ]; then
      args=(-resume "$keep/$a" "${model[@]}")
    else
      rm -rf "${keep:?}/$a"
      args=(-preset paper -algo "$a" -eval-every "$every" "${size[@]}" "${model[@]}" -out "$keep/$a")
    fi
    GOMAXPROCS="$procs" "${pre[@]}" timeout -s INT -k 45 "$lim" "$bin/finetune" "${dev[@]}" "${args[@]}" "${extra[@]}"
  }
  extra=("$@")
  declare -A pid
  for a in "${algos[@]}"; do
    (
      s=$SECONDS
      one "$a" "$limit" >"$out/$a.txt" 2>&1
      rc=$?
      # 124: timeout stopped it at the limit (SIGINT, so the run saved and summarised itself).
      if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ $((SECONDS - s)) -lt 90 ] && [ $((limit - (SECONDS - s))) -ge 60 ]; then
        echo "paper_gpu: $a failed in $((SECONDS - s)) s (exit $rc); retrying once in fp32" | tee -a "$out/$a.txt"
        mv "$out/$a.txt" "$out/$a.first.txt"
        one "$a" $((limit - (SECONDS - s))) fp32 >"$out/$a.txt" 2>&1
        rc=$?
      fi
      echo "paper_gpu: $a: exit $rc after $((SECONDS - s)) s (limit $limit s; 124: stopped at the limit, its summary.json covers the steps done)"
    ) &
    pid[$a]=$!
  done
  for a in "${algos[@]}"; do wait "${pid[$a]}"; done
  [ -n "${smi:-}" ] && kill "$smi" 2>/dev/null
  (cd "$keep" && tar czf - --exclude=checkpoint.safetensors --exclude=.lock "${algos[@]}") >"$out/runs.tar.gz"
  for a in "${algos[@]}"; do
    echo "== $a (tail of $out/$a.txt)"
    tail -4 "$out/$a.txt"
  done
  if command -v python3 >/dev/null; then # each run's paired held-out change, from its summary.json
    python3 - "$keep" "${algos[@]}" <<'PY'
import json, sys
keep = sys.argv[1]
for a in sys.argv[2:]:
    try:
        s = json.load(open(f"{keep}/{a}/summary.json"))
    except (OSError, ValueError) as e:
        print(f"{a}: no summary ({e})")
        continue
    for name, r in s["rewards"].items():
        print(f"{a}: {s.get('steps')} steps in {s.get('wall_seconds', 0):.0f} s; held-out {name} "
              f"{r['base_eval']:.4f} -> {r['final_eval']:.4f} at step {r['final_step']} "
              f"({r['delta']:+.4f} ± {r['delta_stderr']:.4f}, z = {r['delta_z']:.1f})")
PY
  fi
  echo "paper_gpu: all runs ended after $((SECONDS - t0)) s; outputs in $out"
  ;;
*)
  echo "usage: tools/paper_gpu.sh build|run [FLAGS] (SMOKE=1 for toy sizes on the CPU; see the header for the settings)" >&2
  exit 2
  ;;
esac
