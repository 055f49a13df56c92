//go:build cuda

package cuda

import (
	"os"
	"runtime"

	"github.com/mumax/3/cuda/cu"

	"github.com/flowtune/flowtune/tensor"
)

// Enabled reports whether this binary contains the CUDA backend.
const Enabled = true

// nvtxOn is whether ranges are emitted: a profiler that records NVTX announces itself through
// NVTX_INJECTION64_PATH (nsys does); FLOWTUNE_NVTX=1 forces ranges on.
var nvtxOn = os.Getenv("NVTX_INJECTION64_PATH") != "" || os.Getenv("FLOWTUNE_NVTX") == "1"

// Range opens an NVTX range named name (a training phase: "rollout", "reward", "advantage",
// "forward", "backward", "optimizer") and returns the function that closes it. Ranges nest.
// NVTX ranges belong to an OS thread, so Range pins the calling goroutine to its thread until
// end is called (on the same goroutine). Without a profiler attached it costs nothing.
func Range(name string) (end func()) {
	if !nvtxOn {
		return func() {}
	}
	runtime.LockOSThread()
	nvtxPush(name)
	return func() {
		nvtxPop()
		runtime.UnlockOSThread()
	}
}

// ProfileSteps returns a StepProfiler for backend b (a *Backend, or the validating wrapper of
// one); for any other backend it does nothing.
func ProfileSteps(b tensor.Backend, from, to int) *StepProfiler {
	var cb *Backend
	switch v := b.(type) {
	case *Backend:
		cb = v
	case *Validating:
		cb = v.gpu
	}
	p := &StepProfiler{from: from, to: to}
	if cb != nil {
		p.start = func() {
			defer cb.exit(cb.enter("profiler start"))
			profilerStart()
		}
		p.stop = func() {
			defer cb.exit(cb.enter("profiler stop"))
			cu.CtxSynchronize() // the captured steps' kernels finish inside the capture
			profilerStop()
		}
	}
	return p
}
