package gemm

import (
	"math/rand/v2"
	"testing"
)

// benchShape is one benchmarked product: C[M×N] = op(A)[M×K]·op(B)[K×N], batched Batch times
// (batched shapes go through SgemmBatch).
type benchShape struct {
	name           string
	batch, m, k, n int
	transA, transB bool
}

// BenchShapes are the products BenchmarkSgemm measures: the 512³ yardstick and the model's
// typical layers (tokens×width times width×width or width×4·width, the MLP down projection,
// attention-sized QKᵀ-like products). tensor/bench_matmul_ref.py measures the same list.
var benchShapes = []benchShape{
	{name: "512x512x512", batch: 1, m: 512, k: 512, n: 512},
	{name: "M4096_K256_N256", batch: 1, m: 4096, k: 256, n: 256},
	{name: "M4096_K256_N1024", batch: 1, m: 4096, k: 256, n: 1024},
	{name: "M4096_K1024_N256", batch: 1, m: 4096, k: 1024, n: 256},
	{name: "M4096_K256_N256_TransB", batch: 1, m: 4096, k: 256, n: 256, transB: true},
	{name: "M256_K4096_N256_TransA", batch: 1, m: 256, k: 4096, n: 256, transA: true},
	{name: "batch32_M64_K64_N256", batch: 32, m: 64, k: 64, n: 256},
	{name: "batch32_M64_K256_N64_TransB", batch: 32, m: 64, k: 256, n: 64, transB: true},
}

// BenchmarkSgemm reports GFLOP/s (2·M·N·K per product) for each shape through the exported
// entry points (default kernel, automatic worker count).
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchSgemm(b, s, nil) })
	}
}

// BenchmarkSgemmKernels compares every kernel this machine has on the 512³ product.
// The kernel argument of benchSgemm (nil: the exported path) only applies to unbatched shapes.
func BenchmarkSgemmKernels(b *testing.B) {
	for _, kern := range kernels {
		b.Run(kern.name, func(b *testing.B) { benchSgemm(b, benchShapes[0], kern) })
	}
}

func benchSgemm(b *testing.B, s benchShape, kern *microKernel) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := randMatrix(rng, s.batch*s.m, s.k, s.k, 0)
	bm := randMatrix(rng, s.batch*s.k, s.n, s.n, 0)
	c := make([]float32, s.batch*s.m*s.n)
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	b.ResetTimer()
	for b.Loop() {
		if kern == nil {
			SgemmBatch(s.transA, s.transB, s.batch, s.m, s.n, s.k, 1, a, lda, s.m*s.k, bm, ldb, s.k*s.n, 0, c, s.n, s.m*s.n)
			continue
		}
		sgemmWith(kern, workersFor(s.m, s.n, s.k), s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
	}
	flops := 2 * float64(s.batch) * float64(s.m) * float64(s.n) * float64(s.k)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
