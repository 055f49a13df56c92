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

// transposePanel is the assembly behind transpose16.
//
//go:noescape
func transposePanel(dst, src *float32, rs, blocks, rows, dstStep int)

// transpose16 is the AVX-512 transposeFunc (rows 14 or 16).
func transpose16(dst, src []float32, stride, blocks, rows, dstStep int) {
	if blocks == 0 {
		return
	}
	if rows != 14 && rows != 16 {
		panic("gemm: transpose16 packs 14 or 16 rows")
	}
	_ = dst[(blocks*16-1)*dstStep+rows-1] // bounds the stores
	_ = src[(rows-1)*stride+blocks*16-1]  // and the last row's loads
	transposePanel(unsafe.SliceData(dst), unsafe.SliceData(src), stride, blocks, rows, dstStep)
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
