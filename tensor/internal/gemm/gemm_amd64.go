//go:build amd64 && !purego

package gemm

import "unsafe"

// Assembly micro-kernels (gemm_amd64.s); see kernelFunc for the contract.
//
//go:noescape
func kernel14x32(k int, a, b, c *float32, ldc int, alpha, beta float32, loadC int)

//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32, loadC int)

// gatherPanel is the assembly behind gather16, with lane masks instead of counts.
//
//go:noescape
func gatherPanel(dst, src *float32, rs, steps, dstStep int, gatherMask, storeMask uint16)

// gather16 is the AVX-512 gatherFunc.
func gather16(dst, src []float32, stride, steps, dstStep, width, lanes int) {
	_ = dst[(steps-1)*dstStep+lanes-1]  // bounds the stores
	_ = src[(steps-1)+(width-1)*stride] // and the last load
	gatherPanel(unsafe.SliceData(dst), unsafe.SliceData(src), stride, steps, dstStep, uint16(1<<width-1), uint16(1<<lanes-1))
}

// transpose14 is the assembly behind transpose14x16.
//
//go:noescape
func transpose14(dst, src *float32, rs, blocks int)

// transpose14x16 is the AVX-512 transposeFunc for 14-row panels.
func transpose14x16(dst, src []float32, stride, blocks int) {
	if blocks == 0 {
		return
	}
	_ = dst[blocks*16*14-1]        // bounds the stores
	_ = src[13*stride+blocks*16-1] // and the last row's loads
	transpose14(unsafe.SliceData(dst), unsafe.SliceData(src), stride, blocks)
}

// copyPanel is the assembly behind copy32, with lane masks instead of counts.
//
//go:noescape
func copyPanel(dst, src *float32, stride, steps, dstStep int, load0, load1, store0, store1 uint16)

// copy32 is the AVX-512 copyFunc.
func copy32(dst, src []float32, stride, steps, dstStep, width, lanes int) {
	_ = dst[(steps-1)*dstStep+lanes-1]
	_ = src[(steps-1)*stride+width-1]
	mask := func(n int) (lo, hi uint16) {
		m := uint32(1)<<n - 1 // n = 32 wraps around to all ones
		return uint16(m), uint16(m >> 16)
	}
	l0, l1 := mask(width)
	s0, s1 := mask(lanes)
	copyPanel(unsafe.SliceData(dst), unsafe.SliceData(src), stride, steps, dstStep, l0, l1, s0, s1)
}

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func xgetbv0() (eax, edx uint32)

// Blocking sizes were tuned on a 2-core AMD EPYC (Zen 5: 48 KiB L1d, 1 MiB L2 per core) with
// BenchmarkSgemm; elsewhere they only need to be roughly right.
var (
	avx512Kernel = &microKernel{name: "avx512-14x32", mr: 14, nr: 32, kc: 256, mc: 14 * 12, nc: 4096,
		fn: asmKernel(kernel14x32), packers: packers{gather: gather16, transpose: transpose14x16, copy: copy32}}
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
