package gemm

import (
	"math/rand/v2"
	"testing"
)

// TestSgemmBatch checks every product of a batch against sgemmRef run one at a time, for the
// parallel-over-items path (small products), the sequential path (large products), shared
// operands (stride 0) and a shared, accumulated C (strideC 0: beta applies once per product).
func TestSgemmBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	cases := []struct {
		name                   string
		batch, m, n, k         int
		transA, transB         bool
		shareA, shareB, shareC bool
		alpha, beta            float32
	}{
		{name: "small items", batch: 7, m: 17, n: 33, k: 65, alpha: 1, beta: 0},
		{name: "small items transposed", batch: 6, m: 64, n: 64, k: 31, transA: true, transB: true, alpha: 0.5, beta: 1},
		{name: "shared weights", batch: 5, m: 31, n: 100, k: 64, transB: true, shareB: true, alpha: 1, beta: 0.5},
		{name: "shared input", batch: 4, m: 15, n: 7, k: 257, shareA: true, alpha: -1, beta: 0},
		{name: "accumulate into one C", batch: 4, m: 33, n: 17, k: 5, shareC: true, alpha: 1, beta: 0.5},
		{name: "large items", batch: 2, m: 200, n: 150, k: 120, transA: true, alpha: 1, beta: 0.25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ar, ac := tc.m, tc.k
			if tc.transA {
				ar, ac = tc.k, tc.m
			}
			br, bc := tc.k, tc.n
			if tc.transB {
				br, bc = tc.n, tc.k
			}
			lda, ldb, ldc := ac+1, bc+2, tc.n+3
			strideA, strideB, strideC := ar*lda, br*ldb, tc.m*ldc
			if tc.shareA {
				strideA = 0
			}
			if tc.shareB {
				strideB = 0
			}
			if tc.shareC {
				strideC = 0
			}
			items := func(stride int) int { return 1 + (tc.batch-1)*min(stride, 1) }
			a := randMatrix(rng, items(strideA)*ar, ac, lda, 0)
			b := randMatrix(rng, items(strideB)*br, bc, ldb, 0)
			c := randMatrix(rng, items(strideC)*tc.m, tc.n, ldc, -7)
			want := append([]float32(nil), c...)
			for p := range tc.batch {
				sgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a[p*strideA:], lda, b[p*strideB:], ldb, tc.beta, want[p*strideC:], ldc)
			}
			SgemmBatch(tc.transA, tc.transB, tc.batch, tc.m, tc.n, tc.k, tc.alpha, a, lda, strideA, b, ldb, strideB, tc.beta, c, ldc, strideC)
			if msg := compare(c, want, tc.n, ldc, 1e-6*float64(tc.k+1)*float64(tc.batch), 1e-5); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}
