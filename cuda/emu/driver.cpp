// driver.cpp — a fake libcuda.so.1 that runs flowtune's kernels on the CPU.
//
// It implements the driver-API entry points the Go backend calls (through mumax's cu and
// cuda/driver.go) on host memory, and compiles kernels.cu itself as host C++: cuLaunchKernel
// looks the kernel up by name and runs every block in turn, each CUDA thread as a fiber
// (ucontext) that yields at barriers. The point is correctness without a GPU: the same kernel
// source, the same Go launchers (argument lists, grids, shared-memory sizes), checked by the
// same conformance suite. Between two barriers the threads of a block run one after another
// (FT_EMU_REVERSE=1 reverses the order), so a missing barrier changes the results; run
// both orders. By default the warps of a block advance in step, warp barrier by warp barrier,
// which hides a missing __syncthreads between warps that do the same sequence of warp-wide
// operations; FT_EMU_WARP_SERIAL=1 instead runs each warp as far as it can (to a
// __syncthreads or its end) before the next one starts. cp.async copies are deferred until the
// issuing thread's cp.async.wait_group retires them, as on the GPU. Device buffers are placed against a PROT_NONE guard page, so a read
// or write past the end of an allocation faults at once; dynamic shared memory is filled with
// NaN bytes before every block, so a read of shared memory nobody wrote shows up as NaN.
//
// Build and use: cuda/emu/run.sh <command>, e.g. cuda/emu/run.sh go test -tags cuda ./cuda/
#include <cuda.h>
#include <cudaProfiler.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../../kernels.cu"

// ---- the device side: threads as fibers --------------------------------------------------------

emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

constexpr size_t kDynamicSmem = 232448;  // the H100's opt-in limit per block
alignas(128) float4 att_smem4[kDynamicSmem / 16];
alignas(128) float4 gemm_smem4[kDynamicSmem / 16];
alignas(128) uint4 gemm_smem16[kDynamicSmem / 16];

namespace {

enum State { kRunnable, kWaitBlock, kWaitWarp, kDone };

struct PendingCopy {
  void* dst;
  int size;
  unsigned char data[16];
};

struct Fiber {
  ucontext_t ctx;
  char* stack = nullptr;
  State state = kDone;
  unsigned tid = 0;
  std::vector<PendingCopy> open;                  // cp.async issued since the last commit
  std::deque<std::vector<PendingCopy>> groups;    // committed, not yet retired by a wait
};

constexpr size_t kStack = 256 << 10;
ucontext_t scheduler;
std::vector<Fiber> fibers;
Fiber* current = nullptr;
std::function<void()> body;  // the kernel call every thread of the block makes
uint64_t exchange[32][32][16];  // per warp, per lane: scratch for warp-wide operations
const char* current_kernel = "";
// Threads run between barriers one after another, in increasing thread index, or decreasing
// with FT_EMU_REVERSE=1: a missing barrier shows up in one order or the other.
const bool reverse_order = [] {
  const char* v = std::getenv("FT_EMU_REVERSE");
  return v && v[0] == '1';
}();
const bool warp_serial = [] {
  const char* v = std::getenv("FT_EMU_WARP_SERIAL");
  return v && v[0] == '1';
}();

void set_thread_index(unsigned tid) {
  threadIdx.x = tid % blockDim.x;
  threadIdx.y = (tid / blockDim.x) % blockDim.y;
  threadIdx.z = tid / (blockDim.x * blockDim.y);
}

void trampoline() {
  body();
  current->state = kDone;  // uc_link returns to the scheduler
}

void yield(State s) {
  current->state = s;
  swapcontext(&current->ctx, &scheduler);
}

// run_block runs the threads of one block to completion, releasing a barrier when every live
// thread it concerns has reached it.
bool run_block(unsigned nthreads) {
  if (fibers.size() < nthreads) fibers.resize(nthreads);
  for (unsigned t = 0; t < nthreads; t++) {
    Fiber& f = fibers[t];
    if (!f.stack) {
      f.stack = (char*)mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (f.stack == MAP_FAILED) {
        f.stack = nullptr;
        return false;
      }
    }
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = &scheduler;
    makecontext(&f.ctx, trampoline, 0);
    f.state = kRunnable;
    f.tid = t;
    f.open.clear();  // copies a previous block left unretired never land
    f.groups.clear();
  }
  const unsigned warps = (nthreads + 31) / 32;
  auto runThread = [&](unsigned t) {
    Fiber& f = fibers[t];
    if (f.state != kRunnable) return false;
    current = &f;
    set_thread_index(t);
    swapcontext(&scheduler, &f.ctx);
    return true;
  };
  for (;;) {
    bool ran = false;
    if (warp_serial) {
      // Each warp in turn, releasing its own warp barriers, until it waits at __syncthreads or ends.
      for (unsigned i = 0; i < warps; i++) {
        const unsigned w = reverse_order ? warps - 1 - i : i;
        const unsigned lo = w * 32, hi = std::min(nthreads, (w + 1) * 32);
        for (;;) {
          bool any = false, allWarp = true, live = false;
          for (unsigned t = lo; t < hi; t++) any |= runThread(t);
          ran |= any;
          for (unsigned t = lo; t < hi; t++) {
            if (fibers[t].state == kDone) continue;
            live = true;
            if (fibers[t].state != kWaitWarp) allWarp = false;
          }
          if (!live || !allWarp) break;
          for (unsigned t = lo; t < hi; t++)
            if (fibers[t].state == kWaitWarp) fibers[t].state = kRunnable;
        }
      }
    } else {
      for (unsigned i = 0; i < nthreads; i++) ran |= runThread(reverse_order ? nthreads - 1 - i : i);
    }
    // Release warp barriers whose live lanes all arrived, then the block barrier.
    bool anyLive = false, allAtBlock = true, released = false;
    for (unsigned w = 0; w < warps; w++) {
      bool live = false, all = true;
      for (unsigned t = w * 32; t < std::min(nthreads, (w + 1) * 32); t++) {
        if (fibers[t].state == kDone) continue;
        live = true;
        if (fibers[t].state != kWaitWarp) all = false;
      }
      if (live && all) {
        for (unsigned t = w * 32; t < std::min(nthreads, (w + 1) * 32); t++)
          if (fibers[t].state == kWaitWarp) fibers[t].state = kRunnable;
        released = true;
      }
    }
    for (unsigned t = 0; t < nthreads; t++) {
      if (fibers[t].state == kDone) continue;
      anyLive = true;
      if (fibers[t].state != kWaitBlock) allAtBlock = false;
    }
    if (!anyLive) return true;
    if (allAtBlock) {
      for (unsigned t = 0; t < nthreads; t++)
        if (fibers[t].state == kWaitBlock) fibers[t].state = kRunnable;
      released = true;
    }
    if (!released && !ran) {
      std::fprintf(stderr, "cuda/emu: kernel %s deadlocked in block (%u,%u,%u): threads wait at different barriers\n",
                   current_kernel, blockIdx.x, blockIdx.y, blockIdx.z);
      return false;
    }
  }
}

}  // namespace

void emu_block_barrier() { yield(kWaitBlock); }

void emu_cp_async(void* dst, const void* src, int size, int src_bytes) {
  PendingCopy c{dst, size, {}};
  if (src_bytes > 0) std::memcpy(c.data, src, std::min(src_bytes, size));  // the rest zero-fills
  current->open.push_back(c);
}
void emu_cp_commit() {
  current->groups.push_back(std::move(current->open));
  current->open.clear();
}
void emu_cp_wait(int pending) {
  while ((int)current->groups.size() > pending) {
    for (const PendingCopy& c : current->groups.front()) std::memcpy(c.dst, c.data, c.size);
    current->groups.pop_front();
  }
}
void emu_warp_barrier() { yield(kWaitWarp); }
int emu_lane() { return current->tid % 32; }
uint64_t* emu_exchange(int lane) { return exchange[current->tid / 32][lane]; }

// ---- kernel registry ---------------------------------------------------------------------------

namespace {

template <typename... A, size_t... I>
void call_with(void (*f)(A...), void** p, std::index_sequence<I...>) {
  f(*static_cast<A*>(p[I])...);
}

template <typename... A>
std::function<void(void**)> wrap(void (*f)(A...)) {
  return [f](void** p) { call_with(f, p, std::index_sequence_for<A...>{}); };
}

struct Kernel {
  std::string name;
  std::function<void(void**)> call;
  int maxDynamicSmem = 48 << 10;
};

std::map<std::string, Kernel>& registry() {
  static std::map<std::string, Kernel> r = {
#define K(name) {#name, Kernel{#name, wrap(&name)}},
#include "kernels.inc"
#undef K
  };
  return r;
}

// ---- device memory with guard pages ------------------------------------------------------------

struct Block {
  char* base;
  size_t mapped;
};
std::map<uintptr_t, Block> allocations;  // user pointer -> mapping
const size_t kPage = 4096;

}  // namespace

// ---- the driver API ----------------------------------------------------------------------------

// Handles the Go side turns into unsafe.Pointer must look like real pointers.
static char fake_context[64], fake_module[64], fake_stream[64];

extern "C" {

CUresult cuInit(unsigned int) { return CUDA_SUCCESS; }
CUresult cuDriverGetVersion(int* v) { *v = 12000; return CUDA_SUCCESS; }
CUresult cuDeviceGetCount(int* n) { *n = 1; return CUDA_SUCCESS; }
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
  std::snprintf(name, len, "CPU emulator (cuda/emu)");
  return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem(size_t* b, CUdevice) { *b = size_t(8) << 30; return CUDA_SUCCESS; }
CUresult cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice) {
  switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; break;
    case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: *v = 1980000; break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: *v = 2619000; break;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: *v = 5120; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = (int)kDynamicSmem; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = 48 << 10; break;
    default: *v = 0;
  }
  return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice) { *c = (CUcontext)fake_context; return CUDA_SUCCESS; }
CUresult cuCtxCreate(CUcontext* c, unsigned int, CUdevice) { *c = (CUcontext)fake_context; return CUDA_SUCCESS; }
CUresult cuCtxDestroy(CUcontext) { return CUDA_SUCCESS; }
CUresult cuCtxSetCurrent(CUcontext) { return CUDA_SUCCESS; }
CUresult cuCtxGetCurrent(CUcontext* c) { *c = (CUcontext)fake_context; return CUDA_SUCCESS; }
CUresult cuCtxGetDevice(CUdevice* d) { *d = 0; return CUDA_SUCCESS; }
CUresult cuCtxGetApiVersion(CUcontext, unsigned int* v) { *v = 12000; return CUDA_SUCCESS; }
CUresult cuCtxSynchronize(void) { return CUDA_SUCCESS; }
CUresult cuCtxEnablePeerAccess(CUcontext, unsigned int) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuCtxDisablePeerAccess(CUcontext) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuDeviceCanAccessPeer(int* v, CUdevice, CUdevice) { *v = 0; return CUDA_SUCCESS; }

// The emulator runs kernels.cu itself, so the image only has to look like one: an ELF cubin for
// the compute capability it reports (9.0) or PTX text.
CUresult cuModuleLoadData(CUmodule* m, const void* image) {
  const unsigned char* p = (const unsigned char*)image;
  const bool elf = std::memcmp(p, "\x7f" "ELF", 4) == 0;
  if (elf && p[48] != 90) return CUDA_ERROR_NO_BINARY_FOR_GPU;  // e_flags: the SM number
  if (!elf && std::strstr((const char*)p, ".visible .entry") == nullptr) return CUDA_ERROR_INVALID_IMAGE;
  *m = (CUmodule)fake_module;
  return CUDA_SUCCESS;
}
CUresult cuModuleLoad(CUmodule* m, const char*) { *m = (CUmodule)fake_module; return CUDA_SUCCESS; }
CUresult cuModuleGetFunction(CUfunction* f, CUmodule, const char* name) {
  auto it = registry().find(name);
  if (it == registry().end()) return CUDA_ERROR_NOT_FOUND;
  *f = (CUfunction)&it->second;
  return CUDA_SUCCESS;
}
CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v) {
  if (a != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) return CUDA_ERROR_NOT_SUPPORTED;
  if (v < 0 || (size_t)v > kDynamicSmem) return CUDA_ERROR_INVALID_VALUE;
  ((Kernel*)f)->maxDynamicSmem = v;
  return CUDA_SUCCESS;
}
CUresult cuFuncGetAttribute(int* v, CUfunction_attribute, CUfunction) { *v = 0; return CUDA_SUCCESS; }

// FT_EMU_SKIP_KERNELS=1 accepts launches without running them, for counting the driver calls of
// a program quickly (cuda.PhaseTable): device memory then starts zeroed and every download
// reads zeros, so that host code sees finite values (zero losses, zero gradient norms).
static const bool skip_kernels = [] {
  const char* v = std::getenv("FT_EMU_SKIP_KERNELS");
  return v && v[0] == '1';
}();

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned smem, CUstream, void** params, void** extra) {
  Kernel* k = (Kernel*)f;
  if (extra || !params || gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || bx * by * bz == 0 ||
      bx * by * bz > 1024 || bz > 64) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if ((int)smem > k->maxDynamicSmem) {
    std::fprintf(stderr, "cuda/emu: %s launched with %u bytes of dynamic shared memory, limit %d\n", k->name.c_str(),
                 smem, k->maxDynamicSmem);
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (skip_kernels) return CUDA_SUCCESS;
  current_kernel = k->name.c_str();
  gridDim = {gx, gy, gz};
  blockDim = {bx, by, bz};
  body = [&] { k->call(params); };
  for (unsigned z = 0; z < gz; z++)
    for (unsigned y = 0; y < gy; y++)
      for (unsigned x = 0; x < gx; x++) {
        blockIdx = {x, y, z};
        if (smem) {  // shared memory nobody wrote reads as NaN
          std::memset(att_smem4, 0xff, smem);
          std::memset(gemm_smem4, 0xff, smem);
          std::memset(gemm_smem16, 0xff, smem);
        }
        if (!run_block(bx * by * bz)) return CUDA_ERROR_LAUNCH_FAILED;
      }
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr* p, size_t bytes) {
  // The buffer ends where a PROT_NONE page begins; its start stays 256-byte aligned.
  size_t rounded = (bytes + 255) / 256 * 256;
  size_t body = (rounded + kPage - 1) / kPage * kPage;
  size_t mapped = body + kPage;
  char* base = (char*)mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
  mprotect(base + body, kPage, PROT_NONE);
  char* user = base + body - rounded;
  std::memset(user, skip_kernels ? 0 : 0xa5, rounded);  // fresh device memory is garbage, not zeros
  allocations[(uintptr_t)user] = Block{base, mapped};
  *p = (CUdeviceptr)(uintptr_t)user;
  return CUDA_SUCCESS;
}
CUresult cuMemFree(CUdeviceptr p) {
  if (!p) return CUDA_SUCCESS;
  auto it = allocations.find((uintptr_t)p);
  if (it == allocations.end()) return CUDA_ERROR_INVALID_VALUE;
  munmap(it->second.base, it->second.mapped);
  allocations.erase(it);
  return CUDA_SUCCESS;
}
CUresult cuMemGetInfo(size_t* free, size_t* total) {
  *free = size_t(7) << 30;
  *total = size_t(8) << 30;
  return CUDA_SUCCESS;
}
CUresult cuMemAllocHost(void** p, size_t bytes) { *p = std::malloc(bytes); return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY; }
CUresult cuMemFreeHost(void* p) { std::free(p); return CUDA_SUCCESS; }
CUresult cuMemGetAddressRange(CUdeviceptr*, size_t*, CUdeviceptr) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuPointerGetAttribute(void*, CUpointer_attribute, CUdeviceptr) { return CUDA_ERROR_NOT_SUPPORTED; }

CUresult cuMemcpy(CUdeviceptr d, CUdeviceptr s, size_t n) { std::memmove((void*)d, (void*)s, n); return CUDA_SUCCESS; }
CUresult cuMemcpyAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream) { return cuMemcpy(d, s, n); }
CUresult cuMemcpyDtoD(CUdeviceptr d, CUdeviceptr s, size_t n) { std::memcpy((void*)d, (void*)s, n); return CUDA_SUCCESS; }
CUresult cuMemcpyDtoDAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream) { return cuMemcpyDtoD(d, s, n); }
CUresult cuMemcpyHtoD(CUdeviceptr d, const void* s, size_t n) { std::memcpy((void*)d, s, n); return CUDA_SUCCESS; }
CUresult cuMemcpyHtoDAsync(CUdeviceptr d, const void* s, size_t n, CUstream) { return cuMemcpyHtoD(d, s, n); }
CUresult cuMemcpyDtoH(void* d, CUdeviceptr s, size_t n) {
  if (skip_kernels) std::memset(d, 0, n);
  else std::memcpy(d, (void*)s, n);
  return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoHAsync(void* d, CUdeviceptr s, size_t n, CUstream) { return cuMemcpyDtoH(d, s, n); }
CUresult cuMemcpyPeer(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuMemcpyPeerAsync(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t, CUstream) { return CUDA_ERROR_NOT_SUPPORTED; }
CUresult cuMemsetD8(CUdeviceptr d, unsigned char v, size_t n) { std::memset((void*)d, v, n); return CUDA_SUCCESS; }
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream) { return cuMemsetD8(d, v, n); }
CUresult cuMemsetD32(CUdeviceptr d, unsigned int v, size_t n) {
  for (size_t i = 0; i < n; i++) ((unsigned*)d)[i] = v;
  return CUDA_SUCCESS;
}
CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream) { return cuMemsetD32(d, v, n); }

CUresult cuStreamCreate(CUstream* s, unsigned int) { *s = (CUstream)fake_stream; return CUDA_SUCCESS; }
CUresult cuStreamDestroy(CUstream) { return CUDA_SUCCESS; }
CUresult cuStreamQuery(CUstream) { return CUDA_SUCCESS; }
CUresult cuStreamSynchronize(CUstream) { return CUDA_SUCCESS; }

CUresult cuEventCreate(CUevent* e, unsigned int) { *e = (CUevent) new double(0); return CUDA_SUCCESS; }
CUresult cuEventDestroy(CUevent e) { delete (double*)e; return CUDA_SUCCESS; }
CUresult cuEventRecord(CUevent e, CUstream) {
  *(double*)e = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return CUDA_SUCCESS;
}
CUresult cuEventSynchronize(CUevent) { return CUDA_SUCCESS; }
CUresult cuEventElapsedTime(float* ms, CUevent a, CUevent b) { *ms = (float)(*(double*)b - *(double*)a); return CUDA_SUCCESS; }

CUresult cuProfilerStart(void) { return CUDA_SUCCESS; }
CUresult cuProfilerStop(void) { return CUDA_SUCCESS; }

}  // extern "C"
