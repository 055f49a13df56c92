//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// TestAttentionBF16 runs the tensor-core attention (Options.Attention = BF16) at
// awkward lengths against the CPU backend on the same bf16-rounded q, k, v: what remains is the
// rounding of P to bf16 before P·V, and the fp32 sums in another order. It covers one query and
// one key, lengths that leave ragged 64-tiles (31, 77), SD3.5-Medium's joint text+image
// sequence at 512² (333 text + 1024 image tokens = 1357), a key mask that pads keys away, a
// padded batch entry, Lq ≠ Lk, and both head dimensions; then the tensor-core backward.
// (Rows whose every key is −∞ are left out: the CPU twin gives NaN there, the kernels −∞.)
func TestAttentionBF16(t *testing.T) {
	b := need(t)
	b.SetAttention(BF16)
	defer b.SetAttention(FP32)
	cpu := tensor.CPU()
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		B, H, Lq, Lk, Dh int
		mask             string // "", "pad" (the last quarter of the keys −∞), "one" (entry 0 keeps only key 0)
		bf16Storage      bool   // q, k, v as BFloat16 storages, Options.Attention = FP32
	}{
		{1, 1, 1, 1, 64, "", false},
		{2, 3, 31, 31, 64, "pad", false},
		{1, 2, 33, 65, 64, "pad", true},
		{1, 2, 77, 77, 128, "pad", false},
		{2, 1, 31, 77, 128, "", false},
		{2, 1, 77, 31, 64, "one", false},
		{1, 1, 1357, 1357, 64, "pad", false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("B%d_H%d_Lq%d_Lk%d_Dh%d_mask=%s_bf16storage=%v", c.B, c.H, c.Lq, c.Lk, c.Dh, c.mask, c.bf16Storage), func(t *testing.T) {
			if c.Lq > 512 && strings.Contains(b.Info().Name, "emulator") && os.Getenv("FT_EMU_LONG") != "1" {
				t.Skip("a long sequence takes minutes on the CPU emulator; FT_EMU_LONG=1 runs it")
			}
			nq, nk := c.B*c.H*c.Lq*c.Dh, c.B*c.H*c.Lk*c.Dh
			q, k, v := roundBF16(randn(r, nq)), roundBF16(randn(r, nk)), roundBF16(randn(r, nk))
			for i := range q {
				q[i] *= 1.5 // peakier softmax rows than unit scores
			}
			var mask []float32
			if c.mask != "" {
				mask = make([]float32, c.B*c.Lk)
				for bi := 0; bi < c.B; bi++ {
					for j := 0; j < c.Lk; j++ {
						pad := c.mask == "pad" && j >= c.Lk-c.Lk/4 && j > 0
						if pad || (c.mask == "one" && bi == 0 && j > 0) {
							mask[bi*c.Lk+j] = float32(math.Inf(-1))
						} else {
							mask[bi*c.Lk+j] = float32(r.NormFloat64() * 0.5)
						}
					}
				}
			}
			a := tensor.AttnArgs{B: c.B, H: c.H, Lq: c.Lq, Lk: c.Lk, Dh: c.Dh, Scale: float32(1 / math.Sqrt(float64(c.Dh)))}
			run := func(be tensor.Backend) (out, lse []float32, dq, dk, dv []float32) {
				dt := tensor.Float32
				if be == tensor.Backend(b) && c.bf16Storage {
					dt = tensor.BFloat16 // exact: the values are bf16 already
					b.SetAttention(FP32)
					defer b.SetAttention(BF16)
				}
				qs, ks, vs := put(be, q, dt), put(be, k, dt), put(be, v, dt)
				var ms tensor.Storage
				if mask != nil {
					ms = put(be, mask, tensor.Float32)
				}
				os, ls := be.Alloc(nq, tensor.Float32), be.Alloc(c.B*c.H*c.Lq, tensor.Float32)
				be.Attention(os, ls, qs, ks, vs, ms, a)
				rr := rand.New(rand.NewPCG(7, 8))
				gout := put(be, randn(rr, nq), tensor.Float32)
				gq, gk, gv := be.Alloc(nq, tensor.Float32), be.Alloc(nk, tensor.Float32), be.Alloc(nk, tensor.Float32)
				be.AttentionBackward(gq, gk, gv, gout, qs, ks, vs, os, ls, ms, a)
				return get(be, os), get(be, ls), get(be, gq), get(be, gk), get(be, gv)
			}
			out, lse, dq, dk, dv := run(b)
			wout, wlse, wdq, wdk, wdv := run(cpu)
			closeTo(t, "out", out, wout, 1e-2)
			for i := range lse {
				if math.IsInf(float64(wlse[i]), -1) != math.IsInf(float64(lse[i]), -1) ||
					(!math.IsInf(float64(wlse[i]), -1) && math.Abs(float64(lse[i]-wlse[i])) > 1e-2) {
					t.Fatalf("lse[%d] = %v, want %v", i, lse[i], wlse[i])
				}
			}
			if c.Lk > 1 { // with one key dQ and dK are 0 up to rounding noise: nothing to compare
				closeTo(t, "dq", dq, wdq, 3e-2)
				closeTo(t, "dk", dk, wdk, 3e-2)
			}
			closeTo(t, "dv", dv, wdv, 3e-2)
		})
	}
}
