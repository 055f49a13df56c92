#!/usr/bin/env bash
# Measures CPU matmul throughput against OpenBLAS in one run, on the same shapes and threads:
#   - tensor.CPU().MatMul      (BenchmarkMatMul512, BenchmarkMatMulModel in ./tensor)
#   - gemm.Sgemm called direct (BenchmarkSgemm in ./tensor/internal/gemm)
#   - NumPy/OpenBLAS sgemm     (tensor/bench_matmul_ref.py)
# and prints GFLOP/s with the ratio backend/OpenBLAS. Each figure is the best of COUNT rounds.
#
# Usage: tensor/bench_matmul.sh          (THREADS defaults to nproc, COUNT to 3)
# Needs NumPy: apt-get install -y python3-numpy libopenblas0-pthread
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-$(nproc)}
count=${COUNT:-3}

py=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ]; then
  echo "bench_matmul.sh: no python3 with numpy; apt-get install -y python3-numpy libopenblas0-pthread" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The machine may be shared, so the three are measured in alternating rounds (each sees the
# same background load on average) and every figure is the best of its rounds.
for round in $(seq "$count"); do
  echo "== round $round/$count: go (tensor.CPU().MatMul, gemm.Sgemm), numpy/OpenBLAS; $threads threads" >&2
  go test -run '^$' -bench 'MatMul' -cpu "$threads" ./tensor/ >>"$tmp/backend.txt"
  go test -run '^$' -bench 'Sgemm$' -cpu "$threads" ./tensor/internal/gemm/ >>"$tmp/gemm.txt"
  "$py" tensor/bench_matmul_ref.py --threads "$threads" >>"$tmp/ref.txt"
done
grep -m1 '^cpu:' "$tmp/gemm.txt" >&2 || true
grep -m1 '^#' "$tmp/ref.txt" >&2 || true

# best_gflops FILE: "shape GFLOP/s" per shape, the best over the rounds.
best_gflops() {
  awk '/GFLOP\/s/ {
         name = $1
         sub(/^Benchmark(MatMulModel|Sgemm)\//, "", name); sub(/-[0-9]+$/, "", name)
         sub(/^BenchmarkMatMul512$/, "512x512x512", name)
         for (i = 2; i <= NF; i++) if ($i == "GFLOP/s") v = $(i - 1)
         if (!(name in best) || v > best[name]) best[name] = v
       }
       END { for (n in best) print n, best[n] }' "$1"
}
awk '!/^#/ { if (!($1 in best) || $2 > best[$1]) { if (!($1 in best)) order[++n] = $1; best[$1] = $2 } }
     END { for (i = 1; i <= n; i++) print order[i], best[order[i]] }' "$tmp/ref.txt" >"$tmp/ref.best"
best_gflops "$tmp/backend.txt" >"$tmp/backend.best"
best_gflops "$tmp/gemm.txt" >"$tmp/gemm.best"

awk -v bfile="$tmp/backend.best" -v gfile="$tmp/gemm.best" '
  BEGIN {
    while ((getline l < bfile) > 0) { split(l, f, " "); be[f[1]] = f[2] }
    while ((getline l < gfile) > 0) { split(l, f, " "); ge[f[1]] = f[2] }
    printf "%-30s %12s %12s %12s %10s\n", "shape (GFLOP/s)", "cpu.MatMul", "gemm.Sgemm", "OpenBLAS", "MatMul/BLAS"
  }
  /^#/ { next }
  {
    name = $1; ref = $2
    b = (name in be) ? be[name] : "-"; g = (name in ge) ? ge[name] : "-"
    ratio = (b != "-" && ref > 0) ? sprintf("%.2f", b / ref) : "-"
    printf "%-30s %12s %12s %12s %10s\n", name, b, g, ref, ratio
  }' "$tmp/ref.best"
