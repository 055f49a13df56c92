//go:build cuda

package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/tensor"
)

// The kernels under test: each with a small problem checked against the CPU twin and a large
// one to time.

// data returns n fixed pseudo-random normals for the given seed.
func data(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 99))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func put(be tensor.Backend, v []float32) tensor.Storage {
	s := be.Alloc(len(v), tensor.Float32)
	be.Upload(s, v)
	return s
}

func get(be tensor.Backend, ss ...tensor.Storage) []float32 {
	var out []float32
	for _, s := range ss {
		v := make([]float32, s.Len())
		be.Download(v, s)
		out = append(out, v...)
	}
	return out
}

// random fills a large device buffer without a host round trip.
func random(g *cuda.Backend, n int, seed uint64) tensor.Storage {
	s := g.Alloc(n, tensor.Float32)
	g.RandNormal(s, seed, 0)
	return s
}

// gemmCase multiplies with precision prec; bf16 uses BFloat16 storages on the device (the CPU
// twin gets the same bf16-rounded values as float32). The check runs a 200×264×320 product.
func gemmCase(name string, prec cuda.Precision, ta, tb bool, m, n, k int) kcase {
	return gemmCaseChecked(name, prec, ta, tb, m, n, k, [3]int{200, 264, 320}, false)
}

// The SD3.5-Medium linear layers: M = batch·1357 tokens (the joint sequence at 512²) for batch
// 2 and 8, and the three weight shapes out×in of a block (1536×1536 for q, k, v and the output
// projection, 6144×1536 the MLP up, 1536×6144 the MLP down), each in the three products of
// training: the forward y = x·Wᵀ (nt, M×out×in), the input gradient dx = dy·W (nn, M×in×out)
// and the weight gradient dW = dyᵀ·x (tn, out×in×M). Their check is a 2714×1536×64 product in
// the row's layout: 132 blocks of 128×256, so on an A100/H100/H200 it takes the large-tile
// kernel (ragged in M) as the timed shapes mostly do. The "fwd+b" rows are the forward with the
// bias of tensor.Linear (MatMulBias; PyTorch: F.linear with bias).
func sd35Cases() []kcase {
	var cs []kcase
	for _, batch := range []int{2, 8} {
		tokens := batch * 1357
		for _, w := range [][2]int{{1536, 1536}, {6144, 1536}, {1536, 6144}} {
			out, in := w[0], w[1]
			chk := [3]int{2714, 1536, 64}
			cs = append(cs,
				gemmCaseChecked("gemm_bf16 sd35 fwd", cuda.BF16, false, true, tokens, out, in, chk, false),
				gemmCaseChecked("gemm_bf16 sd35 fwd+b", cuda.BF16, false, true, tokens, out, in, chk, true),
				gemmCaseChecked("gemm_bf16 sd35 dx", cuda.BF16, false, false, tokens, in, out, chk, false),
				gemmCaseChecked("gemm_bf16 sd35 dw", cuda.BF16, true, false, out, in, tokens, chk, false))
		}
	}
	return cs
}

// gemmCaseChecked is gemmCase with the check's m, n, k given, and with a bias row added
// through MatMulBias when bias is set (the CPU twin adds it after MatMul).
func gemmCaseChecked(name string, prec cuda.Precision, ta, tb bool, m, n, k int, chk [3]int, bias bool) kcase {
	args := func(m, n, k int) tensor.MatMulArgs {
		return tensor.MatMulArgs{Batch: 1, M: m, N: n, K: k, TransA: ta, TransB: tb, Alpha: 1}
	}
	return kcase{
		name: name, peak: prec,
		tol: map[cuda.Precision]float64{cuda.FP32: 1e-5, cuda.TF32: 5e-3, cuda.BF16: 1e-4}[prec],
		check: func(be tensor.Backend, gpu bool) []float32 {
			m, n, k := chk[0], chk[1], chk[2]
			a, b := data(1, m*k), data(2, k*n)
			dt := tensor.Float32
			if prec == cuda.BF16 {
				if gpu {
					dt = tensor.BFloat16
				} else {
					a, b = bf16(a), bf16(b)
				}
			}
			as, bs := be.Alloc(m*k, dt), be.Alloc(k*n, dt)
			be.Upload(as, a)
			be.Upload(bs, b)
			c := be.Alloc(m*n, tensor.Float32)
			if g, ok := be.(*cuda.Backend); ok {
				g.SetMatMul(prec)
				defer g.SetMatMul(cuda.FP32)
			}
			if !bias {
				be.MatMul(c, as, bs, args(m, n, k))
				return get(be, c)
			}
			bv := data(4, n)
			if g, ok := be.(*cuda.Backend); ok {
				g.MatMulBias(c, as, bs, put(g, bv), args(m, n, k))
				return get(g, c)
			}
			be.MatMul(c, as, bs, args(m, n, k))
			out := get(be, c)
			for i := range out {
				out[i] += bv[i%n]
			}
			return out
		},
		bench: func(g *cuda.Backend, quick bool) (func(), float64, float64, string) {
			if quick {
				m, n, k = m/4, n/4, k/4
			}
			dt := tensor.Float32
			if prec == cuda.BF16 {
				dt = tensor.BFloat16
			}
			a, b, c := g.Alloc(m*k, dt), g.Alloc(k*n, dt), g.Alloc(m*n, tensor.Float32)
			g.RandNormal(c, 3, 0)
			a32, b32 := random(g, m*k, 1), random(g, k*n, 2)
			if dt == tensor.BFloat16 { // fill the bf16 operands through a bf16-output copy of random data
				g.Upload(a, get(g, a32))
				g.Upload(b, get(g, b32))
			} else {
				a, b = a32, b32
			}
			bv := random(g, n, 4)
			run := func() {
				g.SetMatMul(prec)
				if bias {
					g.MatMulBias(c, a, b, bv, args(m, n, k))
				} else {
					g.MatMul(c, a, b, args(m, n, k))
				}
				g.SetMatMul(cuda.FP32)
			}
			return run, 2 * float64(m) * float64(n) * float64(k), 0, fmt.Sprintf("%s %s", shapeOf(m, n, k), layoutName(ta, tb))
		},
	}
}

func layoutName(ta, tb bool) string {
	s := []byte("nn")
	if ta {
		s[0] = 't'
	}
	if tb {
		s[1] = 't'
	}
	return string(s)
}

func bf16(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		u := math.Float32bits(x)
		u += 0x7fff + (u>>16)&1
		out[i] = math.Float32frombits(u &^ 0xffff)
	}
	return out
}

func attnCase(backward bool, L int) kcase {
	name := "attention_fwd"
	if backward {
		name = "attention_bwd"
	}
	run := func(be tensor.Backend, a tensor.AttnArgs, q, k, v, mask, o, lse, dout, dq, dk, dv tensor.Storage) {
		be.Attention(o, lse, q, k, v, mask, a)
		if backward {
			be.AttentionBackward(dq, dk, dv, dout, q, k, v, o, lse, mask, a)
		}
	}
	return kcase{
		name: fmt.Sprintf("%s L=%d", name, L), peak: cuda.FP32, tol: 2e-5,
		check: func(be tensor.Backend, gpu bool) []float32 {
			a := tensor.AttnArgs{B: 2, H: 2, Lq: 100, Lk: 77, Dh: 64, Scale: 0.125}
			nq, nk := a.B*a.H*a.Lq*a.Dh, a.B*a.H*a.Lk*a.Dh
			mask := make([]float32, a.B*a.Lk)
			for i := range mask {
				if i%5 == 3 {
					mask[i] = -1e9
				}
			}
			q, k, v, m := put(be, data(4, nq)), put(be, data(5, nk)), put(be, data(6, nk)), put(be, mask)
			o, lse, dout := be.Alloc(nq, tensor.Float32), be.Alloc(a.B*a.H*a.Lq, tensor.Float32), put(be, data(7, nq))
			dq, dk, dv := be.Alloc(nq, tensor.Float32), be.Alloc(nk, tensor.Float32), be.Alloc(nk, tensor.Float32)
			run(be, a, q, k, v, m, o, lse, dout, dq, dk, dv)
			if backward {
				return get(be, dq, dk, dv)
			}
			return get(be, o, lse)
		},
		bench: func(g *cuda.Backend, quick bool) (func(), float64, float64, string) {
			a := tensor.AttnArgs{B: 2, H: 8, Lq: L, Lk: L, Dh: 64, Scale: 0.125}
			n := a.B * a.H * L * a.Dh
			q, k, v, dout := random(g, n, 1), random(g, n, 2), random(g, n, 3), random(g, n, 4)
			o, lse := g.Alloc(n, tensor.Float32), g.Alloc(a.B*a.H*L, tensor.Float32)
			g.Attention(o, lse, q, k, v, nil, a)
			dq, dk, dv := g.Alloc(n, tensor.Float32), g.Alloc(n, tensor.Float32), g.Alloc(n, tensor.Float32)
			fwd := 4 * float64(a.B*a.H) * float64(L) * float64(L) * float64(a.Dh)
			f := func() { g.Attention(o, lse, q, k, v, nil, a) }
			flops := fwd
			if backward { // FLOPs counted as PyTorch/FlashAttention count them: 2.5× the forward
				f = func() { g.AttentionBackward(dq, dk, dv, dout, q, k, v, o, lse, nil, a) }
				flops = 2.5 * fwd
			}
			return f, flops, 0, fmt.Sprintf("B2 H8 L%d Dh64", L)
		},
	}
}

// attnBF16Case is the tensor-core attention (Options.Attention = BF16; the time includes
// rounding the inputs to bf16), checked against the fp32 CPU twin at bf16 tolerance.
func attnBF16Case(backward bool, L int) kcase {
	c := attnCase(backward, L)
	c.name, c.peak, c.tol = strings.Replace(c.name, "attention_", "attention_bf16_", 1), cuda.BF16, 3e-2
	check, bench := c.check, c.bench
	c.check = func(be tensor.Backend, gpu bool) []float32 {
		if g, ok := be.(*cuda.Backend); ok {
			g.SetAttention(cuda.BF16)
			defer g.SetAttention(cuda.FP32)
		}
		return check(be, gpu)
	}
	c.bench = func(g *cuda.Backend, quick bool) (func(), float64, float64, string) {
		g.SetAttention(cuda.BF16)
		run, flops, bytes, shape := bench(g, quick)
		return func() { g.SetAttention(cuda.BF16); run() }, flops, bytes, shape
	}
	return c
}

// stream is a memory-bound case: check on n=100352 elements (98 rows of 1024), time on 64M
// (16M with -quick). setup receives the inputs (fixed normals), allocates what the op writes and
// returns the op (which must not allocate: allocation zero-fills) and its outputs.
func stream(name string, bytesPerElem float64, tol float64, inputs int,
	setup func(be tensor.Backend, n int, in []tensor.Storage) (run func(), outs []tensor.Storage)) kcase {
	return kcase{
		name: name, tol: tol,
		check: func(be tensor.Backend, gpu bool) []float32 {
			const n = 100352
			in := make([]tensor.Storage, inputs)
			for i := range in {
				in[i] = put(be, data(uint64(10+i), n))
			}
			run, outs := setup(be, n, in)
			run()
			return get(be, outs...)
		},
		bench: func(g *cuda.Backend, quick bool) (func(), float64, float64, string) {
			n := 1 << 26
			if quick {
				n = 1 << 24
			}
			in := make([]tensor.Storage, inputs)
			for i := range in {
				in[i] = random(g, n, uint64(i))
			}
			run, _ := setup(g, n, in)
			return run, 0, bytesPerElem * float64(n), shapeOf(n)
		},
	}
}

func cases() []kcase {
	cs := []kcase{
		gemmCase("gemm_bf16", cuda.BF16, false, false, 4096, 4096, 4096),
		gemmCase("gemm_bf16", cuda.BF16, false, true, 4096, 4096, 4096),
		gemmCase("gemm_bf16", cuda.BF16, true, false, 4096, 4096, 4096),
		gemmCase("gemm_bf16 qkv", cuda.BF16, false, true, 8192, 2304, 768),
		gemmCase("gemm_bf16 mlp-up", cuda.BF16, false, true, 8192, 3072, 768),
		gemmCase("gemm_bf16 mlp-down", cuda.BF16, false, true, 8192, 768, 3072),
		gemmCase("gemm_tf32", cuda.TF32, false, false, 4096, 4096, 4096),
		gemmCase("gemm_f32", cuda.FP32, false, false, 4096, 4096, 4096),
	}
	cs = append(cs, sd35Cases()...)
	for _, L := range []int{256, 1024, 1357, 4096} {
		cs = append(cs, attnCase(false, L), attnCase(true, L))
	}
	for _, L := range []int{1357, 4096} {
		cs = append(cs, attnBF16Case(false, L), attnBF16Case(true, L))
	}
	f32 := func(be tensor.Backend, n int) tensor.Storage { return be.Alloc(n, tensor.Float32) }
	sde := tensor.SDEArgs{Kind: tensor.SDEFlow, Batch: 16, Sigma: 0.8, SigmaNext: 0.7, ST: 0.7}
	adam := tensor.AdamWArgs{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 3, GradScale: 0.5}
	const rowLen = 1024
	outs := func(s ...tensor.Storage) []tensor.Storage { return s }
	cs = append(cs,
		stream("axpby (Euler ODE)", 12, 1e-6, 2, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			y := f32(be, n)
			return func() { be.Axpby(y, 1, in[0], -0.1, in[1]) }, outs(y)
		}),
		stream("adamw", 28, 1e-6, 4, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			be.Unary(tensor.OpSquare, in[3], in[3], 0) // the second moment is never negative
			return func() { be.AdamW(in[0], in[1], in[2], in[3], adam) }, outs(in[0], in[2], in[3])
		}),
		stream("sde_step (Euler–Maruyama)", 16, 1e-5, 3, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			a := sde
			a.Dim = n / a.Batch
			xn, lp := f32(be, n), f32(be, a.Batch)
			return func() { tensor.Fused(be).SDEStep(xn, lp, in[0], in[1], in[2], a) }, outs(xn, lp)
		}),
		stream("sde_step_backward", 16, 1e-5, 3, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			a := sde
			a.Dim = n / a.Batch
			dv, dl := f32(be, n), f32(be, a.Batch)
			be.Fill(dl, 0.3)
			return func() { tensor.Fused(be).SDEStepBackward(dv, dl, in[0], in[1], in[2], a) }, outs(dv)
		}),
		stream("sqerr (velocity loss)", 8, 1e-5, 2, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			e := f32(be, 16)
			return func() { tensor.Fused(be).SqErr(e, in[0], in[1], 16, n/16) }, outs(e)
		}),
		stream("softmax", 8, 1e-5, 1, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			y := f32(be, n)
			return func() { be.Softmax(y, in[0], n/rowLen, rowLen) }, outs(y)
		}),
		stream("layernorm", 8, 1e-5, 1, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			rows := n / rowLen
			y, m, r := f32(be, n), f32(be, rows), f32(be, rows)
			return func() { be.LayerNorm(y, m, r, in[0], nil, nil, rows, rowLen, 1e-6) }, outs(y, m, r)
		}),
		stream("rmsnorm_backward", 12, 1e-4, 2, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			rows := n / rowLen
			y, r, dx := f32(be, n), f32(be, rows), f32(be, n)
			be.RMSNorm(y, r, in[0], nil, rows, rowLen, 1e-6)
			return func() { be.RMSNormBackward(dx, nil, in[1], in[0], r, nil, rows, rowLen) }, outs(dx)
		}),
		stream("sum_squares (grad norm)", 4, 1e-6, 1, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			s := f32(be, 1)
			var v float64
			return func() { v = be.SumSquares(in[0]); be.Fill(s, float32(v)) }, outs(s)
		}),
		stream("rand_normal (Philox)", 4, 1e-6, 1, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			return func() { be.RandNormal(in[0], 7, 1<<33) }, outs(in[0])
		}),
		stream("sum (column sums)", 4, 1e-5, 1, func(be tensor.Backend, n int, in []tensor.Storage) (func(), []tensor.Storage) {
			s := f32(be, rowLen)
			return func() { be.Sum(s, in[0], 1, n/rowLen, rowLen) }, outs(s)
		}),
	)
	return append(cs, imageCases()...)
}
