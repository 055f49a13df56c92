// kernels.cu — every hand-written CUDA kernel of flowtune.
//
// ./build.sh compiles this file to PTX for compute_80 (cuda/kernels.ptx) and assembles that into
// machine code for sm_80 and sm_90 (cuda/kernels.sm_*.cubin), all embedded in the Go binary: the
// backend loads the cubin of the card's family and lets the driver JIT-compile the PTX on later
// cards. Launch geometry is #defined beside each kernel and mirrored in cuda/geometry.go. The Go
// launchers live in cuda/*.go: they check shapes and backend identity, pick a launch
// configuration and pass every scalar in its own 8-byte argument slot. Kernels assume valid
// input.
//
// Conventions
//   - Every kernel has a header: what it computes, the shapes, what a block and a thread own,
//     its preconditions, the Go CPU twin it must match (package tensor, cpu_*.go), and its last
//     measured figure ("—" where nothing was measured yet) with the card, driver and date.  The
//     figures so far come from one run on an NVIDIA H200 (driver 580, 2026-11), measured by
//     cmd/kernelbench vs cuda/torch_ref.py (torch 2.11, CUDA 13.0) in the same call; the
//     ratio is flowtune / PyTorch.  Correctness is checked on the CPU emulator of cuda/emu (the
//     same source compiled as host C++ under FT_HOST_EMU, run through the real Go launchers by
//     the conformance suite) and on the GPU by the same suite.
//   - Storages hold fewer than 2^31 elements (the Go side enforces it at Alloc), so element
//     indices are int; a product that could pass 2^31 before the bounds check is done in
//     long long.
//   - Float32 is the compute type. BFloat16 is a storage type for the tensor-core GEMM (fp32
//     accumulation). Reductions accumulate in double where the CPU twin does: on A100/H100 the
//     fp64 units keep up with memory, so it costs nothing measurable.
//   - Every __syncthreads() says which hazard it guards.
//
// Sections
//   1. helpers          warp/block reductions, bf16, cp.async / ldmatrix / mma wrappers
//   2. memory           fill, strided block copy, permute, fp32 <-> bf16
//   3. elementwise      unary (+backward), broadcast binary, axpby (the Euler ODE step)
//   4. reductions       axis sum, sum of squares (gradient norm)
//   5. softmax, norms   softmax, LayerNorm, RMSNorm (fwd + bwd), weight-gradient partials
//   6. attention        flash-style forward and backward (online softmax, no L×L in memory),
//                       fp32 on the SIMT cores; 6b the same in bf16 on the tensor cores
//   7. matmul           fp32 SIMT, tf32 WMMA, bf16 mma.sync with cp.async pipeline (128×128
//                       tiles, and 128×256 swizzled with a bias epilogue for large problems)
//   8. optimizer        fused AdamW
//   9. RNG              Philox4x32-10 uniform / normal
//  10. diffusion, RL    fused Euler–Maruyama step (+backward), weighted velocity loss
//  11. embedding        row gather, deterministic scatter-add
//  12. image            GroupNorm (fwd + bwd), im2col / col2im for convolutions

#ifdef FT_HOST_EMU
// cuda/emu compiles this file as host C++ and runs the kernels on the CPU (a fiber per thread);
// its header stands in for the CUDA built-ins and for the PTX wrappers below.
#include "cuda_emu.h"
#else
#include <mma.h>
#include <stdint.h>
#endif

// ============================================================================================
// 1. Helpers
// ============================================================================================

#define FULL_MASK 0xffffffffu
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
  return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
  return v;
}

// block_sum_d adds one double per thread over the whole block (blockDim.x a multiple of 32,
// at most 1024) and returns the total to thread 0. scratch holds 32 doubles.
__device__ __forceinline__ double block_sum_d(double v, double* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum_d(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();  // every warp's partial is in scratch before warp 0 reads them
  double total = 0;
  if (warp == 0) {
    total = lane < (int)(blockDim.x >> 5) ? scratch[lane] : 0.0;
    total = warp_sum_d(total);
  }
  return total;
}

__device__ __forceinline__ float bf16_to_f32(uint16_t b) {
  return __uint_as_float(((uint32_t)b) << 16);
}

// Round to nearest even, NaN stays NaN: the same rule as the Go side's upload conversion.
__device__ __forceinline__ uint16_t f32_to_bf16(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

// Dynamic shared memory of a kernel (sized at launch).
#ifndef FT_HOST_EMU
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}

// cp.async of 16 bytes; src_bytes < 16 zero-fills the rest (0 = a pure zero fill, and then
// src is never read).
__device__ __forceinline__ void cp_async16(void* dst_smem, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst_smem)),
               "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async4(void* dst_smem, const void* src, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst_smem)),
               "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// d += a·b for one m16n8k16 bf16 tile with fp32 accumulators.
__device__ __forceinline__ void mma_bf16_16816(float d[4], const uint32_t a[4], uint32_t b0,
                                               uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif  // FT_HOST_EMU

// ============================================================================================
// 2. Memory
// ============================================================================================

// fill_f32: y[i] = v.  n elements, one thread per element.  Twin: cpuBackend.Fill.  Measured: —
extern "C" __global__ void fill_f32(float* y, float v, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = v;
}

// fill_u16: y[i] = bits (a bf16 value prepared on the host).  One thread per element.
// Twin: cpuBackend.Fill (the CPU backend stores float32 only).  Measured: —
extern "C" __global__ void fill_u16(uint16_t* y, uint16_t bits, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = bits;
}

// copy_blocks_{f32,u16}: dst[dOff + r·dStride + j] = src[sOff + r·sStride + j] for r < rows,
// j < cols: the primitive behind slice, concat and split.  Grid (ceil(cols/256), rows chunks):
// a thread owns one element of a row, blockIdx.y walks rows in steps of gridDim.y.
// Preconditions: the two ranges do not overlap.  Twin: cpuBackend.CopyBlocks.  Measured: —
template <typename T>
__device__ __forceinline__ void copy_blocks_body(T* dst, int dOff, int dStride, const T* src,
                                                 int sOff, int sStride, int rows, int cols) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  for (int r = blockIdx.y; r < rows; r += gridDim.y)
    dst[dOff + (long long)r * dStride + j] = src[sOff + (long long)r * sStride + j];
}
extern "C" __global__ void copy_blocks_f32(float* dst, int dOff, int dStride, const float* src,
                                           int sOff, int sStride, int rows, int cols) {
  copy_blocks_body(dst, dOff, dStride, src, sOff, sStride, rows, cols);
}
extern "C" __global__ void copy_blocks_u16(uint16_t* dst, int dOff, int dStride,
                                           const uint16_t* src, int sOff, int sStride, int rows,
                                           int cols) {
  copy_blocks_body(dst, dOff, dStride, src, sOff, sStride, rows, cols);
}

// permute_f32: dst = src with axes permuted, up to 6 axes.  The host passes dst's shape
// (d0..d5, innermost last, padded in front with 1) and, for each dst axis, the src stride of the
// axis it comes from (s0..s5).  One thread per dst element, decoding its index innermost first.
// Twin: cpuBackend.Permute.  Measured: —
extern "C" __global__ void permute_f32(float* dst, const float* src, int n, int d0, int d1,
                                       int d2, int d3, int d4, int d5, int s0, int s1, int s2,
                                       int s3, int s4, int s5) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int rem = i, off = 0;
  off += (rem % d5) * s5; rem /= d5;
  off += (rem % d4) * s4; rem /= d4;
  off += (rem % d3) * s3; rem /= d3;
  off += (rem % d2) * s2; rem /= d2;
  off += (rem % d1) * s1; rem /= d1;
  off += rem * s0;
  (void)d0;
  dst[i] = src[off];
}

// f32_to_bf16 / bf16_to_f32: elementwise storage conversion (round to nearest even), used to
// feed float32 operands to the bf16 tensor-core GEMM.  One thread per element.  Twin: the Go
// upload conversion in cuda/bf16.go.  Measured: —
extern "C" __global__ void convert_f32_bf16(uint16_t* dst, const float* src, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = f32_to_bf16(src[i]);
}
extern "C" __global__ void convert_bf16_f32(float* dst, const uint16_t* src, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = bf16_to_f32(src[i]);
}

// ============================================================================================
// 3. Elementwise
// ============================================================================================

// The op codes are tensor.UnaryOp / tensor.BinaryOp; cuda/opcodes_test.go checks that the two
// lists agree.
enum UnaryOp {
  OP_NEG = 0,
  OP_EXP = 1,
  OP_LOG = 2,
  OP_SQRT = 3,
  OP_SQUARE = 4,
  OP_ABS = 5,
  OP_TANH = 6,
  OP_SIGMOID = 7,
  OP_SILU = 8,
  OP_GELU = 9,
  OP_RELU = 10,
  OP_POW = 11,
  OP_ADD_SCALAR = 12,
  OP_MUL_SCALAR = 13,
  OP_CLAMP_MIN = 14,
  OP_CLAMP_MAX = 15,
  OP_RECIP = 16,
};
enum BinaryOp { OP_ADD = 0, OP_SUB = 1, OP_MUL = 2, OP_DIV = 3, OP_MAX = 4, OP_MIN = 5, OP_GE = 6 };

#define GELU_K0 0.7978845608028654f  // √(2/π)
#define GELU_K1 0.044715f

// Go's max/min propagate NaN: x != x keeps a NaN x.
__device__ __forceinline__ float unary_f(int op, float x, float p) {
  switch (op) {
    case OP_NEG: return -x;
    case OP_EXP: return expf(x);
    case OP_LOG: return logf(x);
    case OP_SQRT: return sqrtf(x);
    case OP_SQUARE: return x * x;
    case OP_ABS: return fabsf(x);
    case OP_TANH: return tanhf(x);
    case OP_SIGMOID: return 1.f / (1.f + expf(-x));
    case OP_SILU: return x / (1.f + expf(-x));
    case OP_GELU: return 0.5f * x * (1.f + tanhf(GELU_K0 * (x + GELU_K1 * x * x * x)));
    case OP_RELU: return (x > 0.f || x != x) ? x : 0.f;
    case OP_POW: return powf(x, p);
    case OP_ADD_SCALAR: return x + p;
    case OP_MUL_SCALAR: return x * p;
    case OP_CLAMP_MIN: return (x >= p || x != x) ? x : p;
    case OP_CLAMP_MAX: return (x <= p || x != x) ? x : p;
    case OP_RECIP: return 1.f / x;
  }
  return 0.f;
}

// f'(x; p), with the CPU twin's choices at the kinks: |x|'(0) = 0, relu'(0) = 0, clamp_min
// passes the gradient where x ≥ p, clamp_max where x ≤ p, pow' = 0 when p = 0.
__device__ __forceinline__ float unary_grad(int op, float x, float p) {
  switch (op) {
    case OP_NEG: return -1.f;
    case OP_EXP: return expf(x);
    case OP_LOG: return 1.f / x;
    case OP_SQRT: return 0.5f / sqrtf(x);
    case OP_SQUARE: return 2.f * x;
    case OP_ABS: return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
    case OP_TANH: { float t = tanhf(x); return 1.f - t * t; }
    case OP_SIGMOID: { float s = 1.f / (1.f + expf(-x)); return s * (1.f - s); }
    case OP_SILU: { float s = 1.f / (1.f + expf(-x)); return s * (1.f + x * (1.f - s)); }
    case OP_GELU: {
      float th = tanhf(GELU_K0 * (x + GELU_K1 * x * x * x));
      return 0.5f * (1.f + th) + 0.5f * x * (1.f - th * th) * GELU_K0 * (1.f + 3.f * GELU_K1 * x * x);
    }
    case OP_RELU: return x > 0.f ? 1.f : 0.f;
    case OP_POW: return p == 0.f ? 0.f : p * powf(x, p - 1.f);
    case OP_ADD_SCALAR: return 1.f;
    case OP_MUL_SCALAR: return p;
    case OP_CLAMP_MIN: return x >= p ? 1.f : 0.f;
    case OP_CLAMP_MAX: return x <= p ? 1.f : 0.f;
    case OP_RECIP: return -1.f / (x * x);
  }
  return 0.f;
}

// unary_f32: y[i] = f_op(x[i]; p).  n elements, one thread each; op is uniform over the grid,
// so the switch costs one branch.  Twin: cpuBackend.Unary (float64 math, rounded once: expect
// 1–2 ulp).  Measured: —
extern "C" __global__ void unary_f32(int op, float* y, const float* x, float p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = unary_f(op, x[i], p);
}

// unary_backward_f32: dx[i] = dy[i]·f'_op(x[i]; p).  One thread per element.
// Twin: cpuBackend.UnaryBackward.  Measured: —
extern "C" __global__ void unary_backward_f32(int op, float* dx, const float* x, const float* dy,
                                              float p, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) dx[i] = dy[i] * unary_grad(op, x[i], p);
}

__device__ __forceinline__ float binary_f(int op, float a, float b) {
  switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_MAX: return a >= b ? a : b;
    case OP_MIN: return a <= b ? a : b;
    case OP_GE: return a >= b ? 1.f : 0.f;
  }
  return 0.f;
}

// binary_f32: z[i] = op(a[ia], b[ib]) over a 4-axis index space n0×n1×n2×n3 (n3 innermost);
// ia = Σ idx_k·sa_k (a stride 0 broadcasts), likewise ib.  One thread per output element,
// decoding its index with three divisions.  Preconditions: z contiguous, n0·n1·n2·n3 < 2^31.
// Twin: cpuBackend.Binary.  Measured: —
extern "C" __global__ void binary_f32(int op, float* z, const float* a, int sa0, int sa1, int sa2,
                                      int sa3, const float* b, int sb0, int sb1, int sb2, int sb3,
                                      int n0, int n1, int n2, int n3) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n0 * n1 * n2 * n3) return;
  int i3 = i % n3, r = i / n3;
  int i2 = r % n2;
  r /= n2;
  int i1 = r % n1, i0 = r / n1;
  float av = a[i0 * sa0 + i1 * sa1 + i2 * sa2 + i3 * sa3];
  float bv = b[i0 * sb0 + i1 * sb1 + i2 * sb2 + i3 * sb3];
  z[i] = binary_f(op, av, bv);
}

// binary_contig_f32: z[i] = op(a[i], b[i]), the unbroadcast case without index arithmetic.
// One thread per element.  Twin: cpuBackend.Binary.  Measured: —
extern "C" __global__ void binary_contig_f32(int op, float* z, const float* a, const float* b,
                                             int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) z[i] = binary_f(op, a[i], b[i]);
}

// axpby_f32: z = α·x + β·y (the Euler ODE step x' = x + dt·v is axpby(1, x, dt, v)).
// A thread owns 4 consecutive elements (float4 loads; the tail thread does the remainder
// scalar).  Preconditions: z, x, y whole storages (256-byte aligned).  Twin: cpuBackend.Axpby.
// Measured: —
extern "C" __global__ void axpby_f32(float* z, float alpha, const float* x, float beta,
                                     const float* y, int n) {
  int i4 = blockIdx.x * blockDim.x + threadIdx.x;
  int i = i4 * 4;
  if (i + 3 < n) {
    float4 xv = reinterpret_cast<const float4*>(x)[i4];
    float4 yv = reinterpret_cast<const float4*>(y)[i4];
    float4 zv = make_float4(alpha * xv.x + beta * yv.x, alpha * xv.y + beta * yv.y,
                            alpha * xv.z + beta * yv.z, alpha * xv.w + beta * yv.w);
    reinterpret_cast<float4*>(z)[i4] = zv;
  } else {
    for (; i < n; i++) z[i] = alpha * x[i] + beta * y[i];
  }
}

// ============================================================================================
// 4. Reductions
// ============================================================================================

// sum_mid_partial: the axis sum dst[o, i] = Σ_j x[o, j, i] of x viewed as [outer, n, inner],
// split along j into gridDim.y parts of `chunk` rows so that the column-sum case (outer = 1)
// still fills the machine.  blockIdx.x = o·tiles + tile (tiles = ceil(inner/32)); block
// (32, 8): threadIdx.x owns column i = tile·32 + tx, threadIdx.y strides the part's rows by 8;
// the 8 partials meet in shared memory.  Accumulates in double like the twin.  With one part
// the block writes dst (float); with several it writes partial[(part·outer + o)·inner + i] and
// sum_parts finishes.  Twin: cpuBackend.Sum.  Measured: —
extern "C" __global__ void sum_mid_partial(float* dst, double* partial, const float* x, int outer,
                                           int n, int inner, int chunk) {
  __shared__ double acc[8][33];
  const int tiles = (inner + 31) / 32;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int o = blockIdx.x / tiles, i = (blockIdx.x % tiles) * 32 + tx, part = blockIdx.y;
  const int j0 = part * chunk, j1 = min(n, j0 + chunk);
  double s = 0;
  if (i < inner) {
    const float* base = x + (long long)o * n * inner + i;
    for (int j = j0 + ty; j < j1; j += 8) s += (double)base[(long long)j * inner];
  }
  acc[ty][tx] = s;
  __syncthreads();  // all 8 row-partials of each column are in acc before row 0 adds them
  if (ty == 0 && i < inner) {
    for (int k = 1; k < 8; k++) s += acc[k][tx];
    if (gridDim.y == 1) dst[(long long)o * inner + i] = (float)s;
    else partial[((long long)part * outer + o) * inner + i] = s;
  }
}

// sum_rows_partial: the inner = 1 case of the axis sum, dst[o] = Σ_j x[o, j].  Grid
// (outer, parts), 256 threads: a block owns `chunk` consecutive elements of one row, each
// thread a strided subset, combined by a block reduction in double.  Output as for
// sum_mid_partial (inner = 1).  Twin: cpuBackend.Sum.  Measured: —
extern "C" __global__ void sum_rows_partial(float* dst, double* partial, const float* x, int outer,
                                            int n, int chunk) {
  __shared__ double scratch[32];
  const int o = blockIdx.x, part = blockIdx.y;
  const int j0 = part * chunk, j1 = min(n, j0 + chunk);
  const float* row = x + (long long)o * n;
  double s = 0;
  for (int j = j0 + threadIdx.x; j < j1; j += blockDim.x) s += (double)row[j];
  s = block_sum_d(s, scratch);
  if (threadIdx.x == 0) {
    if (gridDim.y == 1) dst[o] = (float)s;
    else partial[(long long)part * outer + o] = s;
  }
}

// sum_parts: dst[k] (+)= Σ_p partial[p·m + k] in part order (deterministic), for m outputs.
// accumulate = 1 adds onto dst (the norms' weight gradients), 0 overwrites.  One thread per
// output.  Twin: addPartials in cpu_norm.go.  Measured: —
extern "C" __global__ void sum_parts(float* dst, const double* partial, int parts, int m,
                                     int accumulate) {
  int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= m) return;
  double s = accumulate ? (double)dst[k] : 0.0;
  for (int p = 0; p < parts; p++) s += partial[(long long)p * m + k];
  dst[k] = (float)s;
}

// sumsq_partial: partial[block] = Σ x[i]² over a fixed grid-stride share, in double (the
// gradient norm for clipping).  The grid size depends on n only and the host adds the partials
// in block order, so the result is reproducible.  256 threads per block.
// Twin: cpuBackend.SumSquares.  Measured: —
extern "C" __global__ void sumsq_partial(double* partial, const float* x, int n) {
  __shared__ double scratch[32];
  double s = 0;
  long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    double v = x[i];
    s += v * v;
  }
  s = block_sum_d(s, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// ============================================================================================
// 5. Softmax and norms (last axis of a [rows, cols] view)
// ============================================================================================
//
#define ROW_WARPS 8  // rows per block of the row kernels (one warp each, 256 threads)

// The row kernels give one warp per row (ROW_WARPS = 8 rows per 256-thread block): a lane owns
// the columns lane, lane+32, ... of its row and the row statistics meet by warp shuffles, so no
// __syncthreads is needed.  Statistics accumulate in double like the twins.

// softmax_f32: y = softmax(x) per row, with an online max/sum in one pass and the write in a
// second.  Twin: cpuBackend.Softmax.  Measured: —
extern "C" __global__ void softmax_f32(float* y, const float* x, int rows, int cols) {
  const int row = blockIdx.x * ROW_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + (long long)row * cols;
  float m = -INFINITY, s = 0.f;  // running max of this lane's columns and Σ exp(x − m)
  for (int j = lane; j < cols; j += 32) {
    float v = xr[j];
    if (v > m) {
      s = s * __expf(m - v) + 1.f;
      m = v;
    } else {
      s += __expf(v - m);
    }
  }
  // Merge the lanes' (m, s) pairs; a lane that saw no column has m = −∞ and s = 0.
  float mrow = warp_max(m);
  float srow = warp_sum(m == -INFINITY ? 0.f : s * __expf(m - mrow));
  float inv = 1.f / srow;
  float* yr = y + (long long)row * cols;
  for (int j = lane; j < cols; j += 32) yr[j] = __expf(xr[j] - mrow) * inv;
}

// softmax_backward_f32: dx = y ⊙ (dy − Σ_j y_j·dy_j) per row.  Twin: cpuBackend.SoftmaxBackward.
// Measured: —
extern "C" __global__ void softmax_backward_f32(float* dx, const float* y, const float* dy,
                                                int rows, int cols) {
  const int row = blockIdx.x * ROW_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const long long base = (long long)row * cols;
  double dot = 0;
  for (int j = lane; j < cols; j += 32) dot += (double)y[base + j] * dy[base + j];
  float d = (float)warp_sum_d(dot);
  for (int j = lane; j < cols; j += 32) dx[base + j] = y[base + j] * (dy[base + j] - d);
}

// layernorm_f32: y = (x−μ)·rstd·w + b with rstd = 1/√(var+eps), two passes over the row (mean,
// then variance around it); w, b may be null.  Saves mean[row], rstd[row].
// Twin: cpuBackend.LayerNorm.  Measured: —
extern "C" __global__ void layernorm_f32(float* y, float* mean, float* rstd, const float* x,
                                         const float* w, const float* b, int rows, int cols,
                                         float eps) {
  const int row = blockIdx.x * ROW_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + (long long)row * cols;
  double s = 0;
  for (int j = lane; j < cols; j += 32) s += xr[j];
  const double mu = warp_sum_d(s) / cols;
  double ss = 0;
  for (int j = lane; j < cols; j += 32) {
    double d = xr[j] - mu;
    ss += d * d;
  }
  const float rs = (float)(1.0 / sqrt(warp_sum_d(ss) / cols + (double)eps));
  const float muf = (float)mu;
  if (lane == 0) {
    mean[row] = muf;
    rstd[row] = rs;
  }
  float* yr = y + (long long)row * cols;
  for (int j = lane; j < cols; j += 32) {
    float h = (xr[j] - muf) * rs;
    if (w) h *= w[j];
    if (b) h += b[j];
    yr[j] = h;
  }
}

// layernorm_backward_dx_f32: with x̂ = (x−μ)·rstd and g = dy·w (dy when w is null),
// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)).  The weight gradients come from norm_wgrad_partial.
// Twin: cpuBackend.LayerNormBackward.  Measured: —
extern "C" __global__ void layernorm_backward_dx_f32(float* dx, const float* dy, const float* x,
                                                     const float* mean, const float* rstd,
                                                     const float* w, int rows, int cols) {
  const int row = blockIdx.x * ROW_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const long long base = (long long)row * cols;
  const float mu = mean[row], rs = rstd[row];
  double sg = 0, sgx = 0;
  for (int j = lane; j < cols; j += 32) {
    float g = dy[base + j] * (w ? w[j] : 1.f);
    float xh = (x[base + j] - mu) * rs;
    sg += g;
    sgx += (double)g * xh;
  }
  const float mg = (float)(warp_sum_d(sg) / cols), mgx = (float)(warp_sum_d(sgx) / cols);
  for (int j = lane; j < cols; j += 32) {
    float g = dy[base + j] * (w ? w[j] : 1.f);
    float xh = (x[base + j] - mu) * rs;
    dx[base + j] = rs * (g - mg - xh * mgx);
  }
}

// rmsnorm_f32: y = x·rstd·w with rstd = 1/√(mean(x²)+eps); w may be null.  Saves rstd[row].
// Twin: cpuBackend.RMSNorm.  Measured: —
extern "C" __global__ void rmsnorm_f32(float* y, float* rstd, const float* x, const float* w,
                                       int rows, int cols, float eps) {
  const int row = blockIdx.x * ROW_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + (long long)row * cols;
  double ss = 0;
  for (int j = lane; j < cols; j += 32) ss += (double)xr[j] * xr[j];
  const float rs = (float)(1.0 / sqrt(warp_sum_d(ss) / cols + (double)eps));
  if (lane == 0) rstd[row] = rs;
  float* yr = y + (long long)row * cols;
  for (int j = lane; j < cols; j += 32) yr[j] = xr[j] * rs * (w ? w[j] : 1.f);
}

// rmsnorm_backward_dx_f32: with x̂ = x·rstd and g = dy·w, dx = rstd·(g − x̂·mean(g·x̂)).
// Twin: cpuBackend.RMSNormBackward.  Measured: —
extern "C" __global__ void rmsnorm_backward_dx_f32(float* dx, const float* dy, const float* x,
                                                   const float* rstd, const float* w, int rows,
                                                   int cols) {
  const int row = blockIdx.x * ROW_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const long long base = (long long)row * cols;
  const float rs = rstd[row];
  double sgx = 0;
  for (int j = lane; j < cols; j += 32)
    sgx += (double)(dy[base + j] * (w ? w[j] : 1.f)) * (x[base + j] * rs);
  const float mgx = (float)(warp_sum_d(sgx) / cols);
  for (int j = lane; j < cols; j += 32) {
    float g = dy[base + j] * (w ? w[j] : 1.f);
    dx[base + j] = rs * (g - x[base + j] * rs * mgx);
  }
}

// norm_wgrad_partial: the weight gradients of LayerNorm / RMSNorm, column sums over rows:
// pdw[part, j] = Σ_r dy[r,j]·x̂[r,j] and pdb[part, j] = Σ_r dy[r,j] over the part's `chunk` rows,
// with x̂ = (x − mean)·rstd (mean null for RMSNorm).  Grid (ceil(cols/32), parts), block (32, 8):
// threadIdx.x owns a column, threadIdx.y strides rows by 8; the 8 partials meet in shared
// memory.  pdw or pdb may be null.  sum_parts (accumulate = 1) adds the parts onto dw, db.
// Twin: the dw/db partials of cpuBackend.LayerNormBackward / RMSNormBackward.  Measured: —
extern "C" __global__ void norm_wgrad_partial(double* pdw, double* pdb, const float* dy,
                                              const float* x, const float* mean,
                                              const float* rstd, int rows, int cols, int chunk) {
  __shared__ double accw[8][33], accb[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y, j = blockIdx.x * 32 + tx, part = blockIdx.y;
  const int r0 = part * chunk, r1 = min(rows, r0 + chunk);
  double sw = 0, sb = 0;
  if (j < cols) {
    for (int r = r0 + ty; r < r1; r += 8) {
      long long k = (long long)r * cols + j;
      double g = dy[k];
      double xh = ((double)x[k] - (mean ? (double)mean[r] : 0.0)) * (double)rstd[r];
      sw += g * xh;
      sb += g;
    }
  }
  accw[ty][tx] = sw;
  accb[ty][tx] = sb;
  __syncthreads();  // the 8 row-partials of each column are in shared memory before row 0 adds
  if (ty == 0 && j < cols) {
    for (int k = 1; k < 8; k++) {
      sw += accw[k][tx];
      sb += accb[k][tx];
    }
    if (pdw) pdw[(long long)part * cols + j] = sw;
    if (pdb) pdb[(long long)part * cols + j] = sb;
  }
}

// ============================================================================================
// 6. Attention (flash-style, fp32)
// ============================================================================================
//
// Q is [B,H,Lq,Dh], K and V [B,H,Lk,Dh], mask (optional) an additive key bias [B,Lk].  All three
// kernels tile queries and keys by ATT_TILE = 64 and use ATT_THREADS = 256 threads as a 16×16
// grid: thread (ty, tx) owns score rows ty·4..ty·4+3 and columns tx·4..tx·4+3 of a 64×64 tile,
// and of a 64×D output tile the rows ty·4.. and the D/16 columns tx·(D/16)...  The 16 threads of
// a row share one warp (lanes differ in their low 4 bits), so row max/sum travel by shuffles.
// The exponentials run in base 2 (scores pre-multiplied by log2 e).  D is the head dimension
// rounded up to 16, 32, 64 or 128; shared tiles are zero-padded beyond Dh, and keys ≥ Lk get a
// bias of −∞.  Padded strides (ATT_STRIDE = 64+4 and D+4 floats) keep float4 accesses aligned
// and spread over the banks.  Shared memory (floats, S = ATT_STRIDE, T = ATT_TILE): forward
// 2·D·S + T·(D+4) + T·S + T; backward dK/dV 2·D·S + 2·T·(D+4) + 2·T·S + 3·T; backward dQ
// 2·D·S + 3·T·(D+4) + T·S + 3·T (cuda/attention.go mirrors these).
//
// The three bodies are built from the helpers below: att_load_* fill shared tiles,
// att_key_bias / att_query_stats the per-key and per-query vectors, att_scores_* the 4×4 score
// block of a thread, att_rebuild the backward's P and dS, att_store_* a 4×4 block into a shared
// tile, att_acc the products with a 64×D tile, att_write the output rows.
// Measured (H200, driver 580, 2026-11, L 4096, Dh 64, fp32; measured by kernelbench vs
// torch_ref.py): forward 18.9 TFLOP/s (fp32 SDPA 33.7, ratio 0.56; bf16 SDPA 447), backward
// 14.4 TFLOP/s (fp32 SDPA 34.9, ratio 0.41; bf16 SDPA 421).

#define ATT_TILE 64      // queries and keys per tile
#define ATT_PAD 4        // floats of padding behind each shared row
#define ATT_THREADS 256  // 16×16 threads, 4×4 scores each
constexpr int ATT_STRIDE = ATT_TILE + ATT_PAD;  // row stride of the 64-wide shared tiles
static_assert(ATT_THREADS == (ATT_TILE / 4) * (ATT_TILE / 4), "a thread owns 4×4 scores of a tile");

// AttSmem hands out consecutive regions of the dynamic shared memory, in floats.
struct AttSmem {
  float* p;
  __device__ __forceinline__ float* take(int n) {
    float* r = p;
    p += n;
    return r;
  }
};
__device__ __forceinline__ AttSmem att_smem() {
  DYNAMIC_SHARED(float4, att_smem4);
  return AttSmem{reinterpret_cast<float*>(att_smem4)};
}

// load_rows: dst[r][d] (row stride D+4) = src[r·Dh + d] for r < nvalid, d < Dh, else 0.
template <int D>
__device__ __forceinline__ void att_load_rows(float* dst, const float* src, int nvalid, int Dh) {
  constexpr int PD = D + 4;
  for (int e = threadIdx.x; e < ATT_TILE * D; e += blockDim.x) {
    int r = e / D, d = e % D;
    dst[r * PD + d] = (r < nvalid && d < Dh) ? src[(long long)r * Dh + d] : 0.f;
  }
}
// load_cols: the transposed tile dst[d][r] (row stride ATT_STRIDE) = src[r·Dh + d], zero-padded.
template <int D>
__device__ __forceinline__ void att_load_cols(float* dst, const float* src, int nvalid, int Dh) {
  for (int e = threadIdx.x; e < ATT_TILE * D; e += blockDim.x) {
    int r = e / D, d = e % D;
    dst[d * ATT_STRIDE + r] = (r < nvalid && d < Dh) ? src[(long long)r * Dh + d] : 0.f;
  }
}
// load_vec: DC consecutive floats from shared memory (aligned to their size).
template <int DC>
__device__ __forceinline__ void att_load_vec(float (&r)[DC], const float* p) {
  if constexpr (DC == 1) {
    r[0] = p[0];
  } else if constexpr (DC == 2) {
    float2 t = *reinterpret_cast<const float2*>(p);
    r[0] = t.x; r[1] = t.y;
  } else {
#pragma unroll
    for (int c = 0; c < DC; c += 4) {
      float4 t = *reinterpret_cast<const float4*>(p + c);
      r[c] = t.x; r[c + 1] = t.y; r[c + 2] = t.z; r[c + 3] = t.w;
    }
  }
}
__device__ __forceinline__ float row16_max(float v) {
  for (int o = 8; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
  return v;
}
__device__ __forceinline__ float row16_sum(float v) {
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
  return v;
}
__device__ __forceinline__ float f4get(const float4& v, int i) {
  return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w));
}
template <int R, int C>
__device__ __forceinline__ void att_zero(float (&a)[R][C]) {
#pragma unroll
  for (int i = 0; i < R; i++)
#pragma unroll
    for (int j = 0; j < C; j++) a[i][j] = 0.f;
}

// att_key_bias: kbias[j] = mask[b, k0+j]·log2 e (0 without a mask) for the nk valid keys of the
// tile, −∞ past them.  Threads below ATT_TILE write.
__device__ __forceinline__ void att_key_bias(float* kbias, const float* mask, int b, int Lk,
                                             int k0, int nk) {
  const int t = threadIdx.x;
  if (t < ATT_TILE)
    kbias[t] = t < nk ? (mask ? mask[(long long)b * Lk + k0 + t] * LOG2E : 0.f) : -INFINITY;
}
// att_query_stats: the saved lse (times log2 e) and delta of the tile's nq queries, whose first
// row is row0 of the [B·H·Lq] vectors; 0 past them.
__device__ __forceinline__ void att_query_stats(float* qlse, float* qdelta, const float* lse,
                                                const float* delta, long long row0, int nq) {
  const int t = threadIdx.x;
  if (t < ATT_TILE) {
    qlse[t] = t < nq ? lse[row0 + t] * LOG2E : 0.f;
    qdelta[t] = t < nq ? delta[row0 + t] : 0.f;
  }
}

// att_scores_t: s[i][j] = Σ_d Qt[d][ty·4+i]·Kt[d][tx·4+j], both operands transposed tiles.
template <int D>
__device__ __forceinline__ void att_scores_t(float (&s)[4][4], const float* Qt, const float* Kt,
                                             int ty, int tx) {
  att_zero(s);
#pragma unroll 8
  for (int d = 0; d < D; d++) {
    float4 qa = *reinterpret_cast<const float4*>(&Qt[d * ATT_STRIDE + ty * 4]);
    float4 kv = *reinterpret_cast<const float4*>(&Kt[d * ATT_STRIDE + tx * 4]);
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int j = 0; j < 4; j++) s[i][j] += f4get(qa, i) * f4get(kv, j);
  }
}
// att_scores_rows: the backward's two products of one pass over d, from query-row tiles Qs,
// dOs (stride D+4) and transposed key tiles Kt, Vt: s = Q·Kᵀ and dp = dOut·Vᵀ, 4×4 per thread.
template <int D>
__device__ __forceinline__ void att_scores_rows(float (&s)[4][4], float (&dp)[4][4],
                                                const float* Qs, const float* dOs,
                                                const float* Kt, const float* Vt, int ty, int tx) {
  constexpr int PD = D + 4;
  att_zero(s);
  att_zero(dp);
#pragma unroll 4
  for (int d = 0; d < D; d++) {
    float4 kv = *reinterpret_cast<const float4*>(&Kt[d * ATT_STRIDE + tx * 4]);
    float4 vv = *reinterpret_cast<const float4*>(&Vt[d * ATT_STRIDE + tx * 4]);
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const float qa = Qs[(ty * 4 + i) * PD + d], ga = dOs[(ty * 4 + i) * PD + d];
#pragma unroll
      for (int j = 0; j < 4; j++) {
        s[i][j] += qa * f4get(kv, j);
        dp[i][j] += ga * f4get(vv, j);
      }
    }
  }
}
// att_rebuild: the backward's P = exp2(s·scale·log2 e + bias − lse) (0 on query rows ≥ nq) and
// dS = P ⊙ (dp − delta), for the thread's 4×4 block.
__device__ __forceinline__ void att_rebuild(float (&p)[4][4], float (&ds)[4][4],
                                            const float (&s)[4][4], const float (&dp)[4][4],
                                            const float* kbias, const float* qlse,
                                            const float* qdelta, float sl2, int nq, int ty,
                                            int tx) {
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int r = ty * 4 + i;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      p[i][j] = r < nq ? exp2f(s[i][j] * sl2 + kbias[tx * 4 + j] - qlse[r]) : 0.f;
      ds[i][j] = p[i][j] * (dp[i][j] - qdelta[r]);
    }
  }
}
// att_store_rows: dst[ty·4+i][tx·4+j] = v[i][j] (stride ATT_STRIDE); att_store_cols the
// transposed dst[tx·4+j][ty·4+i].
__device__ __forceinline__ void att_store_rows(float* dst, const float (&v)[4][4], int ty, int tx) {
#pragma unroll
  for (int i = 0; i < 4; i++)
    *reinterpret_cast<float4*>(&dst[(ty * 4 + i) * ATT_STRIDE + tx * 4]) =
        make_float4(v[i][0], v[i][1], v[i][2], v[i][3]);
}
__device__ __forceinline__ void att_store_cols(float* dst, const float (&v)[4][4], int ty, int tx) {
#pragma unroll
  for (int j = 0; j < 4; j++)
    *reinterpret_cast<float4*>(&dst[(tx * 4 + j) * ATT_STRIDE + ty * 4]) =
        make_float4(v[0][j], v[1][j], v[2][j], v[3][j]);
}
// att_acc: acc[i][c] += Σ_{j<n} Pt[j][ty·4+i]·Rows[j][tx·DC+c], Pt a tile of stride
// ATT_STRIDE indexed [shared axis][the thread's rows], Rows a 64×D tile of stride D+4.
template <int D>
__device__ __forceinline__ void att_acc(float (&acc)[4][D / 16], const float* Pt, const float* Rows,
                                        int n, int ty, int tx) {
  constexpr int PD = D + 4, DC = D / 16;
#pragma unroll 4
  for (int j = 0; j < n; j++) {
    float4 pj = *reinterpret_cast<const float4*>(&Pt[j * ATT_STRIDE + ty * 4]);
    float rv[DC];
    att_load_vec<DC>(rv, &Rows[j * PD + tx * DC]);
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int c = 0; c < DC; c++) acc[i][c] += f4get(pj, i) * rv[c];
  }
}
// att_write: dst[(row0 + r0 + ty·4+i)·Dh + tx·DC+c] = acc[i][c]·f[i] for rows r0+ty·4+i < L and
// columns < Dh.
template <int D>
__device__ __forceinline__ void att_write(float* dst, const float (&acc)[4][D / 16],
                                          const float (&f)[4], long long row0, int r0, int L,
                                          int Dh, int ty, int tx) {
  constexpr int DC = D / 16;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int r = r0 + ty * 4 + i;
    if (r >= L) continue;
    float* row = dst + (row0 + r) * Dh;
#pragma unroll
    for (int c = 0; c < DC; c++) {
      const int d = tx * DC + c;
      if (d < Dh) row[d] = acc[i][c] * f[i];
    }
  }
}

// attn_fwd_d{16,32,64,128}: out = softmax(scale·QKᵀ + mask)·V and lse = log Σ exp(scores) per
// query, with an online softmax over key tiles (no Lq×Lk matrix anywhere).  Grid
// (ceil(Lq/64), B·H); a block owns 64 queries of one (b, h) and walks all keys; a thread keeps
// 4 query rows × D/16 output columns, their running max m and sum l.
// Preconditions: Dh ≤ D.  Twin: cpuBackend.Attention.  Measured: see the section header.
template <int D>
__device__ __forceinline__ void attn_fwd_body(float* out, float* lse, const float* q,
                                              const float* k, const float* v, const float* mask,
                                              int H, int Lq, int Lk, int Dh, float scale) {
  constexpr int PD = D + 4, DC = D / 16;
  AttSmem sm = att_smem();
  float* Qt = sm.take(D * ATT_STRIDE);         // [D][68]  queries, transposed
  float* Kt = sm.take(D * ATT_STRIDE);         // [D][68]  keys, transposed
  float* Vs = sm.take(ATT_TILE * PD);          // [64][D+4]
  float* Pt = sm.take(ATT_TILE * ATT_STRIDE);  // [64 keys][68 queries] probabilities
  float* kbias = sm.take(ATT_TILE);            // [64] mask·log2 e, −∞ past Lk
  const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
  const int bh = blockIdx.y, b = bh / H, q0 = blockIdx.x * ATT_TILE;
  const int nq = min(ATT_TILE, Lq - q0);
  const float* kb = k + (long long)bh * Lk * Dh;
  const float* vb = v + (long long)bh * Lk * Dh;
  att_load_cols<D>(Qt, q + ((long long)bh * Lq + q0) * Dh, nq, Dh);
  const float sl2 = scale * LOG2E;

  float o[4][DC], m[4], l[4];
  att_zero(o);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    m[i] = -INFINITY;
    l[i] = 0.f;
  }
  for (int k0 = 0; k0 < Lk; k0 += ATT_TILE) {
    const int nk = min(ATT_TILE, Lk - k0);
    __syncthreads();  // the previous tile's readers of Kt, Vs, Pt, kbias are done
    att_load_cols<D>(Kt, kb + (long long)k0 * Dh, nk, Dh);
    att_load_rows<D>(Vs, vb + (long long)k0 * Dh, nk, Dh);
    att_key_bias(kbias, mask, b, Lk, k0, nk);
    __syncthreads();  // Q (first pass), K, V and the key bias are in shared memory

    float s[4][4];
    att_scores_t<D>(s, Qt, Kt, ty, tx);
#pragma unroll
    for (int i = 0; i < 4; i++) {
      float mt = -INFINITY;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        s[i][j] = s[i][j] * sl2 + kbias[tx * 4 + j];
        mt = fmaxf(mt, s[i][j]);
      }
      const float mnew = fmaxf(m[i], row16_max(mt));
      const float mref = mnew == -INFINITY ? 0.f : mnew;  // a row masked out so far stays at 0
      const float alpha = exp2f(m[i] - mref);
      float rs = 0.f;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        s[i][j] = exp2f(s[i][j] - mref);
        rs += s[i][j];
      }
      l[i] = l[i] * alpha + row16_sum(rs);
      m[i] = mnew;
#pragma unroll
      for (int c = 0; c < DC; c++) o[i][c] *= alpha;
    }
    att_store_cols(Pt, s, ty, tx);
    __syncthreads();  // the whole P tile is written before any thread multiplies it with V
    att_acc<D>(o, Pt, Vs, nk, ty, tx);
  }
  float inv[4];
#pragma unroll
  for (int i = 0; i < 4; i++) inv[i] = l[i] > 0.f ? 1.f / l[i] : 0.f;  // Lk = 0: out = 0, lse = −∞
  att_write<D>(out, o, inv, (long long)bh * Lq, q0, Lq, Dh, ty, tx);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int qi = q0 + ty * 4 + i;
    if (tx == 0 && qi < Lq) lse[(long long)bh * Lq + qi] = (m[i] + log2f(l[i])) * LN2;
  }
}

// attn_bwd_delta: delta[row] = Σ_d dout[row,d]·out[row,d] for the B·H·Lq query rows, one warp
// per row (ROW_WARPS per block), in double.  Twin: the D_i of cpuBackend.AttentionBackward.
// Measured: —
extern "C" __global__ void attn_bwd_delta(float* delta, const float* dout, const float* out,
                                          int rows, int Dh) {
  const int row = blockIdx.x * ROW_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const long long base = (long long)row * Dh;
  double s = 0;
  for (int d = lane; d < Dh; d += 32) s += (double)dout[base + d] * out[base + d];
  s = warp_sum_d(s);
  if (lane == 0) delta[row] = (float)s;
}

// attn_bwd_dkdv_d{16,..,128}: for one 64-key tile of one (b, h), walks every query tile and
// accumulates dV = Σ Pᵀ·dOut and dK = scale·Σ dSᵀ·Q, with P = exp(scores − lse) rebuilt from
// the saved lse and dS = P ⊙ (dOut·Vᵀ − delta).  Grid (ceil(Lk/64), B·H); a thread owns 4 key
// rows × D/16 columns of dK and dV (registers), and 4×4 of each P / dS tile.  Writes dK, dV
// (overwrites).  Deterministic: no atomics.  Twin: cpuBackend.AttentionBackward.
// Measured: see the section header (the backward figure covers dkdv, dq and delta).
template <int D>
__device__ __forceinline__ void attn_bwd_dkdv_body(float* dk, float* dv, const float* dout,
                                                   const float* q, const float* k,
                                                   const float* v, const float* lse,
                                                   const float* delta, const float* mask, int H,
                                                   int Lq, int Lk, int Dh, float scale) {
  constexpr int PD = D + 4, DC = D / 16;
  AttSmem sm = att_smem();
  float* Kt = sm.take(D * ATT_STRIDE);          // [D][68]
  float* Vt = sm.take(D * ATT_STRIDE);          // [D][68]
  float* Qs = sm.take(ATT_TILE * PD);           // [64][D+4]
  float* dOs = sm.take(ATT_TILE * PD);          // [64][D+4]
  float* Ps = sm.take(ATT_TILE * ATT_STRIDE);   // [64 queries][68 keys]
  float* dSs = sm.take(ATT_TILE * ATT_STRIDE);  // [64 queries][68 keys]
  float* kbias = sm.take(ATT_TILE);             // [64] mask·log2 e, −∞ past Lk
  float* qlse = sm.take(ATT_TILE);              // [64] lse·log2 e
  float* qdelta = sm.take(ATT_TILE);            // [64]
  const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
  const int bh = blockIdx.y, b = bh / H, k0 = blockIdx.x * ATT_TILE;
  const int nk = min(ATT_TILE, Lk - k0);
  att_load_cols<D>(Kt, k + ((long long)bh * Lk + k0) * Dh, nk, Dh);
  att_load_cols<D>(Vt, v + ((long long)bh * Lk + k0) * Dh, nk, Dh);
  att_key_bias(kbias, mask, b, Lk, k0, nk);
  const float sl2 = scale * LOG2E;

  float gk[4][DC], gv[4][DC];
  att_zero(gk);
  att_zero(gv);
  for (int q0 = 0; q0 < Lq; q0 += ATT_TILE) {
    const int nq = min(ATT_TILE, Lq - q0);
    __syncthreads();  // the previous query tile's readers of Qs, dOs, Ps, dSs, qlse are done
    const long long qoff = ((long long)bh * Lq + q0) * Dh;
    att_load_rows<D>(Qs, q + qoff, nq, Dh);
    att_load_rows<D>(dOs, dout + qoff, nq, Dh);
    att_query_stats(qlse, qdelta, lse, delta, (long long)bh * Lq + q0, nq);
    __syncthreads();  // Q, dOut, lse, delta of this tile (and K, V, bias on the first pass) are in

    float s[4][4], dp[4][4], p[4][4], ds[4][4];
    att_scores_rows<D>(s, dp, Qs, dOs, Kt, Vt, ty, tx);
    att_rebuild(p, ds, s, dp, kbias, qlse, qdelta, sl2, nq, ty, tx);
    att_store_rows(Ps, p, ty, tx);
    att_store_rows(dSs, ds, ty, tx);
    __syncthreads();  // the P and dS tiles are complete before the transposed products read them
    att_acc<D>(gv, Ps, dOs, nq, ty, tx);
    att_acc<D>(gk, dSs, Qs, nq, ty, tx);
  }
  const float fk[4] = {scale, scale, scale, scale}, fv[4] = {1.f, 1.f, 1.f, 1.f};
  att_write<D>(dk, gk, fk, (long long)bh * Lk, k0, Lk, Dh, ty, tx);
  att_write<D>(dv, gv, fv, (long long)bh * Lk, k0, Lk, Dh, ty, tx);
}

// attn_bwd_dq_d{16,..,128}: for one 64-query tile of one (b, h), walks every key tile and
// accumulates dQ = scale·Σ dS·K (P and dS rebuilt as in dkdv).  Grid (ceil(Lq/64), B·H); a
// thread owns 4 query rows × D/16 columns of dQ.  Writes dQ (overwrites).
// Twin: cpuBackend.AttentionBackward.  Measured: see the section header.
template <int D>
__device__ __forceinline__ void attn_bwd_dq_body(float* dq, const float* dout, const float* q,
                                                 const float* k, const float* v,
                                                 const float* lse, const float* delta,
                                                 const float* mask, int H, int Lq, int Lk,
                                                 int Dh, float scale) {
  constexpr int PD = D + 4, DC = D / 16;
  AttSmem sm = att_smem();
  float* Kt = sm.take(D * ATT_STRIDE);          // [D][68]
  float* Vt = sm.take(D * ATT_STRIDE);          // [D][68]
  float* Qs = sm.take(ATT_TILE * PD);           // [64][D+4]
  float* dOs = sm.take(ATT_TILE * PD);          // [64][D+4]
  float* Ks = sm.take(ATT_TILE * PD);           // [64][D+4]
  float* dSt = sm.take(ATT_TILE * ATT_STRIDE);  // [64 keys][68 queries]
  float* kbias = sm.take(ATT_TILE);             // [64]
  float* qlse = sm.take(ATT_TILE);              // [64]
  float* qdelta = sm.take(ATT_TILE);            // [64]
  const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
  const int bh = blockIdx.y, b = bh / H, q0 = blockIdx.x * ATT_TILE;
  const int nq = min(ATT_TILE, Lq - q0);
  const long long qoff = ((long long)bh * Lq + q0) * Dh;
  att_load_rows<D>(Qs, q + qoff, nq, Dh);
  att_load_rows<D>(dOs, dout + qoff, nq, Dh);
  att_query_stats(qlse, qdelta, lse, delta, (long long)bh * Lq + q0, nq);
  const float sl2 = scale * LOG2E;

  float gq[4][DC];
  att_zero(gq);
  for (int k0 = 0; k0 < Lk; k0 += ATT_TILE) {
    const int nk = min(ATT_TILE, Lk - k0);
    __syncthreads();  // the previous key tile's readers of Kt, Vt, Ks, dSt, kbias are done
    const long long koff = ((long long)bh * Lk + k0) * Dh;
    att_load_cols<D>(Kt, k + koff, nk, Dh);
    att_load_cols<D>(Vt, v + koff, nk, Dh);
    att_load_rows<D>(Ks, k + koff, nk, Dh);
    att_key_bias(kbias, mask, b, Lk, k0, nk);
    __syncthreads();  // this key tile (and Q, dOut, lse, delta on the first pass) is in place

    float s[4][4], dp[4][4], p[4][4], ds[4][4];
    att_scores_rows<D>(s, dp, Qs, dOs, Kt, Vt, ty, tx);
    att_rebuild(p, ds, s, dp, kbias, qlse, qdelta, sl2, nq, ty, tx);
    att_store_cols(dSt, ds, ty, tx);
    __syncthreads();  // the whole dS tile is written before any thread multiplies it with K
    att_acc<D>(gq, dSt, Ks, nk, ty, tx);
  }
  const float f[4] = {scale, scale, scale, scale};
  att_write<D>(dq, gq, f, (long long)bh * Lq, q0, Lq, Dh, ty, tx);
}

#define ATTN_INSTANCES(D)                                                                       \
  extern "C" __global__ void __launch_bounds__(ATT_THREADS) attn_fwd_d##D(                      \
      float* out, float* lse, const float* q, const float* k, const float* v,                   \
      const float* mask, int H, int Lq, int Lk, int Dh, float scale) {                          \
    attn_fwd_body<D>(out, lse, q, k, v, mask, H, Lq, Lk, Dh, scale);                            \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(ATT_THREADS) attn_bwd_dkdv_d##D(                 \
      float* dk, float* dv, const float* dout, const float* q, const float* k, const float* v,  \
      const float* lse, const float* delta, const float* mask, int H, int Lq, int Lk, int Dh,   \
      float scale) {                                                                            \
    attn_bwd_dkdv_body<D>(dk, dv, dout, q, k, v, lse, delta, mask, H, Lq, Lk, Dh, scale);       \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(ATT_THREADS) attn_bwd_dq_d##D(                   \
      float* dq, const float* dout, const float* q, const float* k, const float* v,             \
      const float* lse, const float* delta, const float* mask, int H, int Lq, int Lk, int Dh,   \
      float scale) {                                                                            \
    attn_bwd_dq_body<D>(dq, dout, q, k, v, lse, delta, mask, H, Lq, Lk, Dh, scale);             \
  }
ATTN_INSTANCES(16)
ATTN_INSTANCES(32)
ATTN_INSTANCES(64)
ATTN_INSTANCES(128)

// ---- 6b. Attention in bf16 on the tensor cores ----------------------------------------------
//
// attn_bf16_fwd_d{64,128}: the forward of attn_fwd_d* with Q, K, V in bf16 ([B,H,L,D], D = Dh
// exactly) and every product on the tensor cores: S = Q·Kᵀ and O += P·V by mma.sync m16n8k16
// (bf16 in, fp32 accumulators) fed by ldmatrix (.trans for V), P rounded to bf16 between the two
// (attb_mm_abt, attb_mm_pv; the backward kernels below are built from the same two).
// The online softmax, the key bias (mask·log2 e, −∞ past Lk), out and lse (fp32) are those of
// attn_fwd_d*, so the fp32 backward kernels take its lse.  Grid (ceil(Lq/64), B·H), ATTB_THREADS
// = 128 threads: 4 warps, each 16 query rows of the block's 64 against each 64-key tile; a
// thread holds, per 8-column slice, rows g and g+8 (g = lane/4) and columns 2t, 2t+1 (t = lane
// mod 4), so row statistics meet by two shuffles.  Tiles arrive by 16-byte cp.async (rows past
// the end zero-filled) into rows padded by 8 bf16, which puts the 8 rows of an ldmatrix on
// distinct banks; the next K, V tile is in flight while the current one is multiplied (two
// buffers).  Shared memory: 5·64·(D+8) bf16 + 2·64 floats.
// Preconditions: Dh = D, B·H ≤ 65535.  Twin: cpuBackend.Attention (bf16 tolerance, ~1e-2).
// Measured: —
#define ATTB_TILE 64      // queries per block and keys per tile
#define ATTB_THREADS 128  // 4 warps × 16 query rows
#define ATTB_PAD 8        // bf16 of padding behind each shared row
static_assert(ATTB_THREADS / 32 * 16 == ATTB_TILE, "a warp owns 16 query rows of the tile");

// attb_load_tile: rows [0, ATTB_TILE) of a row-major [*, D] bf16 matrix into dst (stride
// D+ATTB_PAD) by 16-byte cp.async; rows ≥ nvalid are zero-filled without reading src.
template <int D>
__device__ __forceinline__ void attb_load_tile(uint16_t* dst, const uint16_t* src, int nvalid) {
  constexpr int CH = D / 8;  // 16-byte chunks per row
  for (int e = threadIdx.x; e < ATTB_TILE * CH; e += blockDim.x) {
    const int r = e / CH, c = (e % CH) * 8;
    const bool ok = r < nvalid;
    cp_async16(dst + r * (D + ATTB_PAD) + c, ok ? src + (long long)r * D + c : src, ok ? 16 : 0);
  }
}
// pack_bf16x2: two floats rounded to bf16 (nearest even), lo in the low half: one cvt on the
// device, f32_to_bf16 (the same rounding) on the emulator.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
#ifndef FT_HOST_EMU
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#else
  return (uint32_t)f32_to_bf16(lo) | ((uint32_t)f32_to_bf16(hi) << 16);
#endif
}
// attb_row_max / attb_row_sum: over the 4 threads (t = 0..3) that share a row.
__device__ __forceinline__ float attb_row_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, 1));
  return fmaxf(v, __shfl_xor_sync(FULL_MASK, v, 2));
}
__device__ __forceinline__ float attb_row_sum(float v) {
  v += __shfl_xor_sync(FULL_MASK, v, 1);
  return v + __shfl_xor_sync(FULL_MASK, v, 2);
}
// attb_mm_abt: s = A·Bᵀ for a warp, A its 16 rows (stride D+ATTB_PAD) and B the tile's 64 rows,
// both [row][D] bf16: s[j] is the m16n8 accumulator of B rows j·8..j·8+7.
template <int D>
__device__ __forceinline__ void attb_mm_abt(float (&s)[ATTB_TILE / 8][4], const uint16_t* A,
                                            const uint16_t* B) {
  constexpr int LD = D + ATTB_PAD, NT = ATTB_TILE / 8;
  const int lane = threadIdx.x & 31, mq = lane >> 3, mr = lane & 7;  // ldmatrix matrix and row
#pragma unroll
  for (int j = 0; j < NT; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) {
    uint32_t a[4];
    ldmatrix_x4(a, A + ((mq & 1) * 8 + mr) * LD + kk * 16 + (mq >> 1) * 8);
#pragma unroll
    for (int np = 0; np < NT / 2; np++) {
      uint32_t bb[4];
      ldmatrix_x4(bb, B + (np * 16 + (mq >> 1) * 8 + mr) * LD + kk * 16 + (mq & 1) * 8);
      mma_bf16_16816(s[2 * np], a, bb[0], bb[1]);
      mma_bf16_16816(s[2 * np + 1], a, bb[2], bb[3]);
    }
  }
}
// attb_mm_pv: o += P·V for a warp, P its 16×64 block in accumulator layout (rounded to bf16 here:
// the accumulators of two 8-column slices are the A fragment of one 16-deep step) and V the
// tile's 64 rows [row][D] bf16, read transposed by ldmatrix.trans.
template <int D>
__device__ __forceinline__ void attb_mm_pv(float (&o)[D / 8][4], const float (&p)[ATTB_TILE / 8][4],
                                           const uint16_t* V) {
  constexpr int LD = D + ATTB_PAD, DT = D / 8;
  const int lane = threadIdx.x & 31, mq = lane >> 3, mr = lane & 7;
#pragma unroll
  for (int kk = 0; kk < ATTB_TILE / 16; kk++) {
    const uint32_t a[4] = {pack_bf16x2(p[2 * kk][0], p[2 * kk][1]), pack_bf16x2(p[2 * kk][2], p[2 * kk][3]),
                           pack_bf16x2(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                           pack_bf16x2(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int dp = 0; dp < DT / 2; dp++) {
      uint32_t bb[4];
      ldmatrix_x4_trans(bb, V + (kk * 16 + (mq & 1) * 8 + mr) * LD + dp * 16 + (mq >> 1) * 8);
      mma_bf16_16816(o[2 * dp], a, bb[0], bb[1]);
      mma_bf16_16816(o[2 * dp + 1], a, bb[2], bb[3]);
    }
  }
}
// attb_vec: v[j] = j < n ? f(j) : fill for the tile's 64 entries (key bias, lse, delta).
template <typename F>
__device__ __forceinline__ void attb_vec(float* v, int n, float fill, F f) {
  for (int j = threadIdx.x; j < ATTB_TILE; j += blockDim.x) v[j] = j < n ? f(j) : fill;
}
// attb_write: dst row (row0 + r) = acc·f for the warp's rows r = wrow+g, wrow+g+8 below L.
template <int D>
__device__ __forceinline__ void attb_write(float* dst, const float (&acc)[D / 8][4], float f,
                                           long long row0, int r0, int L) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, wrow = (threadIdx.x >> 5) * 16;
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const int r = r0 + wrow + g + 8 * h;
    if (r >= L) continue;
    float* row = dst + (row0 + r) * D;
#pragma unroll
    for (int j = 0; j < D / 8; j++)
      *reinterpret_cast<float2*>(row + j * 8 + 2 * t) = float2{acc[j][2 * h] * f, acc[j][2 * h + 1] * f};
  }
}

template <int D>
__device__ __forceinline__ void attn_bf16_fwd_body(float* out, float* lse, const uint16_t* q,
                                                   const uint16_t* k, const uint16_t* v,
                                                   const float* mask, int H, int Lq, int Lk,
                                                   float scale) {
  constexpr int LD = D + ATTB_PAD, NT = ATTB_TILE / 8, DT = D / 8;
  DYNAMIC_SHARED(uint4, gemm_smem16);  // the same dynamic shared memory as every kernel's
  uint16_t* Qs = reinterpret_cast<uint16_t*>(gemm_smem16);  // [64][D+8] queries
  uint16_t* KV = Qs + ATTB_TILE * LD;  // two buffers of [64][D+8] keys then [64][D+8] values
  float* kbias2 = reinterpret_cast<float*>(KV + 4 * ATTB_TILE * LD);  // two buffers of [64]
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / H, q0 = blockIdx.x * ATTB_TILE, wrow = warp * 16;
  const int nq = min(ATTB_TILE, Lq - q0);
  const uint16_t* kb = k + (long long)bh * Lk * D;
  const uint16_t* vb = v + (long long)bh * Lk * D;
  auto load_kv = [&](int buf, int k0) {
    const int nk = min(ATTB_TILE, Lk - k0);
    attb_load_tile<D>(KV + 2 * buf * ATTB_TILE * LD, kb + (long long)k0 * D, nk);
    attb_load_tile<D>(KV + (2 * buf + 1) * ATTB_TILE * LD, vb + (long long)k0 * D, nk);
  };
  attb_load_tile<D>(Qs, q + ((long long)bh * Lq + q0) * D, nq);
  if (Lk > 0) load_kv(0, 0);
  cp_async_commit();
  const float sl2 = scale * LOG2E;

  float o[DT][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
  for (int j = 0; j < DT; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
  for (int k0 = 0, buf = 0; k0 < Lk; k0 += ATTB_TILE, buf ^= 1) {
    const int nk = min(ATTB_TILE, Lk - k0);
    const uint16_t* Ks = KV + 2 * buf * ATTB_TILE * LD;
    const uint16_t* Vs = Ks + ATTB_TILE * LD;
    float* kbias = kbias2 + buf * ATTB_TILE;
    __syncthreads();  // the previous tile's readers of the other buffer are done
    if (k0 + ATTB_TILE < Lk) load_kv(buf ^ 1, k0 + ATTB_TILE);
    cp_async_commit();  // (an empty group on the last tile keeps the wait below uniform)
    attb_vec(kbias, nk, -INFINITY, [&](int j) { return mask ? mask[(long long)b * Lk + k0 + j] * LOG2E : 0.f; });
    cp_async_wait<1>();  // every group but the newest: Q and this tile's K, V have landed
    __syncthreads();  // ... for every thread, and the key bias is written

    float s[NT][4];
    attb_mm_abt<D>(s, Qs + wrow * LD, Ks);  // a warp's 16 rows × 64 keys
    // Online softmax of rows g (h = 0) and g+8 (h = 1).
#pragma unroll
    for (int h = 0; h < 2; h++) {
      float mt = -INFINITY;
#pragma unroll
      for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          s[j][2 * h + e] = s[j][2 * h + e] * sl2 + kbias[j * 8 + 2 * t + e];
          mt = fmaxf(mt, s[j][2 * h + e]);
        }
      const float mnew = fmaxf(m[h], attb_row_max(mt));
      const float mref = mnew == -INFINITY ? 0.f : mnew;  // a row masked out so far stays at 0
      const float alpha = exp2f(m[h] - mref);
      float rs = 0.f;
#pragma unroll
      for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
          s[j][2 * h + e] = exp2f(s[j][2 * h + e] - mref);
          rs += s[j][2 * h + e];
        }
      l[h] = l[h] * alpha + attb_row_sum(rs);
      m[h] = mnew;
#pragma unroll
      for (int j = 0; j < DT; j++) {
        o[j][2 * h] *= alpha;
        o[j][2 * h + 1] *= alpha;
      }
    }
    attb_mm_pv<D>(o, s, Vs);
  }
  cp_async_wait<0>();  // Lk = 0: no copy outlives the block
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const int qi = q0 + wrow + g + 8 * h;
    if (qi >= Lq) continue;
    const float inv = l[h] > 0.f ? 1.f / l[h] : 0.f;  // Lk = 0: out = 0, lse = −∞ like the twin
    float* orow = out + ((long long)bh * Lq + qi) * D;
#pragma unroll
    for (int j = 0; j < DT; j++)
      *reinterpret_cast<float2*>(orow + j * 8 + 2 * t) = float2{o[j][2 * h] * inv, o[j][2 * h + 1] * inv};
    if (t == 0) lse[(long long)bh * Lq + qi] = (m[h] + log2f(l[h])) * LN2;
  }
}

// attn_bf16_bwd_dkdv_d{64,128}: attn_bwd_dkdv_d* on the tensor cores.  For one 64-key tile of
// one (b, h), walks every query tile: Sᵀ = K·Qᵀ and dPᵀ = V·dOutᵀ (a warp: 16 keys × 64
// queries), Pᵀ = exp2(Sᵀ·scale·log2 e + bias − lse), dSᵀ = Pᵀ ⊙ (dPᵀ − delta), then
// dV += Pᵀ·dOut and dK += dSᵀ·Q with Pᵀ and dSᵀ rounded to bf16.  Queries past Lq get lse = +∞
// (so P = 0), keys past Lk a bias of −∞.  q, k, v, dout bf16; lse, delta (attn_bwd_delta), dk,
// dv fp32.  Grid (ceil(Lk/64), B·H), ATTB_THREADS threads.  Shared memory: 4·64·(D+8) bf16 +
// 3·64 floats.  Twin: cpuBackend.AttentionBackward (bf16 tolerance).  Measured: —
template <int D>
__device__ __forceinline__ void attn_bf16_bwd_dkdv_body(float* dk, float* dv, const uint16_t* dout,
                                                        const uint16_t* q, const uint16_t* k,
                                                        const uint16_t* v, const float* lse,
                                                        const float* delta, const float* mask,
                                                        int H, int Lq, int Lk, float scale) {
  constexpr int LD = D + ATTB_PAD, NT = ATTB_TILE / 8, DT = D / 8;
  DYNAMIC_SHARED(uint4, gemm_smem16);
  uint16_t* Ks = reinterpret_cast<uint16_t*>(gemm_smem16);  // [64][D+8] this block's keys
  uint16_t* Vs = Ks + ATTB_TILE * LD;                         // [64][D+8] their values
  uint16_t* Qs = Vs + ATTB_TILE * LD;                         // [64][D+8] a query tile
  uint16_t* dOs = Qs + ATTB_TILE * LD;                        // [64][D+8] its output gradient
  float* kbias = reinterpret_cast<float*>(dOs + ATTB_TILE * LD);  // [64]
  float* qlse = kbias + ATTB_TILE;                                // [64] lse·log2 e, +∞ past Lq
  float* qdelta = qlse + ATTB_TILE;                               // [64]
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, wrow = (threadIdx.x >> 5) * 16;
  const int bh = blockIdx.y, b = bh / H, k0 = blockIdx.x * ATTB_TILE;
  const int nk = min(ATTB_TILE, Lk - k0);
  attb_load_tile<D>(Ks, k + ((long long)bh * Lk + k0) * D, nk);
  attb_load_tile<D>(Vs, v + ((long long)bh * Lk + k0) * D, nk);
  attb_vec(kbias, nk, -INFINITY, [&](int j) { return mask ? mask[(long long)b * Lk + k0 + j] * LOG2E : 0.f; });
  const float sl2 = scale * LOG2E;

  float gk[DT][4], gv[DT][4];
#pragma unroll
  for (int j = 0; j < DT; j++)
#pragma unroll
    for (int e = 0; e < 4; e++) gk[j][e] = gv[j][e] = 0.f;
  for (int q0 = 0; q0 < Lq; q0 += ATTB_TILE) {
    const int nq = min(ATTB_TILE, Lq - q0);
    __syncthreads();  // the previous query tile's readers of Qs, dOs, qlse, qdelta are done
    const long long qoff = ((long long)bh * Lq + q0) * D;
    attb_load_tile<D>(Qs, q + qoff, nq);
    attb_load_tile<D>(dOs, dout + qoff, nq);
    cp_async_commit();
    const long long row0 = (long long)bh * Lq + q0;
    attb_vec(qlse, nq, INFINITY, [&](int j) { return lse[row0 + j] * LOG2E; });
    attb_vec(qdelta, nq, 0.f, [&](int j) { return delta[row0 + j]; });
    cp_async_wait<0>();
    __syncthreads();  // Q, dOut, lse, delta of this tile (and K, V, bias on the first pass) are in

    float p[NT][4], ds[NT][4];
    attb_mm_abt<D>(p, Ks + wrow * LD, Qs);   // Sᵀ: the warp's 16 keys × 64 queries
    attb_mm_abt<D>(ds, Vs + wrow * LD, dOs);  // dPᵀ
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = wrow + g + 8 * (e >> 1), qc = j * 8 + 2 * t + (e & 1);
        p[j][e] = exp2f(p[j][e] * sl2 + kbias[key] - qlse[qc]);
        ds[j][e] = p[j][e] * (ds[j][e] - qdelta[qc]);
      }
    attb_mm_pv<D>(gv, p, dOs);
    attb_mm_pv<D>(gk, ds, Qs);
  }
  attb_write<D>(dk, gk, scale, (long long)bh * Lk, k0, Lk);
  attb_write<D>(dv, gv, 1.f, (long long)bh * Lk, k0, Lk);
}

// attn_bf16_bwd_dq_d{64,128}: attn_bwd_dq_d* on the tensor cores.  For one 64-query tile of one
// (b, h), walks every key tile: S = Q·Kᵀ, dP = dOut·Vᵀ, P and dS as in dkdv, dQ += dS·K (dS in
// bf16), dQ = scale·Σ.  Grid (ceil(Lq/64), B·H).  Shared memory as dkdv.
// Twin: cpuBackend.AttentionBackward (bf16 tolerance).  Measured: —
template <int D>
__device__ __forceinline__ void attn_bf16_bwd_dq_body(float* dq, const uint16_t* dout,
                                                      const uint16_t* q, const uint16_t* k,
                                                      const uint16_t* v, const float* lse,
                                                      const float* delta, const float* mask,
                                                      int H, int Lq, int Lk, float scale) {
  constexpr int LD = D + ATTB_PAD, NT = ATTB_TILE / 8, DT = D / 8;
  DYNAMIC_SHARED(uint4, gemm_smem16);
  uint16_t* Qs = reinterpret_cast<uint16_t*>(gemm_smem16);  // [64][D+8] this block's queries
  uint16_t* dOs = Qs + ATTB_TILE * LD;                        // [64][D+8] their output gradient
  uint16_t* Ks = dOs + ATTB_TILE * LD;                        // [64][D+8] a key tile
  uint16_t* Vs = Ks + ATTB_TILE * LD;                         // [64][D+8] its values
  float* kbias = reinterpret_cast<float*>(Vs + ATTB_TILE * LD);  // [64]
  float* rlse = kbias + ATTB_TILE;                               // [64] lse·log2 e, +∞ past Lq
  float* rdelta = rlse + ATTB_TILE;                              // [64]
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, wrow = (threadIdx.x >> 5) * 16;
  const int bh = blockIdx.y, b = bh / H, q0 = blockIdx.x * ATTB_TILE;
  const int nq = min(ATTB_TILE, Lq - q0);
  const long long qoff = ((long long)bh * Lq + q0) * D, row0 = (long long)bh * Lq + q0;
  attb_load_tile<D>(Qs, q + qoff, nq);
  attb_load_tile<D>(dOs, dout + qoff, nq);
  attb_vec(rlse, nq, INFINITY, [&](int j) { return lse[row0 + j] * LOG2E; });
  attb_vec(rdelta, nq, 0.f, [&](int j) { return delta[row0 + j]; });
  const float sl2 = scale * LOG2E;

  float gq[DT][4];
#pragma unroll
  for (int j = 0; j < DT; j++) gq[j][0] = gq[j][1] = gq[j][2] = gq[j][3] = 0.f;
  for (int k0 = 0; k0 < Lk; k0 += ATTB_TILE) {
    const int nk = min(ATTB_TILE, Lk - k0);
    __syncthreads();  // the previous key tile's readers of Ks, Vs, kbias are done
    const long long koff = ((long long)bh * Lk + k0) * D;
    attb_load_tile<D>(Ks, k + koff, nk);
    attb_load_tile<D>(Vs, v + koff, nk);
    cp_async_commit();
    attb_vec(kbias, nk, -INFINITY, [&](int j) { return mask ? mask[(long long)b * Lk + k0 + j] * LOG2E : 0.f; });
    cp_async_wait<0>();
    __syncthreads();  // this key tile (and Q, dOut, lse, delta on the first pass) is in place

    float s[NT][4], dp[NT][4];
    attb_mm_abt<D>(s, Qs + wrow * LD, Ks);    // the warp's 16 queries × 64 keys
    attb_mm_abt<D>(dp, dOs + wrow * LD, Vs);  // dP
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int r = wrow + g + 8 * (e >> 1), kc = j * 8 + 2 * t + (e & 1);
        const float pv = exp2f(s[j][e] * sl2 + kbias[kc] - rlse[r]);
        s[j][e] = pv * (dp[j][e] - rdelta[r]);
      }
    attb_mm_pv<D>(gq, s, Ks);
  }
  attb_write<D>(dq, gq, scale, (long long)bh * Lq, q0, Lq);
}

#define ATTN_BF16_INSTANCE(D)                                                                   \
  extern "C" __global__ void __launch_bounds__(ATTB_THREADS) attn_bf16_fwd_d##D(                \
      float* out, float* lse, const uint16_t* q, const uint16_t* k, const uint16_t* v,          \
      const float* mask, int H, int Lq, int Lk, float scale) {                                  \
    attn_bf16_fwd_body<D>(out, lse, q, k, v, mask, H, Lq, Lk, scale);                           \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(ATTB_THREADS) attn_bf16_bwd_dkdv_d##D(           \
      float* dk, float* dv, const uint16_t* dout, const uint16_t* q, const uint16_t* k,         \
      const uint16_t* v, const float* lse, const float* delta, const float* mask, int H,        \
      int Lq, int Lk, float scale) {                                                            \
    attn_bf16_bwd_dkdv_body<D>(dk, dv, dout, q, k, v, lse, delta, mask, H, Lq, Lk, scale);      \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(ATTB_THREADS) attn_bf16_bwd_dq_d##D(             \
      float* dq, const uint16_t* dout, const uint16_t* q, const uint16_t* k, const uint16_t* v, \
      const float* lse, const float* delta, const float* mask, int H, int Lq, int Lk,           \
      float scale) {                                                                            \
    attn_bf16_bwd_dq_body<D>(dq, dout, q, k, v, lse, delta, mask, H, Lq, Lk, scale);            \
  }
ATTN_BF16_INSTANCE(64)
ATTN_BF16_INSTANCE(128)

// ============================================================================================
// 7. Matrix multiply
// ============================================================================================
//
// All three kernels compute, for each batch entry p, C_p = α·op(A_p)·op(B_p) + β·C_p with op(A)
// M×K and op(B) K×N (tensor.MatMulArgs): A_p starts at offA + p·strideA and is stored M×K
// (K×M when TA), B_p at offB + p·strideB, stored K×N (N×K when TB), C_p at offC + p·strideC,
// M×N.  Grid (ceil(N/128), ceil(M/128), batch entries), blockIdx.z + pbase = p (the 128×256
// bf16 kernel: a one-dimensional grid of its tiles in x, batch entries in z).
//
// accum = 1 is the strideC = 0 case (every entry updates the same C, in batch order — the
// weight gradient of a batched linear layer): one block then walks all entries and keeps its
// accumulators, scaling them by β between entries, so that C = α·Σ_p β^(B−1−p)·A_pB_p + βᴮ·C.
// The host passes beta_c (the factor of the old C: β, or βᴮ in accum mode; 0 means C is not
// read, so NaNs in C do not propagate) and beta_acc = β.

// Launch geometry (cuda/geometry.go mirrors these; TestGeometry checks):
#define GEMM_TILE 128     // rows and columns of C per block (all three families)
#define GEMM_THREADS 256  // 8 warps
#define GEMM_F32_BK 8     // k-slice of the fp32 kernel (two register-prefetched buffers)
#define GEMM_TF32_BK 16   // k-slice, ring depth and row padding (floats) of the tf32 kernel
#define GEMM_TF32_STAGES 3
#define GEMM_TF32_PAD 4
#define GEMM_BF16_BK 32  // k-slice, ring depth and row padding (bf16) of the bf16 kernel
#define GEMM_BF16_STAGES 4
#define GEMM_BF16_PAD 8
#define GEMM_BIG_BM 128    // block tile, k-slice and ring depth of the large-problem bf16 kernel
#define GEMM_BIG_BN 256
#define GEMM_BIG_BK 64
#define GEMM_BIG_STAGES 3
#define GEMM_BIG_GROUP 8   // tile rows per rasterisation group
#define GEMM_MID_BN 128    // the same kernel with 128×128 tiles (4 warps), two blocks per SM

// gemm_f32_{nn,nt,tn,tt}: the plain fp32 SIMT path (exact fp32 products).  A block owns a
// 128×128 tile of C, a thread an 8×8 sub-tile (rows ty·4+{0..3} and 64+ty·4+{0..3}, likewise
// columns), with k-slices of 8 staged through two shared buffers and prefetched in registers.
// Any M, N, K; loads and stores are bounds-checked.  Twin: cpuBackend.MatMul (gemm.Sgemm).
// Measured (H200, driver 580, 2026-11, measured by kernelbench vs torch_ref.py): 4096³ 32 TFLOP/s, torch fp32 51, ratio 0.63.
template <bool TA, bool TB>
__device__ __forceinline__ void gemm_f32_body(float* C, const float* A, const float* B, int M,
                                              int N, int K, float alpha, float beta_c,
                                              float beta_acc, int offA, int offB, int offC,
                                              int strideA, int strideB, int strideC, int batch,
                                              int accum, int pbase) {
  constexpr int BM = GEMM_TILE, BN = GEMM_TILE, BK = GEMM_F32_BK, PAD = 4;
  static_assert(GEMM_THREADS == (BM / 8) * (BN / 8), "a thread owns 8×8 of the tile");
  __shared__ __align__(16) float As[2][BK][BM + PAD];
  __shared__ __align__(16) float Bs[2][BK][BN + PAD];
  const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int p0 = accum ? 0 : pbase + blockIdx.z, pcount = accum ? batch : 1;
  const int numK = (K + BK - 1) / BK, total = pcount * numK;

  float ra[4], rb[4];  // the next k-slice, in flight from global memory
  auto load = [&](int t) {
    const int p = p0 + t / numK, k0 = (t % numK) * BK;
    const float* Ap = A + offA + (long long)p * strideA;
    const float* Bp = B + offB + (long long)p * strideB;
#pragma unroll
    for (int e = 0; e < 4; e++) {
      int m, k;
      if (!TA) { m = m0 + (tid >> 1); k = k0 + (tid & 1) * 4 + e; }
      else     { k = k0 + (tid >> 5); m = m0 + (tid & 31) * 4 + e; }
      ra[e] = (m < M && k < K) ? Ap[TA ? (long long)k * M + m : (long long)m * K + k] : 0.f;
      int n;
      if (TB) { n = n0 + (tid >> 1); k = k0 + (tid & 1) * 4 + e; }
      else    { k = k0 + (tid >> 5); n = n0 + (tid & 31) * 4 + e; }
      rb[e] = (n < N && k < K) ? Bp[TB ? (long long)n * K + k : (long long)k * N + n] : 0.f;
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int e = 0; e < 4; e++) {
      if (!TA) As[buf][(tid & 1) * 4 + e][tid >> 1] = ra[e];
      else     As[buf][tid >> 5][(tid & 31) * 4 + e] = ra[e];
      if (TB)  Bs[buf][(tid & 1) * 4 + e][tid >> 1] = rb[e];
      else     Bs[buf][tid >> 5][(tid & 31) * 4 + e] = rb[e];
    }
  };

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; i++)
#pragma unroll
    for (int j = 0; j < 8; j++) acc[i][j] = 0.f;

  if (total > 0) {
    load(0);
    store(0);
  }
  __syncthreads();  // the first k-slice is in shared memory
  for (int t = 0; t < total; t++) {
    const int buf = t & 1;
    if (t + 1 < total) load(t + 1);
    if (accum && t > 0 && t % numK == 0 && beta_acc != 1.f) {
#pragma unroll
      for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] *= beta_acc;
    }
#pragma unroll
    for (int k = 0; k < BK; k++) {
      float a[8], b[8];
      float4 t0 = *reinterpret_cast<const float4*>(&As[buf][k][ty * 4]);
      float4 t1 = *reinterpret_cast<const float4*>(&As[buf][k][64 + ty * 4]);
      float4 u0 = *reinterpret_cast<const float4*>(&Bs[buf][k][tx * 4]);
      float4 u1 = *reinterpret_cast<const float4*>(&Bs[buf][k][64 + tx * 4]);
      a[0] = t0.x; a[1] = t0.y; a[2] = t0.z; a[3] = t0.w;
      a[4] = t1.x; a[5] = t1.y; a[6] = t1.z; a[7] = t1.w;
      b[0] = u0.x; b[1] = u0.y; b[2] = u0.z; b[3] = u0.w;
      b[4] = u1.x; b[5] = u1.y; b[6] = u1.z; b[7] = u1.w;
#pragma unroll
      for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] += a[i] * b[j];
    }
    if (t + 1 < total) {
      store(buf ^ 1);
      __syncthreads();  // slice t+1 is complete, and every thread is done reading slice t-1's buffer
    }
  }
  const int pc = accum ? 0 : p0;
  float* Cp = C + offC + (long long)pc * strideC;
#pragma unroll
  for (int i = 0; i < 8; i++) {
    const int m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 8; j++) {
      const int n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
      if (n >= N) continue;
      float* c = Cp + (long long)m * N + n;
      float val = alpha * acc[i][j];
      if (beta_c != 0.f) val += beta_c * *c;
      *c = val;
    }
  }
}

// gemm_tf32_{nn,nt,tn,tt}: tensor cores in tf32 (10-bit mantissa inputs, fp32 accumulation;
// expect ~1e-3 relative error), through WMMA m16n16k8.  A block owns a 128×128 tile of C with 8
// warps as 2×4, a warp 64×32 (4×2 fragments); k-slices of 16 flow through a 3-stage cp.async
// ring (4-byte copies with zero fill, so any M, N, K and alignment work).  Epilogue through a
// per-warp 16×16 staging tile.  Twin: cpuBackend.MatMul.
// Measured (H200, driver 580, 2026-11, measured by kernelbench vs torch_ref.py): 4096³ 49 TFLOP/s, torch tf32 354, ratio 0.14.
template <bool TA, bool TB>
__device__ __forceinline__ void gemm_tf32_body(float* C, const float* A, const float* B, int M,
                                               int N, int K, float alpha, float beta_c,
                                               float beta_acc, int offA, int offB, int offC,
                                               int strideA, int strideB, int strideC, int batch,
                                               int accum, int pbase) {
  using namespace nvcuda;
  constexpr int BM = GEMM_TILE, BN = GEMM_TILE, BK = GEMM_TF32_BK, STAGES = GEMM_TF32_STAGES;
  constexpr int PAD = GEMM_TF32_PAD;
  constexpr int LDA = TA ? BM + PAD : BK + PAD;  // As is [BK][BM+4] when TA, else [BM][BK+4]
  constexpr int LDB = TB ? BK + PAD : BN + PAD;  // Bs is [BN][BK+4] when TB, else [BK][BN+4]
  constexpr int A_ELEMS = TA ? BK * LDA : BM * LDA;
  constexpr int B_ELEMS = TB ? BN * LDB : BK * LDB;
  constexpr int STAGE = A_ELEMS + B_ELEMS;
  DYNAMIC_SHARED(float4, gemm_smem4);
  float* sm = reinterpret_cast<float*>(gemm_smem4);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp >> 2, wn = warp & 3;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int p0 = accum ? 0 : pbase + blockIdx.z, pcount = accum ? batch : 1;
  const int numK = (K + BK - 1) / BK, total = pcount * numK;

  auto load = [&](int t) {
    float* As = sm + (t % STAGES) * STAGE;
    float* Bs = As + A_ELEMS;
    const int p = p0 + t / numK, k0 = (t % numK) * BK;
    const float* Ap = A + offA + (long long)p * strideA;
    const float* Bp = B + offB + (long long)p * strideB;
#pragma unroll
    for (int i = 0; i < 8; i++) {
      const int e = tid + 256 * i;
      int m, k;
      float* dst;
      if (!TA) { m = m0 + (e >> 4); k = k0 + (e & 15); dst = As + (e >> 4) * LDA + (e & 15); }
      else     { k = k0 + (e >> 7); m = m0 + (e & 127); dst = As + (e >> 7) * LDA + (e & 127); }
      bool ok = m < M && k < K;
      cp_async4(dst, ok ? Ap + (TA ? (long long)k * M + m : (long long)m * K + k) : A, ok ? 4 : 0);
      int n;
      if (TB) { n = n0 + (e >> 4); k = k0 + (e & 15); dst = Bs + (e >> 4) * LDB + (e & 15); }
      else    { k = k0 + (e >> 7); n = n0 + (e & 127); dst = Bs + (e >> 7) * LDB + (e & 127); }
      ok = n < N && k < K;
      cp_async4(dst, ok ? Bp + (TB ? (long long)n * K + k : (long long)k * N + n) : B, ok ? 4 : 0);
    }
  };

  using LayoutA = typename std::conditional<TA, wmma::col_major, wmma::row_major>::type;
  using LayoutB = typename std::conditional<TB, wmma::col_major, wmma::row_major>::type;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);

#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < total) load(s);
    cp_async_commit();
  }
  for (int t = 0; t < total; t++) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // slice t has landed for every thread, and all warps are done with slice
                      // t-1, whose stage the next load overwrites
    if (t + STAGES - 1 < total) load(t + STAGES - 1);
    cp_async_commit();
    if (accum && t > 0 && t % numK == 0 && beta_acc != 1.f) {
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++)
#pragma unroll
          for (int e = 0; e < acc[i][j].num_elements; e++) acc[i][j].x[e] *= beta_acc;
    }
    const float* As = sm + (t % STAGES) * STAGE;
    const float* Bs = As + A_ELEMS;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, LayoutA> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, LayoutB> fb[2];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int mm = wm * 64 + i * 16;
        wmma::load_matrix_sync(fa[i], TA ? As + kk * LDA + mm : As + mm * LDA + kk, LDA);
#pragma unroll
        for (int e = 0; e < fa[i].num_elements; e++) fa[i].x[e] = wmma::__float_to_tf32(fa[i].x[e]);
      }
#pragma unroll
      for (int j = 0; j < 2; j++) {
        const int nn = wn * 32 + j * 16;
        wmma::load_matrix_sync(fb[j], TB ? Bs + nn * LDB + kk : Bs + kk * LDB + nn, LDB);
#pragma unroll
        for (int e = 0; e < fb[j].num_elements; e++) fb[j].x[e] = wmma::__float_to_tf32(fb[j].x[e]);
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // every warp is done with the stages before they become staging tiles
  float* stage = sm + warp * 256;
  const int pc = accum ? 0 : p0;
  float* Cp = C + offC + (long long)pc * strideC;
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 2; j++) {
      wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();  // the fragment is in the staging tile before lanes read it
#pragma unroll
      for (int e = 0; e < 8; e++) {
        const int idx = lane + 32 * e, r = idx >> 4, c = idx & 15;
        const int m = m0 + wm * 64 + i * 16 + r, n = n0 + wn * 32 + j * 16 + c;
        if (m < M && n < N) {
          float* dst = Cp + (long long)m * N + n;
          float val = alpha * stage[idx];
          if (beta_c != 0.f) val += beta_c * *dst;
          *dst = val;
        }
      }
      __syncwarp();  // lanes are done reading before the next fragment overwrites the tile
    }
}

// gemm_bf16_{nn,nt,tn,tt}[_u]: the tensor-core path, bf16 inputs, fp32 accumulation, fp32 C.
// mma.sync m16n8k16 fed by ldmatrix (.trans for the layouts
// whose contiguous axis is M or N), a 4-stage cp.async ring of 128×32 / 32×128 slices, padded
// rows (+8 bf16) so that ldmatrix and cp.async hit distinct banks.  A block owns 128×128 of C
// with 8 warps as 2×4; a warp owns 64×32 = 4×4 mma tiles (64 fp32 accumulators per thread).
// Preconditions of the aligned variants: the contiguous extent of A and B (K or M, N or K), the
// offsets and the batch strides are multiples of 8 elements, so every 16-byte chunk is either
// wholly inside or wholly outside the matrix.  The _u variants load element by element with
// bounds checks and work for any shape.  Twin: cpuBackend.MatMul (on bf16-rounded inputs).
// Measured (H200, driver 580, 2026-11, measured by kernelbench vs torch_ref.py), TFLOP/s flowtune / torch: 4096³ nn 277 / 741 (0.37); 8192×2304×768 187 / 564
// (0.33); 8192×3072×768 200 / 603 (0.33); 8192×768×3072 227 / 685 (0.33).  These were all
// this kernel's; cuda/matmul.go now gives such large aligned problems to gemm_bf16_big_*.
template <bool TA, bool TB, bool ALIGNED>
__device__ __forceinline__ void gemm_bf16_body(float* C, const uint16_t* A, const uint16_t* B,
                                               int M, int N, int K, float alpha, float beta_c,
                                               float beta_acc, int offA, int offB, int offC,
                                               int strideA, int strideB, int strideC, int batch,
                                               int accum, int pbase) {
  constexpr int BM = GEMM_TILE, BN = GEMM_TILE, BK = GEMM_BF16_BK, STAGES = GEMM_BF16_STAGES;
  constexpr int PAD = GEMM_BF16_PAD;
  constexpr int LDA = TA ? BM + PAD : BK + PAD;  // As is [BK][BM+8] when TA, else [BM][BK+8]
  constexpr int LDB = TB ? BK + PAD : BN + PAD;  // Bs is [BN][BK+8] when TB, else [BK][BN+8]
  constexpr int A_ELEMS = TA ? BK * LDA : BM * LDA;
  constexpr int B_ELEMS = TB ? BN * LDB : BK * LDB;
  constexpr int STAGE = A_ELEMS + B_ELEMS;
  DYNAMIC_SHARED(uint4, gemm_smem16);
  uint16_t* sm = reinterpret_cast<uint16_t*>(gemm_smem16);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp >> 2, wn = warp & 3;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int p0 = accum ? 0 : pbase + blockIdx.z, pcount = accum ? batch : 1;
  const int numK = (K + BK - 1) / BK, total = pcount * numK;

  // copy8 moves the 8 elements src[0..7] of a row into dst: in one cp.async when aligned (valid
  // rows are whole), else one bounds-checked element at a time (`avail` of them exist).
  auto copy8 = [&](uint16_t* dst, const uint16_t* src, bool row_ok, int avail, const uint16_t* any) {
    if (ALIGNED) {
      cp_async16(dst, row_ok && avail > 0 ? src : any, row_ok && avail > 0 ? 16 : 0);
    } else {
      uint16_t v[8];
#pragma unroll
      for (int e = 0; e < 8; e++) v[e] = (row_ok && e < avail) ? src[e] : (uint16_t)0;
      uint4 packed;
      packed.x = v[0] | ((uint32_t)v[1] << 16);
      packed.y = v[2] | ((uint32_t)v[3] << 16);
      packed.z = v[4] | ((uint32_t)v[5] << 16);
      packed.w = v[6] | ((uint32_t)v[7] << 16);
      *reinterpret_cast<uint4*>(dst) = packed;
    }
  };
  auto load = [&](int t) {
    uint16_t* As = sm + (t % STAGES) * STAGE;
    uint16_t* Bs = As + A_ELEMS;
    const int p = p0 + t / numK, k0 = (t % numK) * BK;
    const uint16_t* Ap = A + offA + (long long)p * strideA;
    const uint16_t* Bp = B + offB + (long long)p * strideB;
#pragma unroll
    for (int i = 0; i < 2; i++) {
      const int c = tid + 256 * i;  // one of the 512 16-byte chunks of each operand's slice
      if (!TA) {  // slice rows are m (128), 4 chunks of k each
        const int r = c >> 2, kc = (c & 3) * 8, m = m0 + r, k = k0 + kc;
        copy8(As + r * LDA + kc, Ap + (long long)m * K + k, m < M, K - k, A);
      } else {    // slice rows are k (32), 16 chunks of m each
        const int r = c >> 4, mc = (c & 15) * 8, k = k0 + r, m = m0 + mc;
        copy8(As + r * LDA + mc, Ap + (long long)k * M + m, k < K, M - m, A);
      }
      if (TB) {   // slice rows are n (128), 4 chunks of k each
        const int r = c >> 2, kc = (c & 3) * 8, n = n0 + r, k = k0 + kc;
        copy8(Bs + r * LDB + kc, Bp + (long long)n * K + k, n < N, K - k, B);
      } else {    // slice rows are k (32), 16 chunks of n each
        const int r = c >> 4, nc = (c & 15) * 8, k = k0 + r, n = n0 + nc;
        copy8(Bs + r * LDB + nc, Bp + (long long)k * N + n, k < K, N - n, B);
      }
    }
  };

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < total) load(s);
    cp_async_commit();
  }
  // Lane l addresses row (l & 7) of the 8×8 matrix l >> 3 in every ldmatrix.x4.
  const int lr = lane & 7, lq = lane >> 3;
  for (int t = 0; t < total; t++) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // slice t has landed for every thread, and all warps are done with slice
                      // t-1, whose stage the next load overwrites
    if (t + STAGES - 1 < total) load(t + STAGES - 1);
    cp_async_commit();
    if (accum && t > 0 && t % numK == 0 && beta_acc != 1.f) {
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
          for (int e = 0; e < 4; e++) acc[i][j][e] *= beta_acc;
    }
    const uint16_t* As = sm + (t % STAGES) * STAGE;
    const uint16_t* Bs = As + A_ELEMS;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t a[4][4], b[2][4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int mb = wm * 64 + i * 16;
        if (!TA) ldmatrix_x4(a[i], As + (mb + lr + (lq & 1) * 8) * LDA + kk + (lq >> 1) * 8);
        else ldmatrix_x4_trans(a[i], As + (kk + lr + (lq >> 1) * 8) * LDA + mb + (lq & 1) * 8);
      }
#pragma unroll
      for (int j = 0; j < 2; j++) {  // two n8 tiles per ldmatrix: regs {b0, b1} of 2j and 2j+1
        const int nb = wn * 32 + j * 16;
        if (TB) ldmatrix_x4(b[j], Bs + (nb + lr + (lq >> 1) * 8) * LDB + kk + (lq & 1) * 8);
        else ldmatrix_x4_trans(b[j], Bs + (kk + lr + (lq & 1) * 8) * LDB + nb + (lq >> 1) * 8);
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
          mma_bf16_16816(acc[i][j], a[i], b[j >> 1][(j & 1) * 2], b[j >> 1][(j & 1) * 2 + 1]);
    }
  }
  cp_async_wait<0>();

  // Accumulator e of tile (i, j) sits at row lane/4 (+8 for e ≥ 2), column 2·(lane%4) + (e&1).
  const int pc = accum ? 0 : p0;
  float* Cp = C + offC + (long long)pc * strideC;
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int m = m0 + wm * 64 + i * 16 + (lane >> 2) + (e >> 1) * 8;
        const int n = n0 + wn * 32 + j * 8 + (lane & 3) * 2 + (e & 1);
        if (m >= M || n >= N) continue;
        float* dst = Cp + (long long)m * N + n;
        float val = alpha * acc[i][j][e];
        if (beta_c != 0.f) val += beta_c * *dst;
        *dst = val;
      }
}

// gemm_bf16_big_{nn,nt,tn,tt} and gemm_bf16_mid_{nn,nt,tn,tt}: the large-problem bf16 path
// (same arguments and semantics as gemm_bf16_*, plus an optional bias).  A block owns 128×256
// of C with 8 warps as 2×4 (big), or 128×128 with 4 warps as 2×2 (mid); a warp owns 64×64 =
// 4×8 mma tiles (128 fp32 accumulators per thread; big: one block per SM, mid: two on an
// H100).  k-slices of 64 flow through a 3-stage cp.async ring (3 × 48 KB = 144 KB of dynamic
// shared memory for big: fits the A100's 164 KB and the H100's 227 KB; 3 × 32 KB for mid;
// cards with less take gemm_bf16_*).  Shared rows are
// unpadded; the 16-byte chunk c of row r is stored at chunk c ^ (r & 7) of that row (rows are
// 8, 16 or 32 chunks long), so the 8 row addresses of every ldmatrix phase, which share c and
// have 8 consecutive r, fall in 8 distinct bank groups, and so do the 8 chunks a quarter-warp
// writes with cp.async.  Fragments are double-buffered across the four k16 sub-steps of a
// slice (the next sub-step's ldmatrix is issued before the current sub-step's mma), and the
// last sub-step already fetches the first fragments of the next slice.  Blocks are rasterised
// in groups of GEMM_BIG_GROUP tile rows: the grid is one-dimensional in x, consecutive blocks
// walk down a column of the group before moving right, so the blocks resident at one time
// share A rows and B columns in L2.  bias (nullptr: none) is a length-N vector added to every
// row of C after the α/β update: C = α·AB + β·C + bias (once per element, also in accum mode).
// Preconditions: those of the aligned gemm_bf16_* (contiguous extents, offsets and strides
// multiples of 8 elements); M, N, K are otherwise free (ragged edges are zero-filled on load and
// masked on store).  The launcher picks these kernels for large problems (bf16Kernel in
// cuda/geometry.go).
// Twin: cpuBackend.MatMul (on bf16-rounded inputs).
// Measured: — (not yet measured on a GPU; the H200 figure above is the 128×128 kernel's).
template <bool TA, bool TB, int BN>
__device__ __forceinline__ void gemm_bf16_big_body(float* C, const uint16_t* A,
                                                   const uint16_t* B, const float* bias, int M,
                                                   int N, int K, float alpha, float beta_c,
                                                   float beta_acc, int offA, int offB, int offC,
                                                   int strideA, int strideB, int strideC,
                                                   int batch, int accum, int pbase) {
  constexpr int BM = GEMM_BIG_BM, BK = GEMM_BIG_BK, STAGES = GEMM_BIG_STAGES;
  constexpr int KSTEPS = BK / 16;
  // Warps of 64×64 as 2 × BN/64: 8 warps (256 threads) for BN = 256, 4 (128) for BN = 128.
  constexpr int THREADS = BN, WCOLS = BN / 64, WN = 64, NT = WN / 8, NP = WN / 16;
  static_assert(BM == 128 && (BN == 256 || BN == 128), "128×256 or 128×128 tiles");
  static_assert(BK % 64 == 0, "the swizzle needs rows of a multiple of 8 chunks");
  static_assert(KSTEPS % 2 == 0, "fragment buffers alternate over an even number of sub-steps");
  // Chunks (8 bf16) per shared row: A is [BM][BK] (k contiguous) or [BK][BM] when TA, B is
  // [BK][BN] (n contiguous) or [BN][BK] when TB.
  constexpr int CA = TA ? BM / 8 : BK / 8, CB = TB ? BK / 8 : BN / 8;
  constexpr int A_ELEMS = BM * BK, B_ELEMS = BK * BN, STAGE = A_ELEMS + B_ELEMS;
  DYNAMIC_SHARED(uint4, gemm_smem16);
  uint16_t* sm = reinterpret_cast<uint16_t*>(gemm_smem16);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp / WCOLS, wn = warp % WCOLS;

  // Grouped rasterisation of the one-dimensional grid.
  const int tilesM = (M + BM - 1) / BM, tilesN = (N + BN - 1) / BN;
  const int id = blockIdx.x, perGroup = GEMM_BIG_GROUP * tilesN, grp = id / perGroup;
  const int first = grp * GEMM_BIG_GROUP, rows = min(tilesM - first, GEMM_BIG_GROUP);
  const int inGroup = id - grp * perGroup;
  const int m0 = (first + inGroup % rows) * BM, n0 = (inGroup / rows) * BN;
  const int p0 = accum ? 0 : pbase + blockIdx.z, pcount = accum ? batch : 1;
  const int numK = (K + BK - 1) / BK, total = pcount * numK;

  // Element offset of chunk c of row r in a slice with `chunks` chunks per row.
  auto swz = [](int r, int c, int chunks) { return r * chunks * 8 + ((c ^ (r & 7)) << 3); };

  // A thread copies chunk column tid % CH of slice rows tid / CH + i·(THREADS / CH): one base
  // offset per operand, fixed for the whole block, plus k0 along the k axis (the row axis of
  // the k-major slices, the column axis of the others).  In the k-major layouts (A as M×K, B as
  // N×K) the rows are m (n) and their validity is fixed; otherwise the chunk's column is.
  constexpr int RA = THREADS / CA, RB = THREADS / CB;  // row step between copies
  constexpr int NA = A_ELEMS / 8 / THREADS, NB = B_ELEMS / 8 / THREADS;
  const int ra = tid / CA, ca = (tid % CA) * 8, rb = tid / CB, cb = (tid % CB) * 8;
  const long long ldA = TA ? M : K, ldB = TB ? K : N;
  const long long baseA = TA ? (long long)ra * ldA + m0 + ca : (long long)(m0 + ra) * ldA + ca;
  const long long baseB = TB ? (long long)(n0 + rb) * ldB + cb : (long long)rb * ldB + n0 + cb;
  const uint16_t* Abase = A + offA + baseA;
  const uint16_t* Bbase = B + offB + baseB;
  auto load = [&](int t) {
    uint16_t* As = sm + (t % STAGES) * STAGE;
    uint16_t* Bs = As + A_ELEMS;
    const int p = p0 + t / numK, k0 = (t % numK) * BK;
    const uint16_t* Ap = Abase + (long long)p * strideA + (TA ? k0 * ldA : k0);
    const uint16_t* Bp = Bbase + (long long)p * strideB + (TB ? k0 : k0 * ldB);
#pragma unroll
    for (int i = 0; i < NA; i++) {
      const int r = ra + i * RA;  // slice row: m, or k when TA
      const bool ok = TA ? (k0 + r < K && m0 + ca < M) : (m0 + r < M && k0 + ca < K);
      cp_async16(As + swz(r, ca >> 3, CA), ok ? Ap + i * RA * ldA : A, ok ? 16 : 0);
    }
#pragma unroll
    for (int i = 0; i < NB; i++) {
      const int r = rb + i * RB;  // slice row: n when TB, else k
      const bool ok = TB ? (n0 + r < N && k0 + cb < K) : (k0 + r < K && n0 + cb < N);
      cp_async16(Bs + swz(r, cb >> 3, CB), ok ? Bp + i * RB * ldB : B, ok ? 16 : 0);
    }
  };

  // Lane l addresses row (l & 7) of the 8×8 matrix l >> 3 in every ldmatrix.x4.
  const int lr = lane & 7, lq = lane >> 3;
  uint32_t fa[2][4][4], fb[2][NP][4];  // [buffer][m16 tile | n16 pair][register]
  auto frags = [&](int buf, int stage, int ks) {
    const uint16_t* As = sm + stage * STAGE;
    const uint16_t* Bs = As + A_ELEMS;
    const int kk = ks * 16;
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int mb = wm * 64 + i * 16;
      if (!TA) ldmatrix_x4(fa[buf][i], As + swz(mb + lr + (lq & 1) * 8, (kk >> 3) + (lq >> 1), CA));
      else ldmatrix_x4_trans(fa[buf][i], As + swz(kk + lr + (lq >> 1) * 8, (mb >> 3) + (lq & 1), CA));
    }
#pragma unroll
    for (int j = 0; j < NP; j++) {  // two n8 tiles per ldmatrix: regs {b0, b1} of 2j and 2j+1
      const int nb = wn * WN + j * 16;
      if (TB) ldmatrix_x4(fb[buf][j], Bs + swz(nb + lr + (lq >> 1) * 8, (kk >> 3) + (lq & 1), CB));
      else ldmatrix_x4_trans(fb[buf][j], Bs + swz(kk + lr + (lq & 1) * 8, (nb >> 3) + (lq >> 1), CB));
    }
  };

  float acc[4][NT][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < total) load(s);
    cp_async_commit();
  }
  cp_async_wait<STAGES - 2>();
  __syncthreads();  // slice 0 has landed for every thread
  if (total > 0) frags(0, 0, 0);

  for (int t = 0; t < total; t++) {
    if (accum && t > 0 && t % numK == 0 && beta_acc != 1.f) {
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
          for (int e = 0; e < 4; e++) acc[i][j][e] *= beta_acc;
    }
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ks++) {
      if (ks == KSTEPS - 1) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();  // slice t+1 has landed for every thread, and every warp has issued its
                          // last read of slice t-1's stage (sub-step KSTEPS-1 was fetched at
                          // ks = KSTEPS-2), which the load below (next iteration) overwrites
      }
      if (ks < KSTEPS - 1) frags((ks + 1) & 1, t % STAGES, ks + 1);
      else if (t + 1 < total) frags(0, (t + 1) % STAGES, 0);
      if (ks == 0) {
        if (t + STAGES - 1 < total) load(t + STAGES - 1);  // into slice t-1's stage
        cp_async_commit();
      }
      const int cur = ks & 1;
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < NT; j++) {
          const int jj = (i & 1) ? NT - 1 - j : j;  // serpentine order: reuse the B registers
          mma_bf16_16816(acc[i][jj], fa[cur][i], fb[cur][jj >> 1][(jj & 1) * 2],
                         fb[cur][jj >> 1][(jj & 1) * 2 + 1]);
        }
    }
  }
  cp_async_wait<0>();

  // Accumulator e of tile (i, j) sits at row lane/4 (+8 for e ≥ 2), column 2·(lane%4) + (e&1):
  // each thread writes pairs of adjacent columns, as one 8-byte store where C allows it.
  const int pc = accum ? 0 : p0;
  float* Cp = C + offC + (long long)pc * strideC;
  const bool pairs = ((N | offC | (accum ? 0 : strideC)) & 1) == 0;
#pragma unroll
  for (int j = 0; j < NT; j++) {
    const int n = n0 + wn * WN + j * 8 + (lane & 3) * 2;
    if (n >= N) continue;
    const bool two = n + 1 < N;
    float b0 = 0.f, b1 = 0.f;
    if (bias) {
      b0 = bias[n];
      if (two) b1 = bias[n + 1];
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int m = m0 + wm * 64 + i * 16 + (lane >> 2) + h * 8;
        if (m >= M) continue;
        float* dst = Cp + (long long)m * N + n;
        float v0 = alpha * acc[i][j][2 * h] + b0, v1 = alpha * acc[i][j][2 * h + 1] + b1;
        if (pairs && two) {
          if (beta_c != 0.f) {
            const float2 old = *reinterpret_cast<const float2*>(dst);
            v0 += beta_c * old.x;
            v1 += beta_c * old.y;
          }
          float2 out;
          out.x = v0;
          out.y = v1;
          *reinterpret_cast<float2*>(dst) = out;
        } else {
          if (beta_c != 0.f) v0 += beta_c * dst[0];
          dst[0] = v0;
          if (two) {
            if (beta_c != 0.f) v1 += beta_c * dst[1];
            dst[1] = v1;
          }
        }
      }
  }
}

#define GEMM_ARGS                                                                               \
  int M, int N, int K, float alpha, float beta_c, float beta_acc, int offA, int offB, int offC, \
      int strideA, int strideB, int strideC, int batch, int accum, int pbase
#define GEMM_PASS M, N, K, alpha, beta_c, beta_acc, offA, offB, offC, strideA, strideB, strideC, batch, accum, pbase

#define GEMM_F32_INSTANCE(name, TA, TB)                                                         \
  extern "C" __global__ void __launch_bounds__(GEMM_THREADS)                                \
      name(float* C, const float* A, const float* B, GEMM_ARGS) {                               \
    gemm_f32_body<TA, TB>(C, A, B, GEMM_PASS);                                                  \
  }
GEMM_F32_INSTANCE(gemm_f32_nn, false, false)
GEMM_F32_INSTANCE(gemm_f32_nt, false, true)
GEMM_F32_INSTANCE(gemm_f32_tn, true, false)
GEMM_F32_INSTANCE(gemm_f32_tt, true, true)

#define GEMM_TF32_INSTANCE(name, TA, TB)                                                        \
  extern "C" __global__ void __launch_bounds__(GEMM_THREADS)                                \
      name(float* C, const float* A, const float* B, GEMM_ARGS) {                               \
    gemm_tf32_body<TA, TB>(C, A, B, GEMM_PASS);                                                 \
  }
GEMM_TF32_INSTANCE(gemm_tf32_nn, false, false)
GEMM_TF32_INSTANCE(gemm_tf32_nt, false, true)
GEMM_TF32_INSTANCE(gemm_tf32_tn, true, false)
GEMM_TF32_INSTANCE(gemm_tf32_tt, true, true)

#define GEMM_BF16_INSTANCE(name, TA, TB, AL)                                                    \
  extern "C" __global__ void __launch_bounds__(GEMM_THREADS)                                \
      name(float* C, const uint16_t* A, const uint16_t* B, GEMM_ARGS) {                         \
    gemm_bf16_body<TA, TB, AL>(C, A, B, GEMM_PASS);                                             \
  }
GEMM_BF16_INSTANCE(gemm_bf16_nn, false, false, true)
GEMM_BF16_INSTANCE(gemm_bf16_nt, false, true, true)
GEMM_BF16_INSTANCE(gemm_bf16_tn, true, false, true)
GEMM_BF16_INSTANCE(gemm_bf16_tt, true, true, true)
GEMM_BF16_INSTANCE(gemm_bf16_nn_u, false, false, false)
GEMM_BF16_INSTANCE(gemm_bf16_nt_u, false, true, false)
GEMM_BF16_INSTANCE(gemm_bf16_tn_u, true, false, false)
GEMM_BF16_INSTANCE(gemm_bf16_tt_u, true, true, false)

#define GEMM_BIG_INSTANCE(name, TA, TB, BN, MINB)                                               \
  extern "C" __global__ void __launch_bounds__(BN, MINB)                                       \
      name(float* C, const uint16_t* A, const uint16_t* B, const float* bias, GEMM_ARGS) {      \
    gemm_bf16_big_body<TA, TB, BN>(C, A, B, bias, GEMM_PASS);                                   \
  }
GEMM_BIG_INSTANCE(gemm_bf16_big_nn, false, false, GEMM_BIG_BN, 1)
GEMM_BIG_INSTANCE(gemm_bf16_big_nt, false, true, GEMM_BIG_BN, 1)
GEMM_BIG_INSTANCE(gemm_bf16_big_tn, true, false, GEMM_BIG_BN, 1)
GEMM_BIG_INSTANCE(gemm_bf16_big_tt, true, true, GEMM_BIG_BN, 1)
GEMM_BIG_INSTANCE(gemm_bf16_mid_nn, false, false, GEMM_MID_BN, 2)
GEMM_BIG_INSTANCE(gemm_bf16_mid_nt, false, true, GEMM_MID_BN, 2)
GEMM_BIG_INSTANCE(gemm_bf16_mid_tn, true, false, GEMM_MID_BN, 2)
GEMM_BIG_INSTANCE(gemm_bf16_mid_tt, true, true, GEMM_MID_BN, 2)

// add_bias_f32: C_p[i][j] += bias[j] for the M×N matrices C_p at off + p·stride, p < batch: the
// bias of tensor.Linear after the GEMMs that have no bias epilogue (all but gemm_bf16_big_*).
// A grid-stride loop over the batch·M·N elements.  Twin: the broadcast add of tensor.Linear.
// Measured: — (a bandwidth kernel; the big-tile GEMM adds the bias for free where it runs).
extern "C" __global__ void add_bias_f32(float* c, const float* bias, int off, int stride, int m,
                                        int n, int batch) {
  const int per = m * n, total = per * batch;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int p = i / per, r = i - p * per;
    c[off + (long long)p * stride + r] += bias[r % n];
  }
}

// ============================================================================================
// 8. Optimizer
// ============================================================================================

// adamw_f32: one fused AdamW step (PyTorch's form), per element, in double like the twin:
//   g = scale·grad; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²
//   param = param·decay − lr·(m/bc1)/(√(v/bc2) + eps),  decay = 1 − lr·wd, bc_i = 1 − β_iᵗ
// (decay and the bias corrections are computed once on the host).  A thread owns 4 consecutive
// elements (float4 traffic: 16 B read ×4 arrays, written ×3).  Preconditions: whole storages.
// Twin: cpuBackend.AdamW.  Measured (H200, driver 580, 2026-11, measured by kernelbench vs
// torch_ref.py): 4093 GB/s, torch fused AdamW 3356, ratio 1.22.
__device__ __forceinline__ void adamw_one(float& p, float g, float& m, float& v, double lr,
                                          double b1, double b2, double eps, double decay,
                                          double bc1, double bc2, double scale) {
  const double gs = (double)g * scale;
  const double mi = b1 * m + (1.0 - b1) * gs;
  const double vi = b2 * v + (1.0 - b2) * gs * gs;
  m = (float)mi;
  v = (float)vi;
  p = (float)((double)p * decay - lr * ((mi / bc1) / (sqrt(vi / bc2) + eps)));
}
extern "C" __global__ void adamw_f32(float* param, const float* grad, float* m, float* v, int n,
                                     double lr, double b1, double b2, double eps, double decay,
                                     double bc1, double bc2, double scale) {
  const int i4 = blockIdx.x * blockDim.x + threadIdx.x;
  int i = i4 * 4;
  if (i + 3 < n) {
    float4 p = reinterpret_cast<float4*>(param)[i4];
    float4 g = reinterpret_cast<const float4*>(grad)[i4];
    float4 mm = reinterpret_cast<float4*>(m)[i4];
    float4 vv = reinterpret_cast<float4*>(v)[i4];
    adamw_one(p.x, g.x, mm.x, vv.x, lr, b1, b2, eps, decay, bc1, bc2, scale);
    adamw_one(p.y, g.y, mm.y, vv.y, lr, b1, b2, eps, decay, bc1, bc2, scale);
    adamw_one(p.z, g.z, mm.z, vv.z, lr, b1, b2, eps, decay, bc1, bc2, scale);
    adamw_one(p.w, g.w, mm.w, vv.w, lr, b1, b2, eps, decay, bc1, bc2, scale);
    reinterpret_cast<float4*>(param)[i4] = p;
    reinterpret_cast<float4*>(m)[i4] = mm;
    reinterpret_cast<float4*>(v)[i4] = vv;
  } else {
    for (; i < n; i++) adamw_one(param[i], grad[i], m[i], v[i], lr, b1, b2, eps, decay, bc1, bc2, scale);
  }
}

// ============================================================================================
// 9. RNG: Philox4x32-10
// ============================================================================================
//
// Element i of a uniform draw at stream offset `offset` uses the counter (lo32(offset+i),
// hi32(offset+i), 0, 0) under key = seed, exactly as tensor/philox.go: the integer outputs agree
// bit for bit.  The normal stream packs 4 positions into one counter (rand_normal_f32).

__device__ __forceinline__ void philox4x32_10(uint64_t key, uint32_t c[4]) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
#pragma unroll
  for (int r = 0; r < 10; r++) {
    const uint32_t lo0 = 0xD2511F53u * c[0], hi0 = __umulhi(0xD2511F53u, c[0]);
    const uint32_t lo1 = 0xCD9E8D57u * c[2], hi1 = __umulhi(0xCD9E8D57u, c[2]);
    const uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
    c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}
// (0, 1]: never 0, so log() is safe.  Exact in float32.
__device__ __forceinline__ float philox_unit(uint32_t u) {
  return ((float)(u >> 8) + 1.f) * (1.f / 16777216.f);
}

// rand_uniform_f32: y[i] = uniform (0,1] from output 0.  One thread per element.
// Twin: PhiloxUniform (bit-exact).  Measured: —
extern "C" __global__ void rand_uniform_f32(float* y, unsigned long long seed,
                                            unsigned long long offset, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint64_t ctr = offset + (uint64_t)i;
  uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0u, 0u};
  philox4x32_10(seed, c);
  y[i] = philox_unit(c[0]);
}

// rand_normal_f32: the normal stream of tensor/philox.go.  Stream position p = offset + i takes
// lane p mod 4 of the Philox block at counter (lo32(p/4), hi32(p/4), PHILOX_NORMAL_DOMAIN, 0);
// Box–Muller turns the lane pairs (0,1) and (2,3) into two normals each:
// R = √(−2 ln u_a), z_a = R·cos 2πu_b, z_b = R·sin 2πu_b.  So one Philox call and two
// logarithms give 4 normals.  A thread owns one block (4 consecutive positions) and stores them
// as one float4 when the draw's offset is a multiple of 4, else element by element.  The
// transform runs in float32 (logf, sqrtf and sincospif, each within 2 ulp; sincospif takes
// 2u_b exactly, so no rounding of 2π·u_b): within a few ulp of the twin's float64.
// Grid: one thread per block touched, first block offset/4.  Twin: PhiloxNormal4 / PhiloxNormal
// (integer outputs bit-exact).
// Measured (H200, driver 580, 2026-11, measured by kernelbench; before the 4-per-call form):
// 437 GB/s, 10% of copy.
#define PHILOX_NORMAL_DOMAIN 2u  // third counter word of the normal stream (tensor/philox.go)
__device__ __forceinline__ void philox_normal4(uint64_t seed, uint64_t block, float z[4]) {
  uint32_t c[4] = {(uint32_t)block, (uint32_t)(block >> 32), PHILOX_NORMAL_DOMAIN, 0u};
  philox4x32_10(seed, c);
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const float r = sqrtf(-2.f * logf(philox_unit(c[2 * h])));
    float sn, cs;
    sincospif(2.f * philox_unit(c[2 * h + 1]), &sn, &cs);
    z[2 * h] = r * cs;
    z[2 * h + 1] = r * sn;
  }
}
extern "C" __global__ void rand_normal_f32(float* y, unsigned long long seed,
                                           unsigned long long offset, int n) {
  const uint64_t block = offset / 4 + (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const long long i0 = (long long)(block * 4 - offset);  // index of the block's lane 0 (may be < 0)
  if (i0 >= n) return;
  float z[4];
  philox_normal4(seed, block, z);
  if (i0 >= 0 && i0 + 3 < n && (offset & 3) == 0) {
    reinterpret_cast<float4*>(y)[i0 / 4] = make_float4(z[0], z[1], z[2], z[3]);
  } else {
#pragma unroll
    for (int j = 0; j < 4; j++)
      if (i0 + j >= 0 && i0 + j < n) y[i0 + j] = z[j];
  }
}

// ============================================================================================
// 10. Diffusion and RL: Euler–Maruyama step, velocity losses
// ============================================================================================
//
// docs/algorithms.md §2.1.  The host turns SDEArgs into the coefficients of an affine mean μ = cx·x + cv·v,
// the step's std, and the log-prob form logp = −w·mean_D (x'−μ)² + k (both SDE kinds fit:
// cuda/fused.go mirrors newSDECoef of the twin).  Per-sample sums are split over `parts`
// blocks per sample so that a small batch still fills the machine; rows_finalize adds the parts
// in order (deterministic).

// sde_step_partial: for sample b = blockIdx.y and the part's `chunk` elements: μ = cx·x + cv·v;
// when z is non-null x' = μ + std·z (written), else x' is read; partial[part·batch + b] =
// Σ (x'−μ)², in double like the twin.  Grid (parts, batch), 256 threads, a thread a strided
// subset.  Twin: cpuBackend.SDEStep.  Measured (H200, driver 580, 2026-11, measured by kernelbench vs torch_ref.py): 88% of copy bandwidth (with
// rows_finalize).
extern "C" __global__ void sde_step_partial(float* xnext, double* partial, const float* x,
                                            const float* v, const float* z, int dim, int chunk,
                                            double cx, double cv, double stdv) {
  __shared__ double scratch[32];
  const int b = blockIdx.y, part = blockIdx.x;
  const int j0 = part * chunk, j1 = min(dim, j0 + chunk);
  const long long base = (long long)b * dim;
  double ss = 0;
  for (int j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const long long i = base + j;
    const double mu = cx * x[i] + cv * v[i];
    float xn;
    if (z) {
      xn = (float)(mu + stdv * z[i]);
      xnext[i] = xn;
    } else {
      xn = xnext[i];
    }
    const double r = (double)xn - mu;
    ss += r * r;
  }
  ss = block_sum_d(ss, scratch);
  if (threadIdx.x == 0) partial[(long long)part * gridDim.y + b] = ss;
}

// sqerr_partial: partial[part·batch + b] = Σ (v − target)² over the part's elements of sample
// b, in double.  Grid (parts, batch), 256 threads.  Twin: cpuBackend.SqErr.
// Measured (H200, driver 580, 2026-11, measured by kernelbench vs torch_ref.py): 79% of copy bandwidth (with rows_finalize).
extern "C" __global__ void sqerr_partial(double* partial, const float* v, const float* target,
                                         int dim, int chunk) {
  __shared__ double scratch[32];
  const int b = blockIdx.y, part = blockIdx.x;
  const int j0 = part * chunk, j1 = min(dim, j0 + chunk);
  const long long base = (long long)b * dim;
  double ss = 0;
  for (int j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const double d = (double)v[base + j] - (double)target[base + j];
    ss += d * d;
  }
  ss = block_sum_d(ss, scratch);
  if (threadIdx.x == 0) partial[(long long)part * gridDim.y + b] = ss;
}

// rows_finalize: out[b] = coef·Σ_p partial[p·batch + b] + add, parts in order.  With
// coef = −w/D, add = k it is the SDE log-prob; with coef = 1/D, add = 0 the per-sample MSE.
// One thread per sample.  Measured: —
extern "C" __global__ void rows_finalize(float* out, const double* partial, int parts, int batch,
                                         double coef, double add) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= batch) return;
  double s = 0;
  for (int p = 0; p < parts; p++) s += partial[(long long)p * batch + b];
  out[b] = (float)(coef * s + add);
}

// sde_step_backward: dv[i] = dlogp[b]·f·(x'_i − μ_i) with f = 2·w·cv/D (host), b = i / dim.
// One thread per element.  Twin: cpuBackend.SDEStepBackward.  Measured: —
extern "C" __global__ void sde_step_backward(float* dv, const float* dlogp, const float* x,
                                             const float* v, const float* xnext, int dim, int n,
                                             double cx, double cv, double f) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const double mu = cx * x[i] + cv * v[i];
  dv[i] = (float)((double)dlogp[i / dim] * f * ((double)xnext[i] - mu));
}

// sqerr_backward: dv[i] = de[b]·2·(v_i − target_i)/dim, b = i / dim.  One thread per element.
// Twin: cpuBackend.SqErrBackward.  Measured: —
extern "C" __global__ void sqerr_backward(float* dv, const float* de, const float* v,
                                          const float* target, int dim, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const double f = 2.0 * (double)de[i / dim] / dim;
  dv[i] = (float)(f * ((double)v[i] - (double)target[i]));
}

// ============================================================================================
// 11. Embedding rows
// ============================================================================================

// gather_rows: dst[i, j] = table[idx[i], j] for i < n, j < dim.  One thread per element.
// Preconditions: 0 ≤ idx[i] < rows of table (checked in Go).  Twin: cpuBackend.Gather.
// Measured: —
extern "C" __global__ void gather_rows(float* dst, const float* table, const int* idx, int n,
                                       int dim) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n * dim) return;
  const int i = t / dim, j = t - i * dim;
  dst[t] = table[(long long)idx[i] * dim + j];
}

#define SCATTER_COLS 128  // columns (threads) per block of scatter_add_rows

// scatter_add_rows: dtable[u_k, j] += Σ dy[i, j] over the rows i with idx[i] = u_k, added in
// increasing i like the twin (bit-identical, no atomics).  plan = [u_0..u_{U−1} | start_0..
// start_U | order...]: the host sorts the indices into U distinct rows u_k whose source rows
// are order[start_k .. start_{k+1}).  Grid (U, ceil(dim/SCATTER_COLS)), SCATTER_COLS threads: a
// block owns that many columns of one destination row.  Twin: cpuBackend.ScatterAdd.  Measured: —
extern "C" __global__ void scatter_add_rows(float* dtable, const float* dy, const int* plan,
                                            int nuniq, int dim) {
  const int k = blockIdx.x, j = blockIdx.y * blockDim.x + threadIdx.x;
  if (j >= dim) return;
  const int* start = plan + nuniq;
  const int* order = start + nuniq + 1;
  float* row = dtable + (long long)plan[k] * dim + j;
  float acc = *row;
  for (int e = start[k]; e < start[k + 1]; e++) acc += dy[(long long)order[e] * dim + j];
  *row = acc;
}

// ============================================================================================
// 12. Image ops: GroupNorm and the im2col / col2im pair behind convolutions
// ============================================================================================
//
// Images are [N, C, HW] (HW = H·W pixels).  A GroupNorm row is one (image, group): C/groups
// consecutive channels, L = C/groups·HW contiguous elements, so its statistics are a block
// reduction over one contiguous span, as LayerNorm's over a long row.  Statistics accumulate in
// double like the twins.  Convolutions are im2col + the GEMMs of §7; col2im gathers (each pixel
// sums the column entries it feeds, in the twin's order), so no atomics are needed.

// group_norm_f32: y = (x − μ)·rstd·w[c] + b[c] per (image, group) row; w, b may be null.
// Saves mean[row], rstd[row].  Grid (N·groups), 256 threads: a block owns a row, each thread a
// strided subset; two passes (mean, then variance around it) and the write.
// Twin: cpuBackend.GroupNorm.  Measured: —
extern "C" __global__ void group_norm_f32(float* y, float* mean, float* rstd, const float* x,
                                          const float* w, const float* b, int C, int HW,
                                          int groups, float eps) {
  __shared__ double scratch[32];
  __shared__ double stat[2];
  const int r = blockIdx.x, cpg = C / groups, L = cpg * HW, c0 = (r % groups) * cpg;
  const float* xr = x + (long long)r * L;
  double s = 0;
  for (int j = threadIdx.x; j < L; j += blockDim.x) s += xr[j];
  s = block_sum_d(s, scratch);
  if (threadIdx.x == 0) stat[0] = s / L;
  __syncthreads();  // stat[0] is written, and warp 0 is done reading scratch, before reuse
  const double mu = stat[0];
  double ss = 0;
  for (int j = threadIdx.x; j < L; j += blockDim.x) {
    double d = xr[j] - mu;
    ss += d * d;
  }
  ss = block_sum_d(ss, scratch);
  if (threadIdx.x == 0) {
    stat[1] = 1.0 / sqrt(ss / L + (double)eps);
    mean[r] = (float)mu;
    rstd[r] = (float)stat[1];
  }
  __syncthreads();  // stat[1] is written before every thread reads it
  const double rs = stat[1];
  float* yr = y + (long long)r * L;
  for (int j = threadIdx.x; j < L; j += blockDim.x) {
    const int c = c0 + j / HW;
    double scale = rs, shift = -mu * rs;
    if (w) {
      scale *= w[c];
      shift *= w[c];
    }
    if (b) shift += b[c];
    yr[j] = (float)((double)xr[j] * scale + shift);
  }
}

// group_norm_backward_dx_f32: with x̂ = (x − μ)·rstd and g = dy·w[c] (dy when w is null),
// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) over each row.  Launch as group_norm_f32.
// Twin: cpuBackend.GroupNormBackward (dx).  Measured: —
extern "C" __global__ void group_norm_backward_dx_f32(float* dx, const float* dy, const float* x,
                                                      const float* mean, const float* rstd,
                                                      const float* w, int C, int HW, int groups) {
  __shared__ double scratch[32];
  __shared__ double stat[2];
  const int r = blockIdx.x, cpg = C / groups, L = cpg * HW, c0 = (r % groups) * cpg;
  const long long base = (long long)r * L;
  const double mu = mean[r], rs = rstd[r];
  double sg = 0, sgx = 0;
  for (int j = threadIdx.x; j < L; j += blockDim.x) {
    double g = (double)dy[base + j] * (w ? (double)w[c0 + j / HW] : 1.0);
    sg += g;
    sgx += g * ((double)x[base + j] - mu) * rs;
  }
  sg = block_sum_d(sg, scratch);
  if (threadIdx.x == 0) stat[0] = sg / L;
  __syncthreads();  // warp 0 is done reading scratch before the second reduction reuses it
  sgx = block_sum_d(sgx, scratch);
  if (threadIdx.x == 0) stat[1] = sgx / L;
  __syncthreads();  // both means are written before every thread reads them
  const double mg = stat[0], mgx = stat[1];
  for (int j = threadIdx.x; j < L; j += blockDim.x) {
    double g = (double)dy[base + j] * (w ? (double)w[c0 + j / HW] : 1.0);
    double xh = ((double)x[base + j] - mu) * rs;
    dx[base + j] = (float)(rs * (g - mg - xh * mgx));
  }
}

// group_norm_wgrad: dw[c] += Σ_{n,p} dy·x̂ and db[c] += Σ_{n,p} dy (either may be null).
// Grid (C), 256 threads: a block owns a channel and walks its N·HW elements.
// Twin: cpuBackend.GroupNormBackward (dw, db).  Measured: —
extern "C" __global__ void group_norm_wgrad(float* dw, float* db, const float* dy, const float* x,
                                            const float* mean, const float* rstd, int N, int C,
                                            int HW, int groups) {
  __shared__ double scratch[32];
  __shared__ double stat[1];
  const int c = blockIdx.x, cpg = C / groups;
  double sw = 0, sb = 0;
  for (int n = 0; n < N; n++) {
    const int r = n * groups + c / cpg;
    const double mu = mean[r], rs = rstd[r];
    const long long base = ((long long)n * C + c) * HW;
    for (int p = threadIdx.x; p < HW; p += blockDim.x) {
      double g = dy[base + p];
      sw += g * ((double)x[base + p] - mu) * rs;
      sb += g;
    }
  }
  sw = block_sum_d(sw, scratch);
  if (threadIdx.x == 0) stat[0] = sw;
  __syncthreads();  // warp 0 is done reading scratch before the second reduction reuses it
  sb = block_sum_d(sb, scratch);
  if (threadIdx.x == 0) {
    if (dw) dw[c] = (float)((double)dw[c] + stat[0]);
    if (db) db[c] = (float)((double)db[c] + sb);
  }
}

// im2col_f32: col[n, (ci·KH + i)·KW + j, oh·OW + ow] = x[xoff + n·C·H·W + (ci·H + h)·W + w] with
// h = oh·S − P + i, w = ow·S − P + j, and 0 where (h, w) falls outside the image.  One thread
// per col element (total = batch·C·KH·KW·OH·OW).  Twin: cpuBackend.Im2Col.  Measured: —
extern "C" __global__ void im2col_f32(float* col, const float* x, int xoff, int C, int H, int W,
                                      int KH, int KW, int S, int P, int OH, int OW, int total) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= total) return;
  const int ow = e % OW, oh = e / OW % OH, j = e / (OW * OH) % KW, i = e / (OW * OH * KW) % KH;
  const int ci = e / (OW * OH * KW * KH) % C, n = e / (OW * OH * KW * KH * C);
  const int h = oh * S - P + i, w = ow * S - P + j;
  float v = 0.f;
  if (h >= 0 && h < H && w >= 0 && w < W) v = x[xoff + (((long long)n * C + ci) * H + h) * W + w];
  col[e] = v;
}

// col2im_f32: the adjoint of im2col_f32, as a gather: each pixel (n, ci, h, w) of dx (from
// element dxoff on, overwritten) sums the col entries it was copied to, in increasing (i, j)
// like the twin.  One thread per pixel (total = batch·C·H·W).  Twin: cpuBackend.Col2Im.
// Measured: —
extern "C" __global__ void col2im_f32(float* dx, const float* col, int dxoff, int C, int H,
                                      int W, int KH, int KW, int S, int P, int OH, int OW,
                                      int total) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= total) return;
  const int w = e % W, h = e / W % H, ci = e / (W * H) % C, n = e / (W * H * C);
  const long long np = (long long)OH * OW, base = (long long)n * C * KH * KW * np;
  float s = 0.f;
  for (int i = 0; i < KH; i++) {
    const int th = h + P - i;
    if (th < 0 || th % S != 0 || th / S >= OH) continue;
    for (int j = 0; j < KW; j++) {
      const int tw = w + P - j;
      if (tw < 0 || tw % S != 0 || tw / S >= OW) continue;
      s += col[base + ((long long)(ci * KH + i) * KW + j) * np + (th / S) * OW + tw / S];
    }
  }
  dx[dxoff + e] = s;
}
