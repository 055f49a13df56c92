package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFloat64FormsAreLoops checks Accumulate and AdamW.Step against their Go loops, written
// out here as the CPU backend wrote them before they moved into this package, bit for bit:
// lengths around the vector widths, random bit patterns and awkward values (signed zeros,
// subnormals, infinities, NaNs, values that overflow a float32 when squared), and steps early
// and late in training.
func TestFloat64FormsAreLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	val := func(scale float32) float32 {
		switch rng.IntN(6) {
		case 0:
			return awkward[rng.IntN(len(awkward))]
		case 1:
			return math.Float32frombits(rng.Uint32())
		}
		return float32(rng.NormFloat64()) * scale
	}
	fill := func(n int, scale float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = val(scale)
		}
		return x
	}
	for _, n := range []int{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 64, 65, 1001} {
		// Accumulate, twice into the same sums.
		acc := make([]float64, n)
		for i := range acc {
			acc[i] = rng.NormFloat64()
		}
		want := append([]float64(nil), acc...)
		x, y := fill(n+2, 1), fill(n+2, 1e-3)
		for _, row := range [][]float32{x, y} {
			for i := range want {
				want[i] += float64(row[i])
			}
			Accumulate(acc, row)
		}
		for i := range want {
			if math.Float64bits(acc[i]) != math.Float64bits(want[i]) && !(acc[i] != acc[i] && want[i] != want[i]) {
				t.Fatalf("Accumulate, n=%d: sum %d is %g, want %g", n, i, acc[i], want[i])
			}
		}

		// AdamW: the constants of a typical run at steps 1 and 5000, and a grad scale ≠ 1.
		for _, st := range []struct {
			lr, wd, scale float64
			t             int
		}{{1e-3, 0, 1, 1}, {3e-4, 0.01, 0.37, 5000}} {
			a := NewAdamW(st.lr, 0.9, 0.999, 1e-8, st.wd, st.scale, st.t)
			p, g := fill(n, 0.05), fill(n, 1)
			m, v := fill(n, 0.01), fill(n, 1e-4)
			for i := range v {
				v[i] = float32(math.Abs(float64(v[i])))
			}
			wp, wm, wv := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamwLoop(wp, g, wm, wv, st.lr, 0.9, 0.999, 1e-8, st.wd, st.scale, st.t)
			a.Step(p, g, m, v)
			for _, c := range []struct {
				name      string
				got, want []float32
			}{{"parameter", p, wp}, {"first moment", m, wm}, {"second moment", v, wv}} {
				same(t, -1, n, "AdamW "+c.name, c.got, c.want)
			}
		}
	}
}

// adamwLoop is the CPU backend's AdamW loop as it was: float64 arithmetic, bias corrections
// from math.Pow.
func adamwLoop(ps, gs, ms, vs []float32, lr, b1, b2, eps, wd, scale float64, step int) {
	bc1 := 1 - math.Pow(b1, float64(step))
	bc2 := 1 - math.Pow(b2, float64(step))
	decay := 1 - lr*wd
	for i := range ps {
		g := float64(gs[i]) * scale
		mi := b1*float64(ms[i]) + (1-b1)*g
		vi := b2*float64(vs[i]) + (1-b2)*g*g
		ms[i], vs[i] = float32(mi), float32(vi)
		s := (mi / bc1) / (math.Sqrt(vi/bc2) + eps)
		ps[i] = float32(float64(ps[i])*decay - lr*s)
	}
}

// BenchmarkAdamW: one step over a million parameters, the vector path beside the Go loop.
func BenchmarkAdamW(b *testing.B) {
	const n = 1 << 20
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range p {
		p[i], g[i] = float32(i%7)*0.01, float32(i%5)*0.1
	}
	a := NewAdamW(1e-3, 0.9, 0.999, 1e-8, 0, 1, 10)
	b.Run("Step", func(b *testing.B) {
		for b.Loop() {
			a.Step(p, g, m, v)
		}
	})
	b.Run("loop", func(b *testing.B) {
		for b.Loop() {
			adamwLoop(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 10)
		}
	})
}
