//go:build amd64 && !purego

package gemm

import "unsafe"

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
