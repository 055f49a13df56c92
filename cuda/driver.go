//go:build cuda

package cuda

// The few driver-API calls that github.com/mumax/3/cuda/cu does not wrap: the primary context,
// events (kernel timing), cuProfilerStart/Stop, the dynamic shared-memory limit of a kernel,
// and NVTX ranges. NVTX comes from the header-only NVTX3 (part of the CUDA toolkit headers):
// without a profiler attached each call is a cheap no-op; under `nsys profile` the tool injects
// itself through NVTX_INJECTION64_PATH and records the ranges. Like cu, these functions panic
// with a cu.Result on failure; the backend recovers at its boundary.

/*
#cgo CFLAGS: -I/usr/local/cuda/include -I/opt/cuda/include
#cgo LDFLAGS: -lcuda -ldl -L/usr/local/cuda/lib64/stubs -L/opt/cuda/lib64
#include <cuda.h>
#include <cudaProfiler.h>
#include <nvtx3/nvToolsExt.h>

#include <stdint.h>

static void ft_nvtx_push(const char *name) { nvtxRangePushA(name); }
static CUresult ft_func_max_dynamic_smem(uintptr_t f, int bytes) {
	return cuFuncSetAttribute((CUfunction)f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
}
static void ft_nvtx_pop(void) { nvtxRangePop(); }
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/mumax/3/cuda/cu"
)

func check(r C.CUresult) {
	if r != C.CUDA_SUCCESS {
		panic(cu.Result(r))
	}
}

// primaryContext retains the device's primary context (the one the runtime API and tools use).
func primaryContext(dev cu.Device) cu.Context {
	var ctx C.CUcontext
	check(C.cuDevicePrimaryCtxRetain(&ctx, C.CUdevice(dev)))
	return cu.Context(uintptr(unsafe.Pointer(ctx)))
}

func setMaxDynamicShared(f cu.Function, bytes int) {
	check(C.ft_func_max_dynamic_smem(C.uintptr_t(f), C.int(bytes)))
}

// maxSharedOptin is the most dynamic shared memory one block may ask for on dev.
func maxSharedOptin(dev cu.Device) int {
	var v C.int
	check(C.cuDeviceGetAttribute(&v, C.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, C.CUdevice(dev)))
	return int(v)
}

// event is a CUDA event on the default stream, for timing.
type event struct{ e C.CUevent }

func newEvent() event {
	var e C.CUevent
	check(C.cuEventCreate(&e, C.CU_EVENT_DEFAULT))
	return event{e}
}

func (e event) record()  { check(C.cuEventRecord(e.e, nil)) }
func (e event) sync()    { check(C.cuEventSynchronize(e.e)) }
func (e event) destroy() { check(C.cuEventDestroy(e.e)) }

// elapsedMs returns the milliseconds between two recorded, completed events.
func elapsedMs(start, end event) float64 {
	var ms C.float
	check(C.cuEventElapsedTime(&ms, start.e, end.e))
	return float64(ms)
}

func profilerStart() { check(C.cuProfilerStart()) }
func profilerStop()  { check(C.cuProfilerStop()) }

// nvtxNames caches one C string per range name (names are a small fixed set: op and phase
// names), so pushing a range allocates nothing.
var nvtxNames sync.Map // string -> *C.char

func nvtxPush(name string) {
	p, ok := nvtxNames.Load(name)
	if !ok {
		p, _ = nvtxNames.LoadOrStore(name, C.CString(name))
	}
	C.ft_nvtx_push(p.(*C.char))
}

func nvtxPop() { C.ft_nvtx_pop() }
