package gemm

// view is a strided window on op(X): element (i, j) lives at data[i·rs + j·cs]. A transposed
// operand is just the same data with rs and cs swapped, so packing absorbs the transpose flags.
type view struct {
	data   []float32
	rs, cs int
}

// packA copies the mc×kc block of op(A) starting at (i0, p0) into dst as ⌈mc/mr⌉ panels of
// mr rows. Panel q holds rows i0+q·mr … in "column" order: dst[q·kc·mr + p·mr + r] =
// A(i0+q·mr+r, p0+p). Rows past mc are zero, so the kernel can always run a full tile.
func packA(dst []float32, a view, i0, mc, p0, kc, mr int) {
	for q := 0; q*mr < mc; q++ {
		panel := dst[q*kc*mr : (q+1)*kc*mr]
		rows := min(mr, mc-q*mr)
		base := (i0+q*mr)*a.rs + p0*a.cs
		if a.rs == 1 {
			// Transposed storage: the mr values of one step are contiguous.
			for p := 0; p < kc; p++ {
				src := a.data[base+p*a.cs:]
				step := panel[p*mr : p*mr+mr]
				copy(step, src[:rows])
				clear(step[rows:])
			}
			continue
		}
		// Row-major storage (cs == 1): walk each row and scatter with stride mr.
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
// [q0, q1) are written, so several goroutines can share the work.
func packB(dst []float32, b view, p0, kc, j0, nc, nr, q0, q1 int) {
	for q := q0; q < q1; q++ {
		panel := dst[q*kc*nr : (q+1)*kc*nr]
		cols := min(nr, nc-q*nr)
		base := p0*b.rs + (j0+q*nr)*b.cs
		if b.cs == 1 {
			// Row-major storage: each step is a contiguous run of cols values.
			for p := 0; p < kc; p++ {
				src := b.data[base+p*b.rs:]
				step := panel[p*nr : p*nr+nr]
				copy(step, src[:cols])
				clear(step[cols:])
			}
			continue
		}
		// Transposed storage (rs == 1): walk each column and scatter with stride nr.
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
