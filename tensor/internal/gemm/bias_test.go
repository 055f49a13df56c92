package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmBiasIsProductPlusBias checks the bias epilogue against its definition, bit for bit:
// the same product without a bias, then bias[j] added to every row in one float32 addition.
// The tiny-block kernels put several pc slices (so the bias must wait for the last), jc
// blocks and ragged row and column blocks into small shapes; padding must stay untouched.
func TestSgemmBiasIsProductPlusBias(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := [][3]int{{1, 1, 1}, {7, 33, 5}, {31, 17, 40}, {65, 100, 29}, {100, 65, 257}}
	for _, kern := range testKernels() {
		for _, sh := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, sc := range [][2]float32{{1, 0}, {0.75, -1}} {
					for workers := 1; workers <= 3; workers++ {
						p := newProblem(rng, tr[0], tr[1], sh[0], sh[1], sh[2], 3, sc[0], sc[1])
						bias := randMatrix(rng, 1, p.n, p.n, 0)
						want := append([]float32(nil), p.c...)
						sgemmWith(kern, workers, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, want, p.ldc)
						for i := 0; i < p.m; i++ {
							for j := 0; j < p.n; j++ {
								want[i*p.ldc+j] += bias[j]
							}
						}
						got := append([]float32(nil), p.c...)
						sgemmWithBias(kern, workers, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, bias, got, p.ldc)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s workers=%d %v: element (%d,%d) = %g, want %g (product + bias)",
									kern.name, workers, p, i/p.ldc, i%p.ldc, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmBatchBias covers the batch paths (one product after another, products spread
// whole over goroutines, and a shared C that every product updates in order, adding the bias
// each time) and the degenerate k = 0 and alpha = 0 products, which only scale C.
func TestSgemmBatchBias(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const m, n, k = 9, 21, 11
	for _, tc := range []struct {
		name           string
		batch, strideC int
		k              int
		alpha, beta    float32
	}{
		{"separate C", 5, m * n, k, 1, 0},
		{"shared C", 3, 0, k, 1, 1},
		{"k=0", 2, m * n, 0, 1, 0.5},
		{"alpha=0", 2, m * n, k, 0, 2},
	} {
		a := randMatrix(rng, tc.batch*m, max(tc.k, 1), max(tc.k, 1), 0)
		b := randMatrix(rng, tc.batch*max(tc.k, 1), n, n, 0)
		bias := randMatrix(rng, 1, n, n, 0)
		cLen := m * n
		if tc.strideC > 0 {
			cLen = tc.batch * tc.strideC
		}
		c0 := randMatrix(rng, 1, cLen, cLen, 0)
		want := append([]float32(nil), c0...)
		for p := range tc.batch {
			cp := want[p*tc.strideC:]
			sgemmRef(false, false, m, n, tc.k, tc.alpha, a[p*m*tc.k:], max(tc.k, 1), b[p*tc.k*n:], n, tc.beta, cp, n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					cp[i*n+j] += bias[j]
				}
			}
		}
		got := append([]float32(nil), c0...)
		SgemmBatchBias(false, false, tc.batch, m, n, tc.k, tc.alpha, a, max(tc.k, 1), m*tc.k, b, n, tc.k*n, tc.beta, bias, got, n, tc.strideC)
		if msg := compare(got, want, len(want), len(want), 1e-5, 1e-5); msg != "" {
			t.Errorf("%s: %s", tc.name, msg)
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("a bias shorter than n was accepted")
		}
	}()
	c := make([]float32, 4)
	SgemmBatchBias(false, false, 1, 2, 2, 1, 1, c, 1, 0, c, 2, 0, 0, c[:1], c, 2, 0)
}
