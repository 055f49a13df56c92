//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// TestGemmBF16BigTile runs the 128×256 bf16 GEMM (forced, whatever the size rule would pick)
// against the CPU backend on the same bf16-rounded inputs, in every layout: one exact tile,
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
	}{
		{name: "one-tile", batch: 1, m: 128, n: 256, k: 128, alpha: 1},
		{name: "ragged", batch: 1, m: 200, n: 264, k: 136, alpha: 0.5, beta: 0.25},
		{name: "short-k", batch: 1, m: 40, n: 24, k: 8, alpha: -1, beta: 1},
		{name: "batched", batch: 3, m: 72, n: 136, k: 64, alpha: 0.75, beta: -0.5, gap: 8},
		{name: "shared-B", batch: 2, m: 136, n: 40, k: 72, alpha: 1, shareB: true, gap: 16},
		{name: "accum", batch: 3, m: 128, n: 256, k: 40, alpha: 0.5, beta: 0.5, accum: true},
	}
	for _, c := range cases {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			name := fmt.Sprintf("%s/%dx%dx%d/%s", c.name, c.m, c.n, c.k, layout(tr[0], tr[1]))
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
				gc := put(b, c0, tensor.Float32)
				b.matMul(gc, put(b, a, tensor.BFloat16), put(b, bb, tensor.BFloat16), args, tileBig)
				closeTo(t, name, get(b, gc), get(cpu, cc), 2e-5)
			})
		}
	}
}
