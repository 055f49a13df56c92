// cuda_emu.h — stand-ins for the CUDA built-ins that kernels.cu uses, so that the very same
// kernel source compiles as host C++ (-DFT_HOST_EMU) and runs on the CPU inside the fake driver
// of driver.cpp. Each CUDA thread is a fiber; __syncthreads and the warp-wide operations
// (__shfl_xor_sync, ldmatrix, mma.sync) are barriers where the scheduler switches fibers. The
// warp-wide operations follow the fragment layouts of the PTX ISA manual; cp.async lands at the
// wait_group that retires it; WMMA fragments hold the whole tile in every lane.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define DYNAMIC_SHARED(type, name) extern type name[]

struct emu_dim3 {
  unsigned x, y, z;
};
extern emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

using std::max;
using std::min;

inline float __expf(float x) { return expf(x); }
inline void sincospif(float x, float* s, float* c) {
  const double a = 3.141592653589793 * (double)x;
  *s = (float)std::sin(a);
  *c = (float)std::cos(a);
}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Scheduler hooks (driver.cpp).
void emu_block_barrier();
void emu_warp_barrier();
int emu_lane();
uint64_t* emu_exchange(int lane);  // 16 words of warp-shared scratch per lane of this warp

inline void __syncthreads() { emu_block_barrier(); }
inline void __syncwarp() { emu_warp_barrier(); }

template <typename T>
T __shfl_xor_sync(unsigned, T v, int o) {
  static_assert(sizeof(T) <= 8, "shuffle of a wide type");
  const int lane = emu_lane();
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  emu_exchange(lane)[0] = bits;
  emu_warp_barrier();  // every lane has published its value
  bits = emu_exchange(lane ^ o)[0];
  emu_warp_barrier();  // every lane has read before the slots are reused
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// ---- the PTX wrappers of kernels.cu §1 --------------------------------------------------------

// cp.async is deferred as on the GPU: a copy reads its source at issue but lands in shared
// memory only when a cp_async_wait of the issuing thread retires its group (driver.cpp keeps
// the groups per thread), so a missing or too shallow wait reads stale (NaN-filled) shared memory.
void emu_cp_async(void* dst, const void* src, int size, int src_bytes);
void emu_cp_commit();
void emu_cp_wait(int pending);
inline void cp_async16(void* dst, const void* src, int src_bytes) { emu_cp_async(dst, src, 16, src_bytes); }
inline void cp_async4(void* dst, const void* src, int src_bytes) { emu_cp_async(dst, src, 4, src_bytes); }
inline void cp_async_commit() { emu_cp_commit(); }
template <int N>
inline void cp_async_wait() {
  emu_cp_wait(N);
}

// ldmatrix .x4: lane l gives the address of row l%8 of matrix l/8; lane l receives, of matrix
// q, row l/4 and columns 2(l%4), 2(l%4)+1 (with .trans: rows 2(l%4), 2(l%4)+1 of column l/4).
inline void emu_ldmatrix(uint32_t r[4], const void* p, bool trans) {
  const int lane = emu_lane();
  emu_exchange(lane)[0] = (uint64_t)(uintptr_t)p;
  emu_warp_barrier();
  for (int q = 0; q < 4; q++) {
    uint32_t v = 0;
    for (int j = 0; j < 2; j++) {
      uint16_t e;
      if (!trans) {
        const uint16_t* row = (const uint16_t*)(uintptr_t)emu_exchange(q * 8 + lane / 4)[0];
        e = row[2 * (lane % 4) + j];
      } else {
        const uint16_t* row = (const uint16_t*)(uintptr_t)emu_exchange(q * 8 + 2 * (lane % 4) + j)[0];
        e = row[lane / 4];
      }
      v |= (uint32_t)e << (16 * j);
    }
    r[q] = v;
  }
  emu_warp_barrier();
}
inline void ldmatrix_x4(uint32_t r[4], const void* p) { emu_ldmatrix(r, p, false); }
inline void ldmatrix_x4_trans(uint32_t r[4], const void* p) { emu_ldmatrix(r, p, true); }

inline float emu_bf16(uint32_t bits16) { return __uint_as_float((bits16 & 0xffff) << 16); }

// mma.m16n8k16.row.col bf16 → f32, with groupID g = lane/4 and t = lane%4:
//   A regs {(g, 2t..), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..)}, B regs {(k 2t.., n g), (k 2t+8.., n g)},
//   C/D {(g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)}.
inline void mma_bf16_16816(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  const int lane = emu_lane();
  uint64_t* x = emu_exchange(lane);
  for (int i = 0; i < 4; i++) x[i] = a[i];
  x[4] = b0;
  x[5] = b1;
  emu_warp_barrier();
  float A[16][16], B[16][8];
  for (int L = 0; L < 32; L++) {
    const uint64_t* y = emu_exchange(L);
    const int g = L / 4, t = L % 4;
    for (int h = 0; h < 2; h++) {
      A[g][2 * t + h] = emu_bf16((uint32_t)y[0] >> (16 * h));
      A[g + 8][2 * t + h] = emu_bf16((uint32_t)y[1] >> (16 * h));
      A[g][2 * t + 8 + h] = emu_bf16((uint32_t)y[2] >> (16 * h));
      A[g + 8][2 * t + 8 + h] = emu_bf16((uint32_t)y[3] >> (16 * h));
      B[2 * t + h][g] = emu_bf16((uint32_t)y[4] >> (16 * h));
      B[2 * t + 8 + h][g] = emu_bf16((uint32_t)y[5] >> (16 * h));
    }
  }
  emu_warp_barrier();
  const int g = lane / 4, t = lane % 4;
  for (int e = 0; e < 4; e++) {
    const int row = g + (e >> 1) * 8, col = 2 * t + (e & 1);
    float s = d[e];
    for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
    d[e] = s;
  }
}

// ---- WMMA (tf32), whole tiles in every lane ---------------------------------------------------

namespace nvcuda {
namespace wmma {
struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
namespace precision {
struct tf32 {};
}
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int rows = std::is_same<Use, matrix_a>::value ? M : (std::is_same<Use, matrix_b>::value ? K : M);
  static constexpr int cols = std::is_same<Use, matrix_a>::value ? K : N;
  static constexpr int num_elements = rows * cols;
  float x[rows * cols];
};

inline float __float_to_tf32(float f) {  // round to nearest, ties away, 10-bit mantissa
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  return __uint_as_float(u);
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const float* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, Layout>;
  const bool rowMajor = std::is_same<Layout, row_major>::value;
  for (int r = 0; r < F::rows; r++)
    for (int c = 0; c < F::cols; c++) f.x[r * F::cols + c] = rowMajor ? p[r * ldm + c] : p[c * ldm + r];
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
  for (auto& e : f.x) e = v;
}

template <int M, int N, int K, typename TA, typename LA, typename LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
              const fragment<matrix_b, M, N, K, TA, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; k++) s += a.x[i * K + k] * b.x[k * N + j];
      out[i * N + j] = s;
    }
  std::memcpy(d.x, out, sizeof out);
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t l) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      if (l == mem_row_major) p[i * ldm + j] = f.x[i * N + j];
      else p[j * ldm + i] = f.x[i * N + j];
    }
}
}  // namespace wmma
}  // namespace nvcuda
