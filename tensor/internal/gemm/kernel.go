package gemm

// kernelFunc computes one mr×nr tile of C from packed panels:
//
//	acc[i][j] = Σ_p a[p·mr+i] · b[p·nr+j]   (p < k)
//	c[i·ldc+j] = alpha·acc[i][j] + (loadC ? beta·c[i·ldc+j] : 0)
//
// a holds k·mr floats (packA's layout), b holds k·nr floats (packB's layout) and c at least
// (mr−1)·ldc+nr. With loadC false, C is only written, so whatever it held (NaN included) is
// forgotten. Kernels may assume k ≥ 1.
type kernelFunc func(k int, a, b, c []float32, ldc int, alpha, beta float32, loadC bool)

// microKernel is a kernel plus the cache blocking that suits it: the driver packs kc×nc blocks
// of op(B) (kept in L2/L3) and mc×kc blocks of op(A) (kept in L2), and the kernel streams a kc×nr
// sliver of B̃ from L1 against successive mr×kc slivers of Ã.
type microKernel struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	fn         kernelFunc
	packers
}

// packers are optional machine-specific helpers for packA and packB; nil ones fall back to Go.
type packers struct {
	gather    gatherFunc    // strided operands
	transpose transposeFunc // strided operands, full panels (used together with gather)
	copy      copyFunc      // contiguous runs
}

// goKernel is the portable micro-kernel: a 4×4 tile in sixteen scalar accumulators.
var goKernel = &microKernel{name: "go-4x4", mr: 4, nr: 4, kc: 256, mc: 128, nc: 1024, fn: kernel4x4}

func kernel4x4(k int, a, b, c []float32, ldc int, alpha, beta float32, loadC bool) {
	var (
		c00, c01, c02, c03 float32
		c10, c11, c12, c13 float32
		c20, c21, c22, c23 float32
		c30, c31, c32, c33 float32
	)
	a, b = a[:4*k], b[:4*k]
	for p := 0; p+4 <= len(a); p += 4 {
		av, bv := a[p:p+4:p+4], b[p:p+4:p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00, c01, c02, c03 = c00+a0*b0, c01+a0*b1, c02+a0*b2, c03+a0*b3
		c10, c11, c12, c13 = c10+a1*b0, c11+a1*b1, c12+a1*b2, c13+a1*b3
		c20, c21, c22, c23 = c20+a2*b0, c21+a2*b1, c22+a2*b2, c23+a2*b3
		c30, c31, c32, c33 = c30+a3*b0, c31+a3*b1, c32+a3*b2, c33+a3*b3
	}
	rows := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	for i := range rows {
		out := c[i*ldc : i*ldc+4 : i*ldc+4]
		for j, acc := range rows[i] {
			if loadC {
				out[j] = alpha*acc + beta*out[j]
			} else {
				out[j] = alpha * acc
			}
		}
	}
}
