// Package cuda is flowtune's CUDA backend: tensor.Backend on an NVIDIA GPU (compute capability
// 8.0 or newer), every primitive a hand-written kernel from kernels.cu at the repository root.
//
// The backend is compiled only with the build tag `cuda` (it links the driver API through cgo
// and github.com/mumax/3/cuda/cu, so building needs cuda.h and libcuda.so, not a GPU). Without
// the tag the package is a stub: New returns an error that says how to rebuild, and the
// profiling helpers do nothing, so programs can import it unconditionally.
//
//	b, err := cuda.New() // FLOWTUNE_CUDA_DEVICE, FLOWTUNE_CUDA_MATMUL=fp32|tf32|bf16
//	if err != nil { ... } // no CUDA in this binary, no driver, no device: a clear message
//
// Debugging switches (environment):
//
//	FLOWTUNE_CUDA_SYNC=1      synchronise after every launch and report the failing kernel
//	FLOWTUNE_CUDA_VALIDATE=1  run every primitive on the CPU too; panic at the first divergence
//	FLOWTUNE_CUDA_POISON=1    fill uninitialised outputs (tensor.Empty) with NaN bytes
//	FLOWTUNE_CUDA_LEGACY=1    without the launch-overhead savings (zero fills, synchronous uploads, ...)
//
// Profiling: every backend method is an NVTX range when a profiler is attached (nsys sets
// NVTX_INJECTION64_PATH; FLOWTUNE_NVTX=1 forces it), Range marks larger phases (rollout,
// reward, forward, backward, optimizer), and ProfileSteps brackets chosen training steps with
// cuProfilerStart/Stop so that `nsys profile --capture-range=cudaProfilerApi` records only them.
//
// kernels.cu is committed compiled (build.sh): as PTX (kernels.ptx, with kernels.ptx.sha256, the
// hash of the source it came from) and as machine code for sm_80 and sm_90 (kernels.sm_*.cubin,
// assembled from that PTX). All three are embedded; Open loads the cubin of the card's family
// (8.x or 9.x, milliseconds) and lets the driver JIT-compile the PTX on newer cards (seconds).
// FLOWTUNE_CUDA_IMAGE=ptx forces the PTX, =cubin the cubin; DeviceInfo says which was loaded.
// Run ./build.sh after editing kernels.cu.
package cuda
