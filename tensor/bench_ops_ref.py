#!/usr/bin/env python3
"""PyTorch (CPU) reference for the CPU backend's non-matmul benchmarks: the same problems as
BenchmarkCPUBinaryAdd, BenchmarkCPUUnaryGELU, BenchmarkCPUSoftmax, BenchmarkCPULayerNorm,
BenchmarkCPUAttention, BenchmarkCPUAttentionBackward and BenchmarkCPUAdamW (tensor/cpu_bench_test.go), with the
same thread count as the Go run.

Usage: bench_ops_ref.py [--threads N] [--seconds S]
Prints one line per benchmark: "<name> <milliseconds per op> <library>", the best of 5 runs of
about S/5 seconds each. The elementwise ops, softmax and LayerNorm are PyTorch's vectorised CPU
kernels (GELU in its tanh form, as in flowtune). Attention is NumPy over OpenBLAS, written out
(scores, softmax, weighted sum; the backward from the saved probabilities).
"""
import argparse
import os
import sys

from bench_matmul_ref import best_seconds, blas_name  # the same timing rule as the matmul reference


def best_ms(fn, seconds):
    return best_seconds(fn, seconds) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=1.0, help="time per benchmark")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        sys.exit("PyTorch is missing: apt-get install -y python3-torch")
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s)")

    def data(*shape):
        n = 1
        for s in shape:
            n *= s
        return torch.sin(torch.arange(n, dtype=torch.float32) * 0.7).reshape(shape)

    n = 1 << 22
    x, y, z = data(n), data(n), torch.empty(n)
    print("BinaryAdd", best_ms(lambda: torch.add(x, y, out=z), args.seconds), "torch")
    print("UnaryGELU", best_ms(lambda: F.gelu(x, approximate="tanh"), args.seconds), "torch")
    s = data(2048, 1024)
    print("Softmax", best_ms(lambda: torch.softmax(s, -1), args.seconds), "torch")
    ln, w, b = data(4096, 1024), data(1024), data(1024)
    print("LayerNorm", best_ms(lambda: F.layer_norm(ln, (1024,), w, b, 1e-5), args.seconds), "torch")
    # One AdamW step over 4 Mi parameters (float32 arithmetic in PyTorch; flowtune's is float64).
    param = torch.nn.Parameter(data(n).clone())
    param.grad = data(n)
    opt = torch.optim.AdamW([param], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    print("AdamW", best_ms(opt.step, args.seconds), "torch")

    # Attention in NumPy over OpenBLAS: this PyTorch build's own matmul is generic BLAS, about
    # ten times slower, and would flatter flowtune.
    import numpy as np

    print(f"# numpy {np.__version__} (attention), BLAS: {blas_name(np)}")
    B, H, L, D, scale = 2, 8, 1024, 64, np.float32(0.125)
    q, k, v, dout = (data(B, H, L, D).numpy() for _ in range(4))

    def softmax_rows(s):
        s -= s.max(-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(-1, keepdims=True)
        return s

    def attn():
        p = softmax_rows(np.matmul(q, k.swapaxes(-1, -2)) * scale)
        return p, np.matmul(p, v)

    print("Attention", best_ms(attn, args.seconds), "numpy")
    p, out = attn()

    def backward():  # from the saved probabilities: one GEMM less than flowtune, which rebuilds them
        dv = np.matmul(p.swapaxes(-1, -2), dout)
        dp = np.matmul(dout, v.swapaxes(-1, -2))
        ds = p * (dp - (dout * out).sum(-1, keepdims=True))
        dq = np.matmul(ds, k) * scale
        dk = np.matmul(ds.swapaxes(-1, -2), q) * scale
        return dq, dk, dv

    print("AttentionBackward", best_ms(backward, args.seconds), "numpy")


if __name__ == "__main__":
    main()
