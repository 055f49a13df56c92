//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// TestGemmBF16BigTile runs the swizzled bf16 GEMMs, 128×256 and 128×128 (forced, whatever the
// size rule would pick), against the CPU backend on the same bf16-rounded inputs, in every
// layout: one exact tile,
// ragged M, N and K edges (partial tiles and a partial last k-slice), a K shorter than one
// slice, batched entries with offsets and gaps, a shared B, and the accumulate-over-batch mode
// (StrideC = 0, β between entries). C starts as NaN wherever β = 0 (must not leak) and keeps
// its values outside the matrices. The shapes stay within a few tiles: the emulator runs each
// CUDA thread as a fiber.
func TestGemmBF16BigTile(t *testing.T) {
	b := need(t)
	cpu := tensor.CPU()
	r := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name          string
		batch         int
		m, n, k       int
		alpha, beta   float32
		gap           int // elements before each operand and between batch entries (multiple of 8)
		shareB, accum bool
		bias          bool // through MatMulBias: + bias[j] in the epilogue
	}{
		{name: "one-tile", batch: 1, m: 128, n: 256, k: 128, alpha: 1},
		{name: "ragged", batch: 1, m: 200, n: 264, k: 136, alpha: 0.5, beta: 0.25},
		{name: "short-k", batch: 1, m: 40, n: 24, k: 8, alpha: -1, beta: 1},
		{name: "batched", batch: 3, m: 72, n: 136, k: 64, alpha: 0.75, beta: -0.5, gap: 8},
		{name: "shared-B", batch: 2, m: 136, n: 40, k: 72, alpha: 1, shareB: true, gap: 16},
		{name: "accum", batch: 3, m: 128, n: 256, k: 40, alpha: 0.5, beta: 0.5, accum: true},
		{name: "bias", batch: 1, m: 136, n: 264, k: 64, alpha: 1, bias: true},
		{name: "bias-batched", batch: 2, m: 24, n: 40, k: 16, alpha: 0.5, beta: 0.5, gap: 8, bias: true},
		{name: "bias-accum", batch: 2, m: 24, n: 40, k: 16, alpha: 1, beta: 1, accum: true, bias: true},
	}
	for _, c := range cases {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, tile := range []bf16Tile{tileBig, tileMid} {
				name := fmt.Sprintf("%s/%dx%dx%d/%s/%s", c.name, c.m, c.n, c.k, layout(tr[0], tr[1]),
					map[bf16Tile]string{tileBig: "128x256", tileMid: "128x128"}[tile])
				t.Run(name, func(t *testing.T) {
					sa, sb, sc := c.m*c.k, c.k*c.n, c.m*c.n
					args := tensor.MatMulArgs{Batch: c.batch, M: c.m, N: c.n, K: c.k, TransA: tr[0], TransB: tr[1],
						Alpha: c.alpha, Beta: c.beta, OffA: c.gap, OffB: 2 * c.gap, OffC: c.gap,
						StrideA: sa + c.gap, StrideB: sb + c.gap, StrideC: sc + c.gap}
					if c.shareB {
						args.StrideB = 0
					}
					if c.accum {
						args.StrideC = 0
					}
					span := func(off, stride, size int) int { return off + (c.batch-1)*stride + size + c.gap }
					a := roundBF16(randn(r, span(args.OffA, args.StrideA, sa)))
					bb := roundBF16(randn(r, span(args.OffB, args.StrideB, sb)))
					c0 := randn(r, span(args.OffC, args.StrideC, sc))
					if c.beta == 0 {
						for i := range c0 {
							if i >= args.OffC && (i-args.OffC)%(sc+c.gap) < sc {
								c0[i] = float32(math.NaN())
							}
						}
					}
					cc := put(cpu, c0, tensor.Float32)
					cpu.MatMul(cc, put(cpu, a, tensor.Float32), put(cpu, bb, tensor.Float32), args)
					var bias *buffer
					if c.bias {
						bv := randn(r, c.n)
						bias = put(b, bv, tensor.Float32).(*buffer)
						cc = put(cpu, addBias(get(cpu, cc), bv, args), tensor.Float32)
					}
					gc := put(b, c0, tensor.Float32)
					b.matMul(gc, put(b, a, tensor.BFloat16), put(b, bb, tensor.BFloat16), bias, args, tile)
					closeTo(t, name, get(b, gc), get(cpu, cc), 2e-5)
				})
			}
		}
	}
}

// addBias adds bias[j] to column j of every C_p of args in c (once when the batch accumulates).
func addBias(c, bias []float32, args tensor.MatMulArgs) []float32 {
	entries := args.Batch
	if args.StrideC == 0 {
		entries = 1
	}
	for p := 0; p < entries; p++ {
		for i := 0; i < args.M; i++ {
			for j := 0; j < args.N; j++ {
				c[args.OffC+p*args.StrideC+i*args.N+j] += bias[j]
			}
		}
	}
	return c
}

// TestGemmBF16Bias runs MatMulBias through the kernels without a bias epilogue (the 128×128
// bf16 kernel, aligned and not, and the fp32 one), which add the bias afterwards with
// add_bias_f32, and through the automatic choice; against the CPU product plus the bias.
func TestGemmBF16Bias(t *testing.T) {
	b := need(t)
	cpu := tensor.CPU()
	r := rand.New(rand.NewPCG(13, 14))
	for _, c := range []struct {
		name    string
		prec    Precision
		tile    bf16Tile
		m, n, k int
	}{
		{"bf16-small", BF16, tileSmall, 40, 136, 24},
		{"bf16-unaligned", BF16, tileAuto, 33, 17, 13},
		{"bf16-auto", BF16, tileAuto, 24, 32, 16},
		{"fp32", FP32, tileAuto, 33, 17, 13},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := tensor.MatMulArgs{Batch: 2, M: c.m, N: c.n, K: c.k, TransB: true, Alpha: 0.5, Beta: 0.25,
				StrideA: c.m * c.k, StrideB: c.n * c.k, StrideC: c.m * c.n}
			a, bb := roundBF16(randn(r, 2*c.m*c.k)), roundBF16(randn(r, 2*c.n*c.k))
			c0, bv := randn(r, 2*c.m*c.n), randn(r, c.n)
			cc := put(cpu, c0, tensor.Float32)
			cpu.MatMul(cc, put(cpu, a, tensor.Float32), put(cpu, bb, tensor.Float32), args)
			want := addBias(get(cpu, cc), bv, args)
			gc := put(b, c0, tensor.Float32)
			withMatMul(b, c.prec, func() {
				bias := put(b, bv, tensor.Float32).(*buffer)
				if c.tile == tileAuto {
					b.MatMulBias(gc, put(b, a, tensor.Float32), put(b, bb, tensor.Float32), bias, args)
				} else {
					b.matMul(gc, put(b, a, tensor.Float32), put(b, bb, tensor.Float32), bias, args, c.tile)
				}
			})
			closeTo(t, c.name, get(b, gc), want, 2e-5)
		})
	}
	mustPanic(t, "bias of 3 elements", func() {
		b.MatMulBias(b.Alloc(4, tensor.Float32), b.Alloc(4, tensor.Float32), b.Alloc(4, tensor.Float32),
			b.Alloc(3, tensor.Float32), tensor.MatMulArgs{Batch: 1, M: 2, N: 2, K: 2, Alpha: 1})
	})
}

// TestLinearBiasFused runs tensor.Linear on the CUDA backend, which takes the BiasMatMul path
// (bias added by the GEMM), forward and backward, against tensor.Linear on the CPU backend (a
// MatMul and a broadcast Add): the output and the gradients of x, w and bias must agree.
func TestLinearBiasFused(t *testing.T) {
	b := need(t)
	var _ tensor.BiasMatMul = b
	r := rand.New(rand.NewPCG(15, 16))
	xv, wv, bv, gv := randn(r, 2*3*40), randn(r, 24*40), randn(r, 24), randn(r, 2*3*24)
	run := func(be tensor.Backend) [][]float32 {
		x := tensor.New(be, xv, 2, 3, 40).SetRequiresGrad(true)
		w := tensor.New(be, wv, 24, 40).SetRequiresGrad(true)
		bias := tensor.New(be, bv, 24).SetRequiresGrad(true)
		y := tensor.Linear(x, w, bias)
		y.Backward(tensor.New(be, gv, 2, 3, 24))
		return [][]float32{y.Data(), x.Grad().Data(), w.Grad().Data(), bias.Grad().Data()}
	}
	got, want := run(b), run(tensor.CPU())
	for i, what := range []string{"y", "dx", "dw", "dbias"} {
		closeTo(t, "Linear "+what, got[i], want[i], 1e-5)
	}
}
