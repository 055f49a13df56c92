#!/usr/bin/env python3
"""OpenBLAS reference for the matmul benchmarks: NumPy float32 matmul GFLOP/s on the shapes
of BenchmarkMatMul512 / BenchmarkMatMulModel (tensor/bench_matmul_test.go), with the same
thread count as the Go run.

Usage: bench_matmul_ref.py [--threads N] [--seconds S]
Prints one line per shape: "<name> <GFLOP/s>". The thread count is fixed before NumPy loads
OpenBLAS (OPENBLAS_NUM_THREADS and friends) and, when threadpoolctl is installed, enforced
through it as well. Each shape reports the best of 5 runs of about S/5 seconds, which if
anything flatters OpenBLAS.
"""
import argparse
import os
import sys
import time

# (name, batch, M, K, N, transA, transB); names match the Go sub-benchmarks.
SHAPES = [
    ("512x512x512", 1, 512, 512, 512, False, False),
    ("M4096_K256_N256", 1, 4096, 256, 256, False, False),
    ("M4096_K256_N1024", 1, 4096, 256, 1024, False, False),
    ("M4096_K1024_N256", 1, 4096, 1024, 256, False, False),
    ("M4096_K256_N256_TransB", 1, 4096, 256, 256, False, True),
    ("M256_K4096_N256_TransA", 1, 256, 4096, 256, True, False),
    ("batch32_M64_K64_N256", 32, 64, 64, 256, False, False),
    ("batch32_M64_K256_N64_TransB", 32, 64, 256, 64, False, True),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=1.0, help="time per shape")
    args = ap.parse_args()

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    try:
        import numpy as np
    except ImportError:
        sys.exit("numpy is missing: apt-get install -y python3-numpy libopenblas0-pthread")
    limiter = None
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.threads, user_api="blas")
    except ImportError:
        pass

    print(f"# numpy {np.__version__}, {args.threads} thread(s), BLAS: {blas_name(np)}")
    rng = np.random.default_rng(1)
    for name, batch, m, k, n, trans_a, trans_b in SHAPES:
        a_shape = (k, m) if trans_a else (m, k)
        b_shape = (n, k) if trans_b else (k, n)
        if batch > 1:
            a_shape, b_shape = (batch,) + a_shape, (batch,) + b_shape
        a = rng.uniform(-1, 1, a_shape).astype(np.float32)
        b = rng.uniform(-1, 1, b_shape).astype(np.float32)
        # Transposed views cost nothing: NumPy hands the transpose flag to sgemm.
        op_a = np.swapaxes(a, -1, -2) if trans_a else a
        op_b = np.swapaxes(b, -1, -2) if trans_b else b
        c = np.empty((batch, m, n) if batch > 1 else (m, n), dtype=np.float32)
        flops = 2.0 * batch * m * n * k
        print(f"{name} {flops / best_seconds(lambda: np.matmul(op_a, op_b, out=c), args.seconds) / 1e9:.1f}",
              flush=True)
    if limiter is not None:
        limiter.restore_original_limits()


def best_seconds(fn, budget):
    """Best time per call over 5 runs of about budget/5 seconds each (after a warm-up)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    reps = max(1, int(budget / 5 / once))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def blas_name(np):
    """The BLAS library NumPy actually loaded (Debian picks it through alternatives)."""
    try:
        with open("/proc/self/maps") as maps:
            libs = {line.split()[-1] for line in maps if "blas" in line.split()[-1]}
        best = sorted(libs, key=lambda p: ("openblas" not in os.path.basename(p), p))
        if best:
            return os.path.basename(best[0])
    except OSError:
        pass
    return "unknown (see numpy.show_config())"


if __name__ == "__main__":
    main()
