#!/usr/bin/env bash
# Times the CPU backend's non-matmul primitives against PyTorch's CPU kernels (and attention
# against NumPy over OpenBLAS) in one run, on the same problems and thread count:
#   - BenchmarkCPUBinaryAdd, ...UnaryGELU, ...Softmax, ...LayerNorm, ...Attention,
#     ...AttentionBackward, ...AdamW in ./tensor (cpu_bench_test.go)
#   - tensor/bench_ops_ref.py, the same problems
# and prints milliseconds per op with the ratio flowtune/reference (below 1: flowtune is faster).
# Each figure is the best of COUNT alternating rounds.
#
# Usage: tensor/bench_ops.sh        (THREADS defaults to nproc, COUNT to 3)
# Needs PyTorch and NumPy: apt-get install -y python3-torch python3-numpy libopenblas0-pthread
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-$(nproc)}
count=${COUNT:-3}

# The first python3 that has both (a pyenv or venv python3 earlier in PATH may lack Debian's torch).
py=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch, numpy' 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ]; then
  echo "bench_ops.sh: needs python3 with torch and numpy; apt-get install -y python3-torch python3-numpy libopenblas0-pthread" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/tensor.test" ./tensor/

for round in $(seq "$count"); do
  echo "== round $round/$count: go, then torch/numpy; $threads thread(s)" >&2
  "$tmp/tensor.test" -test.run '^$' -test.cpu "$threads" \
    -test.bench 'CPU(BinaryAdd|UnaryGELU|Softmax|LayerNorm|Attention|AttentionBackward|AdamW)$' >>"$tmp/go.txt"
  "$py" tensor/bench_ops_ref.py --threads "$threads" >>"$tmp/ref.txt"
done
grep -m1 '^cpu:' "$tmp/go.txt" >&2 || true
grep '^#' "$tmp/ref.txt" | sort -u >&2 || true

# go.txt: "BenchmarkCPUSoftmax[-N] iters ns/op ..." -> "Softmax ms", best of the rounds.
awk '/^BenchmarkCPU/ { name = $1; sub(/^BenchmarkCPU/, "", name); sub(/-[0-9]+$/, "", name)
       ms = $3 / 1e6; if (!(name in best) || ms < best[name]) best[name] = ms }
     END { for (n in best) print n, best[n] }' "$tmp/go.txt" >"$tmp/go.best"
awk '!/^#/ { if (!($1 in best) || $2 < best[$1]) { if (!($1 in best)) order[++n] = $1; best[$1] = $2; lib[$1] = $3 } }
     END { for (i = 1; i <= n; i++) print order[i], best[order[i]], lib[order[i]] }' "$tmp/ref.txt" >"$tmp/ref.best"
awk -v gfile="$tmp/go.best" '
  BEGIN {
    while ((getline l < gfile) > 0) { split(l, f, " "); g[f[1]] = f[2] }
    printf "%-18s %12s %12s %8s %12s\n", "op (ms per op)", "flowtune", "reference", "ratio", "reference is"
  }
  { ratio = ($1 in g) ? sprintf("%.2f", g[$1] / $2) : "-"
    printf "%-18s %12.2f %12.2f %8s %12s\n", $1, g[$1], $2, ratio, $3 }' "$tmp/ref.best"
