package tensor_test

import (
	"math/rand/v2"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// Matmul throughput of the CPU backend, in GFLOP/s (2·M·N·K per product). The shapes match
// BenchmarkSgemm in tensor/internal/gemm and tensor/bench_matmul_ref.py, which measures
// OpenBLAS (through NumPy) on the same shapes and thread count; tensor/bench_matmul.sh runs
// both and prints the ratio.

// BenchmarkMatMul512 is the yardstick: one 512×512×512 product.
func BenchmarkMatMul512(b *testing.B) {
	benchMatMul(b, tensor.MatMulArgs{Batch: 1, M: 512, N: 512, K: 512})
}

// BenchmarkMatMulModel runs the model's typical products: token×width activations against
// square, expanding and contracting weights (forward, and the transposed-operand products of
// the backward pass), and batched attention-sized products.
func BenchmarkMatMulModel(b *testing.B) {
	shapes := []struct {
		name string
		args tensor.MatMulArgs
	}{
		{"M4096_K256_N256", tensor.MatMulArgs{Batch: 1, M: 4096, K: 256, N: 256}},
		{"M4096_K256_N1024", tensor.MatMulArgs{Batch: 1, M: 4096, K: 256, N: 1024}},
		{"M4096_K1024_N256", tensor.MatMulArgs{Batch: 1, M: 4096, K: 1024, N: 256}},
		{"M4096_K256_N256_TransB", tensor.MatMulArgs{Batch: 1, M: 4096, K: 256, N: 256, TransB: true}},
		{"M256_K4096_N256_TransA", tensor.MatMulArgs{Batch: 1, M: 256, K: 4096, N: 256, TransA: true}},
		{"batch32_M64_K64_N256", tensor.MatMulArgs{Batch: 32, M: 64, K: 64, N: 256}},
		{"batch32_M64_K256_N64_TransB", tensor.MatMulArgs{Batch: 32, M: 64, K: 256, N: 64, TransB: true}},
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) { benchMatMul(b, s.args) })
	}
}

// benchMatMul times cpu.MatMul on densely packed batches (C overwritten: Beta = 0).
func benchMatMul(b *testing.B, p tensor.MatMulArgs) {
	cpu := tensor.CPU()
	p.Alpha = 1
	p.StrideA, p.StrideB, p.StrideC = p.M*p.K, p.K*p.N, p.M*p.N
	rng := rand.New(rand.NewPCG(1, 2))
	upload := func(n int) tensor.Storage {
		x := make([]float32, n)
		for i := range x {
			x[i] = 2*rng.Float32() - 1
		}
		s := cpu.Alloc(n, tensor.Float32)
		cpu.Upload(s, x)
		return s
	}
	a, bm := upload(p.Batch*p.StrideA), upload(p.Batch*p.StrideB)
	c := cpu.Alloc(p.Batch*p.StrideC, tensor.Float32)
	cpu.MatMul(c, a, bm, p) // warm the packing buffers
	b.ResetTimer()
	for b.Loop() {
		cpu.MatMul(c, a, bm, p)
	}
	flops := 2 * float64(p.Batch) * float64(p.M) * float64(p.N) * float64(p.K)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
