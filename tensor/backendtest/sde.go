package backendtest

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// The fused diffusion ops (tensor.FusedDiffusion): one Euler–Maruyama step with its
// log-probability (docs/algorithms.md §2.1, both sampler kinds, with z given and with xNext given), its
// gradient with respect to v (against finite differences of the float64 log-prob), and the
// per-sample squared error. Each check runs on the backend's own fused kernels when it has them
// and on the composition from its primitives (tensor.Composed) always; FusedMatchesComposed
// then holds the two against each other on the same inputs.

// fusedImpl is one implementation of the fused ops under test.
type fusedImpl struct {
	name string
	f    tensor.FusedDiffusion
}

func fusedImpls(b tensor.Backend) []fusedImpl {
	var out []fusedImpl
	if f, ok := b.(tensor.FusedDiffusion); ok {
		out = append(out, fusedImpl{"fused", f})
	}
	return append(out, fusedImpl{"composed", tensor.Composed(b)})
}

// sdeRef is the float64 definition of one step, written straight from docs/algorithms.md §2.1.
type sdeRef struct {
	kind            tensor.SDEKind
	sigma, next, st float64
}

// mean returns μ for one element.
func (r sdeRef) mean(x, v float64) float64 {
	if r.kind == tensor.SDEFlow {
		dt := r.next - r.sigma
		return x + (v+r.st*r.st/(2*r.sigma)*(x+(1-r.sigma)*v))*dt
	}
	x0, eps := x-r.sigma*v, x+(1-r.sigma)*v
	std := r.std()
	return (1-r.next)*x0 + math.Sqrt(r.next*r.next-std*std)*eps
}

func (r sdeRef) std() float64 {
	if r.kind == tensor.SDEFlow {
		return r.st * math.Sqrt(r.sigma-r.next)
	}
	return r.next * math.Sin(r.st*math.Pi/2)
}

// term is one element's contribution to logp before the mean over D; logp = mean(term).
func (r sdeRef) term(x, v, xn float64) float64 {
	d := xn - r.mean(x, v)
	if r.kind == tensor.SDEFlow {
		std := r.std()
		return -d*d/(2*std*std) - math.Log(std) - 0.5*math.Log(2*math.Pi)
	}
	return -d * d
}

// weight is w in logp = −w·mean((x'−μ)²) + const, for the tolerance.
func (r sdeRef) weight() float64 {
	if r.kind == tensor.SDEFlow {
		return 1 / (2 * r.std() * r.std())
	}
	return 1
}

// sdeSteps are steps of the 10-step SD3 grid (docs/algorithms.md §1.3): the first (σ = 1, where the Flow
// noise scale uses σ̃ = σ₁), one in the middle and the last trained one.
func sdeSteps() []tensor.SDEArgs {
	var out []tensor.SDEArgs
	grid := [][2]float32{{1, 0.9601}, {0.9133, 0.8577}, {0.2780, 0.0089}}
	for _, g := range grid {
		sTilde := g[0]
		if sTilde == 1 {
			sTilde = 0.9601
		}
		st := float32(0.7 * math.Sqrt(float64(g[0])/(1-float64(sTilde))))
		out = append(out, tensor.SDEArgs{Kind: tensor.SDEFlow, Sigma: g[0], SigmaNext: g[1], ST: st})
		out = append(out, tensor.SDEArgs{Kind: tensor.SDECPS, Sigma: g[0], SigmaNext: g[1], ST: 0.8})
	}
	return out
}

var sdeShapes = [][2]int{{1, 1}, {3, 31}, {2, 1025}, {4, 257}, {1, 100003}}

// composedShapes are the shapes the composition is checked on: the awkward small ones. Its
// primitives are checked at large sizes by their own groups, and emulated backends are slow.
var composedShapes = sdeShapes[:4]

// shapesFor are the shapes an implementation is checked on.
func shapesFor(impl fusedImpl) [][2]int {
	if impl.name == "composed" {
		return composedShapes
	}
	return sdeShapes
}

func kindName(k tensor.SDEKind) string {
	if k == tensor.SDEFlow {
		return "flow"
	}
	return "cps"
}

func testSDEStep(s *suite) {
	for _, impl := range fusedImpls(s.b) {
		for _, a := range sdeSteps() {
			for _, sh := range shapesFor(impl) {
				a.Batch, a.Dim = sh[0], sh[1]
				name := fmt.Sprintf("%s/%s/sigma=%g->%g/B%d_D%d", impl.name, kindName(a.Kind), a.Sigma, a.SigmaNext, a.Batch, a.Dim)
				s.sub(name, func(s *suite) { s.sdeCase(impl.f, a) })
			}
		}
	}
}

func (s *suite) sdeCase(f tensor.FusedDiffusion, a tensor.SDEArgs) {
	r := sdeRef{kind: a.Kind, sigma: float64(a.Sigma), next: float64(a.SigmaNext), st: float64(a.ST)}
	n := a.Batch * a.Dim
	x, v, z := s.normal(n, 1), s.normal(n, 1), s.normal(n, 1)
	xs, vs := s.put(x), s.put(v)
	tol := s.opt.Tol

	// logpRef is the reference log-prob of the observed xn, and the tolerance it deserves:
	// the residual x'−μ carries a float32 rounding of the terms it is made of.
	logpRef := func(xn []float32) (ref, lim []float64) {
		ref, lim = make([]float64, a.Batch), make([]float64, a.Batch)
		for b := 0; b < a.Batch; b++ {
			var sum, err float64
			for i := b * a.Dim; i < (b+1)*a.Dim; i++ {
				sum += r.term(float64(x[i]), float64(v[i]), float64(xn[i]))
				d := float64(xn[i]) - r.mean(float64(x[i]), float64(v[i]))
				err += 2 * r.weight() * math.Abs(d) * 4e-7 * (math.Abs(float64(x[i])) + math.Abs(float64(v[i])) + math.Abs(float64(xn[i])))
			}
			ref[b] = sum / float64(a.Dim)
			lim[b] = tol * (err/float64(a.Dim) + 1e-6*math.Abs(ref[b]) + 1e-6)
		}
		return ref, lim
	}

	// Sampling: x' = μ + std·z, then the log-prob of that x'.
	xn, lp := s.poisoned(n), s.poisoned(a.Batch)
	f.SDEStep(xn, lp, xs, vs, s.put(z), a)
	gotXn := s.get(xn)
	xnRef := make([]float64, n)
	for i := range xnRef {
		xnRef[i] = r.mean(float64(x[i]), float64(v[i])) + r.std()*float64(z[i])
	}
	s.within("SDEStep xNext", gotXn, xnRef, func(i int) float64 {
		return 4e-7 * tol * (math.Abs(float64(x[i])) + math.Abs(float64(v[i])) + r.std()*math.Abs(float64(z[i])))
	})
	ref, lim := logpRef(gotXn)
	s.within("SDEStep logp (sampled)", s.get(lp), ref, func(b int) float64 { return lim[b] })

	// Scoring a given x' (z = nil): x' is read, never written.
	given := make([]float32, n)
	for i := range given {
		given[i] = float32(xnRef[i] + 0.3*r.std()*s.rng.NormFloat64())
	}
	xg, lp2 := s.put(given), s.poisoned(a.Batch)
	f.SDEStep(xg, lp2, xs, vs, nil, a)
	s.exact("SDEStep with z=nil leaves xNext", s.get(xg), given)
	ref2, lim2 := logpRef(given)
	s.within("SDEStep logp (given x')", s.get(lp2), ref2, func(b int) float64 { return lim2[b] })

	// Backward: dv = ∂(Σ_b dlogp[b]·logp[b])/∂v by central differences of the reference. Each v
	// element moves only its own term, and the term is quadratic in v, so the differences are
	// exact up to rounding.
	dlogp := s.normal(a.Batch, 1)
	dvRef, dvLim := make([]float64, n), make([]float64, n)
	for b := 0; b < a.Batch; b++ {
		for i := b * a.Dim; i < (b+1)*a.Dim; i++ {
			xi, vi, gi := float64(x[i]), float64(v[i]), float64(given[i])
			h := 1e-3 * math.Max(1, math.Abs(vi))
			fd := (r.term(xi, vi+h, gi) - r.term(xi, vi-h, gi)) / (2 * h)
			dvRef[i] = float64(dlogp[b]) * fd / float64(a.Dim)
			dmu := (r.mean(xi, vi+1) - r.mean(xi, vi-1)) / 2
			res := 4e-7 * (math.Abs(xi) + math.Abs(vi) + math.Abs(gi))
			dvLim[i] = tol * (1e-5*math.Abs(dvRef[i]) +
				math.Abs(float64(dlogp[b]))*2*r.weight()*math.Abs(dmu)*res/float64(a.Dim))
		}
	}
	dv := s.poisoned(n)
	f.SDEStepBackward(dv, s.put(dlogp), xs, vs, xg, a)
	s.within("SDEStepBackward dv", s.get(dv), dvRef, func(i int) float64 { return dvLim[i] })
}

func testSqErr(s *suite) {
	for _, impl := range fusedImpls(s.b) {
		for _, sh := range shapesFor(impl) {
			s.sub(fmt.Sprintf("%s/B%d_D%d", impl.name, sh[0], sh[1]), func(s *suite) { s.sqErrCase(impl.f, sh[0], sh[1]) })
		}
	}
}

func (s *suite) sqErrCase(f tensor.FusedDiffusion, batch, dim int) {
	v, t := s.normal(batch*dim, 1), s.normal(batch*dim, 1)
	ref := make([]float64, batch)
	for b := 0; b < batch; b++ {
		for i := b * dim; i < (b+1)*dim; i++ {
			d := float64(v[i]) - float64(t[i])
			ref[b] += d * d / float64(dim)
		}
	}
	vs, ts := s.put(v), s.put(t)
	e := s.poisoned(batch)
	f.SqErr(e, vs, ts, batch, dim)
	s.near("SqErr", s.get(e), ref, 0, s.opt.Tol*(1e-6+1e-7*math.Sqrt(float64(dim))))

	de := s.normal(batch, 1)
	dref := make([]float64, batch*dim)
	for i := range dref {
		dref[i] = float64(de[i/dim]) * 2 * (float64(v[i]) - float64(t[i])) / float64(dim)
	}
	dv := s.poisoned(batch * dim)
	f.SqErrBackward(dv, s.put(de), vs, ts, batch, dim)
	s.within("SqErrBackward", s.get(dv), dref, func(i int) float64 {
		// v − target may cancel: the room is relative to the operands.
		return 4e-7 * s.opt.Tol * math.Abs(float64(de[i/dim])) * 2 * (math.Abs(float64(v[i])) + math.Abs(float64(t[i]))) / float64(dim)
	})
}

// testFusedMatchesComposed runs a backend's own fused kernels and their composition from its
// primitives on the same inputs: the two must agree as closely as each agrees with the float64
// definition (float32 rounding of the residual and of the per-sample mean).
func testFusedMatchesComposed(s *suite) {
	fused, ok := s.b.(tensor.FusedDiffusion)
	if !ok {
		s.t.Skip("the backend has no fused kernels: tensor.Fused composes them")
	}
	comp := tensor.Composed(s.b)
	for _, a := range sdeSteps() {
		for _, sh := range composedShapes {
			a.Batch, a.Dim = sh[0], sh[1]
			s.sub(fmt.Sprintf("%s/sigma=%g->%g/B%d_D%d", kindName(a.Kind), a.Sigma, a.SigmaNext, a.Batch, a.Dim), func(s *suite) {
				n := a.Batch * a.Dim
				x, v, z, dl := s.normal(n, 1), s.normal(n, 1), s.normal(n, 1), s.normal(a.Batch, 1)
				xs, vs, zs, dls := s.put(x), s.put(v), s.put(z), s.put(dl)
				std := a.Coef().Std
				run := func(f tensor.FusedDiffusion) (xn, lp, dv, e, de []float32) {
					xnS, lpS, dvS := s.poisoned(n), s.poisoned(a.Batch), s.poisoned(n)
					f.SDEStep(xnS, lpS, xs, vs, zs, a)
					f.SDEStepBackward(dvS, dls, xs, vs, xnS, a)
					eS, deS := s.poisoned(a.Batch), s.poisoned(n)
					f.SqErr(eS, vs, zs, a.Batch, a.Dim)
					f.SqErrBackward(deS, dls, vs, zs, a.Batch, a.Dim)
					return s.get(xnS), s.get(lpS), s.get(dvS), s.get(eS), s.get(deS)
				}
				xn, lp, dv, e, de := run(fused)
				cxn, clp, cdv, ce, cde := run(comp)
				tol := s.opt.Tol
				// Both round x' = μ + std·z to float32 from slightly different μ.
				s.within("xNext", cxn, f64(xn), func(i int) float64 {
					return 8e-7 * tol * (math.Abs(float64(x[i])) + math.Abs(float64(v[i])) + std*math.Abs(float64(z[i])))
				})
				// logp = −W·mean(d²) + K with d = std·z: the residual's rounding, relative to |x'|.
				co := a.Coef()
				s.within("logp", clp, f64(lp), func(b int) float64 {
					var lim float64
					for i := b * a.Dim; i < (b+1)*a.Dim; i++ {
						lim += 2 * co.W * std * math.Abs(float64(z[i])) * 8e-7 * (math.Abs(float64(x[i])) + math.Abs(float64(v[i])) + math.Abs(float64(xn[i])))
					}
					return tol * (lim/float64(a.Dim) + 2e-6*math.Abs(float64(lp[b])) + 2e-6)
				})
				s.within("SDEStepBackward dv", cdv, f64(dv), func(i int) float64 {
					b := i / a.Dim
					res := 8e-7 * (math.Abs(float64(x[i])) + math.Abs(float64(v[i])) + math.Abs(float64(xn[i])))
					return tol * (2e-5*math.Abs(float64(dv[i])) + math.Abs(float64(dl[b]))*2*co.W*math.Abs(co.CV)*res/float64(a.Dim))
				})
				s.near("SqErr", ce, f64(e), 0, 2*tol*(1e-6+1e-7*math.Sqrt(float64(a.Dim))))
				s.within("SqErrBackward", cde, f64(de), func(i int) float64 {
					return 8e-7 * tol * math.Abs(float64(dl[i/a.Dim])) * 2 * (math.Abs(float64(v[i])) + math.Abs(float64(z[i]))) / float64(a.Dim)
				})
			})
		}
	}
}
