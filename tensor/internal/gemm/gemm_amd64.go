//go:build amd64 && !purego

package gemm

import "unsafe"

// Assembly micro-kernels (gemm_amd64.s); see kernelFunc for the contract.
//
//go:noescape
func kernel14x32(k int, a, b, c *float32, ldc int, alpha, beta float32, loadC int)

//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32, loadC int)

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func xgetbv0() (eax, edx uint32)

// Blocking sizes were tuned on a 2-core AMD EPYC (Zen 5: 48 KiB L1d, 1 MiB L2 per core) with
// BenchmarkSgemm; elsewhere they only need to be roughly right.
var (
	avx512Kernel = &microKernel{name: "avx512-14x32", mr: 14, nr: 32, kc: 256, mc: 14 * 12, nc: 4096,
		fn: asmKernel(kernel14x32), packers: packers{gather: gather16, transpose: transpose16, copy: copy32}}
	avx2Kernel = &microKernel{name: "avx2-6x16", mr: 6, nr: 16, kc: 256, mc: 6 * 24, nc: 4096,
		fn: asmKernel(kernel6x16)}
)

// asmKernel adapts an assembly kernel (raw pointers) to the slice-based kernelFunc. The
// driver guarantees the slices are long enough (see kernelFunc), so only their first elements'
// addresses are passed.
func asmKernel(f func(k int, a, b, c *float32, ldc int, alpha, beta float32, loadC int)) kernelFunc {
	return func(k int, a, b, c []float32, ldc int, alpha, beta float32, loadC bool) {
		flag := 0
		if loadC {
			flag = 1
		}
		f(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, alpha, beta, flag)
	}
}

// availableKernels lists the kernels this CPU (and OS) can run, fastest first.
func availableKernels() []*microKernel {
	f := detectFeatures()
	var ks []*microKernel
	if f.avx512 {
		ks = append(ks, avx512Kernel)
	}
	if f.avx2fma {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, goKernel)
}

type features struct{ avx2fma, avx512 bool }

// detectFeatures asks CPUID what the processor supports and XGETBV whether the OS saves the
// matching register state (a CPU may support AVX-512 while the OS has it switched off).
func detectFeatures() features {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return features{}
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return features{}
	}
	xcr0, _ := xgetbv0()
	const (
		sseAVXState = 0x6  // XMM and upper YMM halves
		avx512State = 0xe0 // opmask, upper ZMM0-15 halves, ZMM16-31
	)
	if xcr0&sseAVXState != sseAVXState {
		return features{}
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const (
		avx2    = 1 << 5
		avx512f = 1 << 16
	)
	var f features
	f.avx2fma = ebx7&avx2 != 0
	f.avx512 = f.avx2fma && ebx7&avx512f != 0 && xcr0&avx512State == avx512State
	return f
}
