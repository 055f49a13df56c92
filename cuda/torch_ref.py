#!/usr/bin/env python3
"""PyTorch reference timings for cmd/kernelbench, measured on the same GPU in the same session.

Prints, for the shapes kernelbench times: torch.matmul (bf16, including SD3.5-Medium's linear
layers in the forward and both backward layouts; tf32; fp32), scaled_dot_product_attention
forward and backward (fp32 and bf16, head dim 64), fused AdamW, an axpby-like update, and the
device-to-device copy bandwidth. Timing: CUDA events around batches of runs after a
warm-up, median of five batches. Usage: python3 cuda/torch_ref.py [--quick]
"""
import sys

import torch
import torch.nn.functional as F

QUICK = "--quick" in sys.argv
dev = torch.device("cuda")


def timeit(fn, target_ms=50.0):
    fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    fn()
    e.record()
    e.synchronize()
    one = max(s.elapsed_time(e), 1e-3)
    reps = int(max(1, min(200, target_ms / one)))
    times = []
    for _ in range(5):
        s.record()
        for _ in range(reps):
            fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / reps)
    return sorted(times)[2]  # ms


def row(name, shape, ms, flops=0.0, nbytes=0.0):
    perf = ""
    if flops:
        perf = f"{flops / (ms * 1e-3) / 1e12:8.1f} TFLOP/s"
    elif nbytes:
        perf = f"{nbytes / (ms * 1e-3) / 1e9:8.0f} GB/s   "
    print(f"torch {name:<26} {shape:<30} {ms * 1e3:10.1f} µs {perf}", flush=True)


p = torch.cuda.get_device_properties(0)
print(f"device: {p.name}, {p.multi_processor_count} SMs, torch {torch.__version__}, CUDA {torch.version.cuda}")

# Device copy bandwidth (bytes read + written).
n = (1 << 24) if QUICK else (1 << 27)
a = torch.empty(n, device=dev)
b = torch.empty(n, device=dev)
row("copy", f"{n}", timeit(lambda: b.copy_(a)), nbytes=8.0 * n)
del a, b


def mm(name, dtype, m, n, k, ta=False, tb=False, tf32=False, bias=False):
    """Times torch.matmul of op(A) m×k by op(B) k×n; with bias (tb only: B is the weight [n, k]
    of a linear layer) F.linear(A, B, b), the bias added in cuBLAS's epilogue."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    A = torch.randn((k, m) if ta else (m, k), device=dev, dtype=dtype)
    B = torch.randn((n, k) if tb else (k, n), device=dev, dtype=dtype)
    A_ = A.t() if ta else A
    B_ = B.t() if tb else B
    out = torch.empty(m, n, device=dev, dtype=dtype)
    lay = ("t" if ta else "n") + ("t" if tb else "n")
    if bias:
        assert tb and not ta
        b = torch.randn(n, device=dev, dtype=dtype)
        ms = timeit(lambda: F.linear(A, B, b))
    else:
        ms = timeit(lambda: torch.matmul(A_, B_, out=out))
    row(name, f"{m}×{n}×{k} {lay}", ms, flops=2.0 * m * n * k)


q4 = 4 if QUICK else 1
S = 4096 // q4
mm("matmul bf16", torch.bfloat16, S, S, S)
mm("matmul bf16", torch.bfloat16, S, S, S, tb=True)
mm("matmul bf16", torch.bfloat16, S, S, S, ta=True)
mm("matmul bf16 qkv", torch.bfloat16, 8192 // q4, 2304 // q4, 768 // q4, tb=True)
mm("matmul bf16 mlp-up", torch.bfloat16, 8192 // q4, 3072 // q4, 768 // q4, tb=True)
mm("matmul bf16 mlp-down", torch.bfloat16, 8192 // q4, 768 // q4, 3072 // q4, tb=True)
# SD3.5-Medium's linear layers (cmd/kernelbench's sd35Cases): M = batch·1357 tokens, weights
# out×in; forward x·Wᵀ (nt), input gradient dy·W (nn), weight gradient dyᵀ·x (tn).
for batch in (2, 8):
    tokens = batch * 1357
    for out_f, in_f in ((1536, 1536), (6144, 1536), (1536, 6144)):
        mm("matmul bf16 sd35 fwd", torch.bfloat16, tokens // q4, out_f // q4, in_f // q4, tb=True)
        mm("matmul bf16 sd35 fwd+b", torch.bfloat16, tokens // q4, out_f // q4, in_f // q4, tb=True, bias=True)
        mm("matmul bf16 sd35 dx", torch.bfloat16, tokens // q4, in_f // q4, out_f // q4)
        mm("matmul bf16 sd35 dw", torch.bfloat16, out_f // q4, in_f // q4, tokens // q4, ta=True)
mm("matmul tf32", torch.float32, S, S, S, tf32=True)
mm("matmul fp32", torch.float32, S, S, S, tf32=False)
torch.backends.cuda.matmul.allow_tf32 = False

for dtype, tag in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
    for L in (256, 1024, 1357, 4096):
        q, k, v = (torch.randn(2, 8, L, 64, device=dev, dtype=dtype, requires_grad=True) for _ in range(3))
        fwd = 4.0 * 2 * 8 * L * L * 64
        ms = timeit(lambda: F.scaled_dot_product_attention(q, k, v))
        row(f"sdpa_fwd {tag}", f"B2 H8 L{L} Dh64", ms, flops=fwd)
        o = F.scaled_dot_product_attention(q, k, v)
        g = torch.randn_like(o)
        ms = timeit(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True))
        row(f"sdpa_bwd {tag}", f"B2 H8 L{L} Dh64", ms, flops=2.5 * fwd)
        del q, k, v, o, g

n = (1 << 24) if QUICK else (1 << 26)
x, y, v = (torch.randn(n, device=dev) for _ in range(3))
row("axpby (add alpha)", f"{n}", timeit(lambda: torch.add(x, v, alpha=-0.1, out=y)), nbytes=12.0 * n)
param = torch.nn.Parameter(torch.randn(n, device=dev))
param.grad = torch.randn(n, device=dev)
opt = torch.optim.AdamW([param], lr=1e-3, weight_decay=0.01, fused=True)
opt.step()
row("adamw fused", f"{n}", timeit(opt.step), nbytes=28.0 * n)
