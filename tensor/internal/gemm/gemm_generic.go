//go:build !amd64 || purego

package gemm

// availableKernels: without assembly, the portable Go micro-kernel is the only one.
func availableKernels() []*microKernel { return []*microKernel{goKernel} }
