package tensor

import (
	"math"
	"testing"
)

// Benchmarks of the CPU backend on model-sized problems. Memory-bound primitives report bytes
// moved (b.SetBytes, so go test prints MB/s); compute-bound ones report GFLOP/s.

func benchStorage(n int) Storage {
	s := CPU().Alloc(n, Float32)
	d := cpuData(s)
	for i := range d {
		d[i] = float32(math.Sin(float64(i) * 0.7))
	}
	return s
}

func reportGFLOPs(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkCPUBinaryAdd(b *testing.B) {
	const n = 1 << 22
	x, y, z := benchStorage(n), benchStorage(n), benchStorage(n)
	shape := [4]int{1, 1, 1, n}
	st := Strides4{0, 0, 0, 1}
	b.SetBytes(3 * 4 * n)
	for b.Loop() {
		CPU().Binary(OpAdd, z, x, st, y, st, shape)
	}
}

func BenchmarkCPUUnaryGELU(b *testing.B) {
	const n = 1 << 22
	x, y := benchStorage(n), benchStorage(n)
	b.SetBytes(2 * 4 * n)
	for b.Loop() {
		CPU().Unary(OpGELU, y, x, 0)
	}
}

func BenchmarkCPUSoftmax(b *testing.B) {
	const rows, cols = 2048, 1024
	x, y := benchStorage(rows*cols), benchStorage(rows*cols)
	b.SetBytes(2 * 4 * rows * cols)
	for b.Loop() {
		CPU().Softmax(y, x, rows, cols)
	}
}

func BenchmarkCPULayerNorm(b *testing.B) {
	const rows, cols = 4096, 1024
	x, y, w, bias := benchStorage(rows*cols), benchStorage(rows*cols), benchStorage(cols), benchStorage(cols)
	mean, rstd := benchStorage(rows), benchStorage(rows)
	b.SetBytes(2 * 4 * rows * cols)
	for b.Loop() {
		CPU().LayerNorm(y, mean, rstd, x, w, bias, rows, cols, 1e-5)
	}
}

// BenchmarkCPUAdamW: one optimizer step over 4 Mi parameters (the 9.3 M-parameter model has
// 9.3 Mi), with weight decay.
func BenchmarkCPUAdamW(b *testing.B) {
	const n = 1 << 22
	p, g, m := benchStorage(n), benchStorage(n), benchStorage(n)
	v := CPU().Alloc(n, Float32)
	for i, x := range cpuData(g) {
		cpuData(v)[i] = x * x // a second moment is never negative
	}
	a := AdamWArgs{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 10, GradScale: 1}
	b.SetBytes(7 * 4 * n) // reads p, g, m, v; writes p, m, v
	for b.Loop() {
		CPU().AdamW(p, g, m, v, a)
	}
}

func BenchmarkCPUMatMul512(b *testing.B) {
	const n = 512
	x, y, z := benchStorage(n*n), benchStorage(n*n), benchStorage(n*n)
	args := MatMulArgs{Batch: 1, M: n, N: n, K: n, Alpha: 1}
	for b.Loop() {
		CPU().MatMul(z, x, y, args)
	}
	reportGFLOPs(b, 2*n*n*n)
}

func benchAttention(b *testing.B, backward bool) {
	a := AttnArgs{B: 2, H: 8, Lq: 1024, Lk: 1024, Dh: 64, Scale: 0.125}
	nq := a.B * a.H * a.Lq * a.Dh
	q, k, v, out, dout := benchStorage(nq), benchStorage(nq), benchStorage(nq), benchStorage(nq), benchStorage(nq)
	lse := benchStorage(a.B * a.H * a.Lq)
	dq, dk, dv := benchStorage(nq), benchStorage(nq), benchStorage(nq)
	CPU().Attention(out, lse, q, k, v, nil, a)
	flops := 4.0 * float64(a.B*a.H*a.Lq*a.Lk*a.Dh) // two GEMMs forward
	for b.Loop() {
		if backward {
			CPU().AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, nil, a)
		} else {
			CPU().Attention(out, lse, q, k, v, nil, a)
		}
	}
	if backward {
		flops *= 2.5 // five GEMMs of the same size
	}
	reportGFLOPs(b, flops)
}

func BenchmarkCPUAttention(b *testing.B)         { benchAttention(b, false) }
func BenchmarkCPUAttentionBackward(b *testing.B) { benchAttention(b, true) }

// BenchmarkCPULinearBias is one Linear of the 9.3 M model's image stream (512 tokens of width
// 192 to the 4× MLP width) with its bias, the way tensor.Linear runs it on this backend (bias
// added by the GEMM's epilogue, "fused") beside the composition it replaced (the product into
// a fresh output, then Add into another).
func BenchmarkCPULinearBias(b *testing.B) {
	const rows, in, out = 512, 192, 768
	x, w, bias := FromStorage(benchStorage(rows*in), rows, in), FromStorage(benchStorage(out*in), out, in), FromStorage(benchStorage(out), out)
	reportEach := func(b *testing.B) { reportGFLOPs(b, 2*rows*in*out) }
	b.Run("fused", func(b *testing.B) {
		for b.Loop() {
			Linear(x, w, bias)
		}
		reportEach(b)
	})
	b.Run("matmul+add", func(b *testing.B) {
		for b.Loop() {
			Add(MatMulT(x, w, false, true), bias)
		}
		reportEach(b)
	})
}
