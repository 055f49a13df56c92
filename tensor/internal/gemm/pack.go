package gemm

import "math"

// gatherFunc packs a strided operand quickly (AVX-512 gathers): for p < steps,
// dst[p·dstStep + r] = src[p + r·stride] for r < width and 0 for width ≤ r < lanes
// (width ≤ lanes ≤ 16, 15·stride < 2³¹). dst must hold (steps−1)·dstStep+lanes floats.
type gatherFunc func(dst, src []float32, stride, steps, dstStep, width, lanes int)

// copyFunc packs contiguous runs quickly (AVX-512 masked moves, no call per step): for
// p < steps, dst[p·dstStep + r] = src[p·stride + r] for r < width and 0 for width ≤ r < lanes
// (width ≤ lanes ≤ 32).
type copyFunc func(dst, src []float32, stride, steps, dstStep, width, lanes int)

// transposeFunc packs full panels of strided storage 16 steps at a time (AVX-512 in-register
// transposes): dst[p·dstStep + r] = src[r·stride + p] for r < rows, p < 16·blocks, where rows
// is 14 or 16.
type transposeFunc func(dst, src []float32, stride, blocks, rows, dstStep int)

// canGather reports whether g exists and can address a stride.
func canGather(g gatherFunc, stride int) bool { return g != nil && stride <= math.MaxInt32/15 }

// view is a strided window on op(X): element (i, j) lives at data[i·rs + j·cs]. A transposed
// operand is just the same data with rs and cs swapped, so packing absorbs the transpose flags.
type view struct {
	data   []float32
	rs, cs int
}

// packA copies the mc×kc block of op(A) starting at (i0, p0) into dst as ⌈mc/mr⌉ panels of
// mr rows. Panel q holds rows i0+q·mr … in "column" order: dst[q·kc·mr + p·mr + r] =
// A(i0+q·mr+r, p0+p). Rows past mc are zero, so the kernel can always run a full tile.
// The optional fast packers (nil when absent) are in f.
func packA(dst []float32, a view, i0, mc, p0, kc, mr int, f packers) {
	for q := 0; q*mr < mc; q++ {
		panel := dst[q*kc*mr : (q+1)*kc*mr]
		rows := min(mr, mc-q*mr)
		base := (i0+q*mr)*a.rs + p0*a.cs
		if a.rs == 1 {
			// Transposed storage: the mr values of one step are contiguous.
			if f.copy != nil && mr <= 32 {
				f.copy(panel, a.data[base:], a.cs, kc, mr, rows, mr)
				continue
			}
			for p := 0; p < kc; p++ {
				src := a.data[base+p*a.cs:]
				step := panel[p*mr : p*mr+mr]
				copy(step, src[:rows])
				clear(step[rows:])
			}
			continue
		}
		// Row-major storage (cs == 1): gather each step's column, or walk each row and scatter
		// with stride mr.
		if mr <= 16 && canGather(f.gather, a.rs) {
			done := 0
			if f.transpose != nil && rows == mr && (mr == 14 || mr == 16) {
				done = kc / 16 * 16
				f.transpose(panel, a.data[base:], a.rs, done/16, mr, mr)
			}
			if done < kc {
				f.gather(panel[done*mr:], a.data[base+done:], a.rs, kc-done, mr, rows, mr)
			}
			continue
		}
		for r := 0; r < rows; r++ {
			src := a.data[base+r*a.rs : base+r*a.rs+kc]
			for p, v := range src {
				panel[p*mr+r] = v
			}
		}
		for r := rows; r < mr; r++ {
			for p := 0; p < kc; p++ {
				panel[p*mr+r] = 0
			}
		}
	}
}

// packB copies the kc×nc block of op(B) starting at (p0, j0) into dst as ⌈nc/nr⌉ panels of nr
// columns: dst[q·kc·nr + p·nr + j] = B(p0+p, j0+q·nr+j), zero past column nc. Only panels
// [q0, q1) are written, so several goroutines can share the work. The optional fast packers
// (nil when absent) are in f.
func packB(dst []float32, b view, p0, kc, j0, nc, nr, q0, q1 int, f packers) {
	for q := q0; q < q1; q++ {
		panel := dst[q*kc*nr : (q+1)*kc*nr]
		cols := min(nr, nc-q*nr)
		base := p0*b.rs + (j0+q*nr)*b.cs
		if b.cs == 1 {
			// Row-major storage: each step is a contiguous run of cols values.
			if f.copy != nil && nr <= 32 {
				f.copy(panel, b.data[base:], b.rs, kc, nr, cols, nr)
				continue
			}
			for p := 0; p < kc; p++ {
				src := b.data[base+p*b.rs:]
				step := panel[p*nr : p*nr+nr]
				copy(step, src[:cols])
				clear(step[cols:])
			}
			continue
		}
		// Transposed storage (rs == 1): gather 16 columns at a time, or walk each column and
		// scatter with stride nr.
		if nr%16 == 0 && canGather(f.gather, b.cs) {
			for j := 0; j < nr; j += 16 {
				if j < cols {
					src, done := b.data[base+j*b.cs:], 0
					if f.transpose != nil && cols-j >= 16 {
						done = kc / 16 * 16
						f.transpose(panel[j:], src, b.cs, done/16, 16, nr)
					}
					if done < kc {
						f.gather(panel[done*nr+j:], src[done:], b.cs, kc-done, nr, min(16, cols-j), 16)
					}
					continue
				}
				for p := 0; p < kc; p++ {
					clear(panel[p*nr+j : p*nr+j+16])
				}
			}
			continue
		}
		for j := 0; j < cols; j++ {
			src := b.data[base+j*b.cs : base+j*b.cs+kc]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
		for j := cols; j < nr; j++ {
			for p := 0; p < kc; p++ {
				panel[p*nr+j] = 0
			}
		}
	}
}
