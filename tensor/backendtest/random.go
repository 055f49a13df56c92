package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// RandUniform must reproduce tensor.PhiloxUniform bit for bit; RandNormal must match
// tensor.PhiloxNormal to float rounding (the Box–Muller transform may run in float32 on a
// device). Counter offsets straddle 2³², where the counter's high word starts to change.
// The moments of 10⁵ draws catch a transform that is consistently wrong.

func testRandom(s *suite) {
	type stream struct {
		seed, offset uint64
		n            int
	}
	streams := []stream{
		{0, 0, 1}, {1, 0, 31}, {42, 7, 1025}, {0xDEADBEEFCAFEF00D, 1<<32 - 5, 33}, {7, 1<<40 + 3, 257},
		{3, 1 << 33, 1027}, // aligned offset: whole 4-blocks stored at once, a ragged tail
	}
	for _, st := range streams {
		s.sub(fmt.Sprintf("seed=%#x/offset=%d/n=%d", st.seed, st.offset, st.n), func(s *suite) {
			u := s.poisoned(st.n)
			s.b.RandUniform(u, st.seed, st.offset)
			want := make([]float32, st.n)
			for i := range want {
				want[i] = tensor.PhiloxUniform(st.seed, st.offset+uint64(i))
			}
			s.exact("RandUniform", s.get(u), want)

			z := s.poisoned(st.n)
			s.b.RandNormal(z, st.seed, st.offset)
			ref := make([]float64, st.n)
			for i := range ref {
				ref[i] = float64(tensor.PhiloxNormal(st.seed, st.offset+uint64(i)))
			}
			s.near("RandNormal", s.get(z), ref, 1e-6*s.opt.Tol, 1e-6*s.opt.Tol)
		})
	}
	s.sub("moments/n=100000", func(s *suite) {
		const n = 100000
		u, z := s.poisoned(n), s.poisoned(n)
		s.b.RandUniform(u, 2024, 12345)
		s.b.RandNormal(z, 2024, 12345)
		us, zs := f64(s.get(u)), f64(s.get(z))
		mean := func(v []float64, f func(float64) float64) float64 {
			t := 0.0
			for _, x := range v {
				t += f(x)
			}
			return t / float64(len(v))
		}
		// Five standard errors of each estimate.
		se := 5 / math.Sqrt(n)
		check := func(what string, got, want, sd float64) {
			if math.Abs(got-want) > se*sd {
				s.t.Errorf("%s = %.5f, want %.5f ± %.5f", what, got, want, se*sd)
			}
		}
		id := func(x float64) float64 { return x }
		check("uniform mean", mean(us, id), 0.5, math.Sqrt(1.0/12))
		check("uniform E[u²]", mean(us, func(x float64) float64 { return x * x }), 1.0/3, math.Sqrt(4.0/45))
		check("normal mean", mean(zs, id), 0, 1)
		check("normal E[z²]", mean(zs, func(x float64) float64 { return x * x }), 1, math.Sqrt(2))
		check("normal E[z³]", mean(zs, func(x float64) float64 { return x * x * x }), 0, math.Sqrt(15))
		check("normal E[z⁴]", mean(zs, func(x float64) float64 { return x * x * x * x }), 3, math.Sqrt(96))
		for i, x := range us {
			if !(x > 0 && x <= 1) {
				s.t.Fatalf("RandUniform[%d] = %v outside (0, 1]", i, x)
			}
		}
	})
}
