package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// Embedding rows (Gather and its adjoint ScatterAdd, with repeated indices) and the AdamW step
// against a hand-written float64 step.

func testEmbedding(s *suite) {
	for _, c := range []struct{ vocab, dim, n int }{
		{1, 1, 1}, {5, 3, 31}, {33, 257, 33}, {7, 1025, 20}, {1000, 64, 1025}, {3, 33, 300},
	} {
		s.sub(fmt.Sprintf("V%d_D%d_n%d", c.vocab, c.dim, c.n), func(s *suite) {
			table := s.normal(c.vocab*c.dim, 1)
			idx := make([]int32, c.n)
			for i := range idx {
				idx[i] = int32(s.rng.IntN(c.vocab)) // repeats when n > vocab (and by chance)
			}
			idx[c.n-1] = idx[0]

			want := make([]float32, c.n*c.dim)
			for i, r := range idx {
				copy(want[i*c.dim:(i+1)*c.dim], table[int(r)*c.dim:(int(r)+1)*c.dim])
			}
			dst := s.poisoned(c.n * c.dim)
			s.b.Gather(dst, s.put(table), idx, c.dim)
			s.exact("Gather", s.get(dst), want)

			// ScatterAdd adds onto what dtable holds; repeated rows add up.
			dt0, dy := s.normal(c.vocab*c.dim, 1), s.normal(c.n*c.dim, 1)
			ref, mag := f64(dt0), make([]float64, len(dt0))
			for i := range mag {
				mag[i] = math.Abs(ref[i])
			}
			for i, r := range idx {
				for j := 0; j < c.dim; j++ {
					ref[int(r)*c.dim+j] += float64(dy[i*c.dim+j])
					mag[int(r)*c.dim+j] += math.Abs(float64(dy[i*c.dim+j]))
				}
			}
			dts := s.put(dt0)
			s.b.ScatterAdd(dts, s.put(dy), idx, c.dim)
			s.within("ScatterAdd", s.get(dts), ref, func(i int) float64 { return 1e-6 * s.opt.Tol * mag[i] })
		})
	}
}

// adamWRef is one AdamW step in float64, written from the definition (decoupled weight decay
// applied to the parameter before the Adam update, as torch.optim.AdamW does).
func adamWRef(p, g, m, v []float64, a tensor.AdamWArgs) {
	b1, b2 := float64(a.Beta1), float64(a.Beta2)
	t := float64(a.Step)
	for i := range p {
		gi := g[i] * float64(a.GradScale)
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		mHat := m[i] / (1 - math.Pow(b1, t))
		vHat := v[i] / (1 - math.Pow(b2, t))
		p[i] -= float64(a.LR) * float64(a.WeightDecay) * p[i]
		p[i] -= float64(a.LR) * mHat / (math.Sqrt(vHat) + float64(a.Eps))
	}
}

func testAdamW(s *suite) {
	for _, n := range sizes {
		s.sub(fmt.Sprintf("n=%d", n), func(s *suite) {
			p, m, v := s.normal(n, 1), s.normal(n, 0.01), s.uniform(n, 0, 1e-4)
			ps, ms, vs := s.put(p), s.put(m), s.put(v)
			p64, m64, v64 := f64(p), f64(m), f64(v)
			// Three consecutive steps: the first from the given moments at step 1 (large bias
			// correction), then steps 2 and 3 with gradient scaling and a tiny-gradient element.
			for step := 1; step <= 3; step++ {
				a := tensor.AdamWArgs{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01,
					Step: step, GradScale: 1}
				if step > 1 {
					a.GradScale = 0.37
				}
				g := s.normal(n, 0.1)
				g[0] = 1e-7
				adamWRef(p64, f64(g), m64, v64, a)
				s.b.AdamW(ps, s.put(g), ms, vs, a)
				tol := s.opt.Tol
				gotM, gotV, gotP := s.get(ms), s.get(vs), s.get(ps)
				// m and v mix old state and gradient, which may cancel: room relative to the
				// largest of them.
				s.near(fmt.Sprintf("AdamW m after step %d", step), gotM, m64, 1e-6*tol*maxAbs(m64), 2e-6*tol)
				s.near(fmt.Sprintf("AdamW v after step %d", step), gotV, v64, 1e-6*tol*maxAbs(v64), 2e-6*tol)
				// The update is about LR in size: judge the parameter to a fraction of it.
				s.near(fmt.Sprintf("AdamW param after step %d", step), gotP, p64, 1e-3*float64(a.LR)*tol, 2e-7*tol)
				// The next step starts from the backend's state, so each step is judged alone.
				p64, m64, v64 = f64(gotP), f64(gotM), f64(gotV)
			}
		})
	}
}
