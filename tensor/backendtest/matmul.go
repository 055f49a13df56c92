package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// MatMul against a float64 triple loop, for all four transpose combinations, with alpha/beta,
// offsets, batch strides (0 shares one matrix across the batch, larger strides leave gaps) and
// sizes that are not multiples of any tile. The tolerance scales with √K and the magnitude of
// the products (not of the result, which may cancel).

type mmCase struct {
	name        string
	batch       int
	m, n, k     int
	alpha, beta float32
	shareA      bool // StrideA = 0
	shareB      bool // StrideB = 0
	gap         int  // extra elements between batch entries and before each matrix (offsets)
}

func mmCases() []mmCase {
	return []mmCase{
		{name: "1x1x1", batch: 1, m: 1, n: 1, k: 1, alpha: 1},
		{name: "31x17x65", batch: 1, m: 31, n: 17, k: 65, alpha: 1},
		{name: "128x256x64", batch: 1, m: 128, n: 256, k: 64, alpha: 1},
		{name: "33x1x257/alpha-beta", batch: 1, m: 33, n: 1, k: 257, alpha: 0.5, beta: -1.5},
		{name: "1x1025x3/beta=1", batch: 1, m: 1, n: 1025, k: 3, alpha: 2, beta: 1},
		{name: "batch3/7x5x9/offsets", batch: 3, m: 7, n: 5, k: 9, alpha: 1, gap: 3},
		{name: "batch4/shared-A/17x33x31", batch: 4, m: 17, n: 33, k: 31, alpha: 1, shareA: true, gap: 1},
		{name: "batch5/shared-B/65x31x33/beta", batch: 5, m: 65, n: 31, k: 33, alpha: -0.75, beta: 0.25, shareB: true},
		{name: "batch2/257x33x1025", batch: 2, m: 257, n: 33, k: 1025, alpha: 1},
		{name: "batch64/3x4x5", batch: 64, m: 3, n: 4, k: 5, alpha: 1, beta: 0.5, gap: 2},
		{name: "K=0/beta", batch: 2, m: 3, n: 5, k: 0, alpha: 1, beta: 0.5},
	}
}

func testMatMul(s *suite) {
	for _, c := range mmCases() {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			s.sub(fmt.Sprintf("%s/tA=%v,tB=%v", c.name, tr[0], tr[1]), func(s *suite) {
				s.matmulCase(c, tr[0], tr[1], nil)
			})
		}
	}
}

// testMatMulBias runs the same cases through the optional BiasMatMul extension, which must add
// bias[j] to column j of every batch entry's C after the product (skipped where the backend
// does not have it: tensor.Linear then adds the bias with Add).
func testMatMulBias(s *suite) {
	be, ok := s.b.(tensor.BiasMatMul)
	if !ok {
		s.t.Skipf("%s has no BiasMatMul", s.b.Name())
	}
	for _, c := range mmCases() {
		for _, tr := range [][2]bool{{false, false}, {false, true}} {
			s.sub(fmt.Sprintf("%s/tA=%v,tB=%v", c.name, tr[0], tr[1]), func(s *suite) {
				s.matmulCase(c, tr[0], tr[1], be)
			})
		}
	}
}

// matmulCase runs one case through MatMul, or through be.MatMulBias with a random bias when be
// is not nil.
func (s *suite) matmulCase(c mmCase, tA, tB bool, be tensor.BiasMatMul) {
	sizeA, sizeB, sizeC := c.m*c.k, c.k*c.n, c.m*c.n
	args := tensor.MatMulArgs{
		Batch: c.batch, M: c.m, N: c.n, K: c.k, TransA: tA, TransB: tB, Alpha: c.alpha, Beta: c.beta,
		OffA: c.gap, OffB: 2 * c.gap, OffC: c.gap,
		StrideA: sizeA + c.gap, StrideB: sizeB + c.gap, StrideC: sizeC + c.gap,
	}
	if c.shareA {
		args.StrideA = 0
	}
	if c.shareB {
		args.StrideB = 0
	}
	span := func(off, stride, size int) int { return off + (c.batch-1)*stride + size + c.gap }
	a := s.normal(span(args.OffA, args.StrideA, sizeA), 1)
	b := s.normal(span(args.OffB, args.StrideB, sizeB), 1)
	c0 := s.normal(span(args.OffC, args.StrideC, sizeC), 1)
	var bias []float32
	if be != nil {
		bias = s.normal(c.n, 1)
	}
	if c.beta == 0 {
		// With beta = 0, C is overwritten: NaNs already there must not leak (BLAS convention).
		for i := range c0 {
			c0[i] = float32(math.NaN())
		}
	}

	// Reference: C stays as it was outside the batch matrices; inside, the float64 product.
	ref, mag := f64(c0), make([]float64, len(c0))
	lda, ldb := c.k, c.n
	if tA {
		lda = c.m
	}
	if tB {
		ldb = c.k
	}
	for p := 0; p < c.batch; p++ {
		oa, ob, oc := args.OffA+p*args.StrideA, args.OffB+p*args.StrideB, args.OffC+p*args.StrideC
		for i := 0; i < c.m; i++ {
			for j := 0; j < c.n; j++ {
				var dot, abs float64
				for q := 0; q < c.k; q++ {
					var av, bv float64
					if tA {
						av = float64(a[oa+q*lda+i])
					} else {
						av = float64(a[oa+i*lda+q])
					}
					if tB {
						bv = float64(b[ob+j*ldb+q])
					} else {
						bv = float64(b[ob+q*ldb+j])
					}
					dot += av * bv
					abs += math.Abs(av * bv)
				}
				r := float64(c.alpha) * dot
				m := math.Abs(float64(c.alpha)) * abs
				if c.beta != 0 {
					r += float64(c.beta) * float64(c0[oc+i*c.n+j])
					m += math.Abs(float64(c.beta) * float64(c0[oc+i*c.n+j]))
				}
				if bias != nil {
					r += float64(bias[j])
					m += math.Abs(float64(bias[j]))
				}
				ref[oc+i*c.n+j], mag[oc+i*c.n+j] = r, m
			}
		}
	}
	cs := s.put(c0)
	if be != nil {
		be.MatMulBias(cs, s.put(a), s.put(b), s.put(bias), args)
	} else {
		s.b.MatMul(cs, s.put(a), s.put(b), args)
	}
	tol := s.opt.MatMulTol * math.Sqrt(float64(max(c.k, 1)))
	s.within("MatMul", s.get(cs), ref, func(i int) float64 {
		// Elements outside the matrices (mag 0, ref from c0) must be untouched: NaN stays
		// NaN (within treats NaN = NaN as equal) and any number stays the same number.
		return tol*mag[i] + 1e-7*math.Abs(ref[i])
	})
}
