package diffusion

// The exact rectified-flow velocity of a Gaussian mixture (docs/algorithms.md §7.2). With x_t = (1−t)x0 + tε,
// x0 ~ Σ_k w_k N(μ_k, Σ_k), ε ~ N(0, I), the pair (x0, x_t) is jointly Gaussian within each
// component, so with C_k = (1−t)²Σ_k + t²I and r_k = x − (1−t)μ_k:
//
//	γ_k(x)          ∝ w_k N(x; (1−t)μ_k, C_k)            (which component produced x_t = x)
//	E[x0 | x, k]    = μ_k + (1−t) Σ_k C_k⁻¹ r_k
//	E[ε  | x, k]    = t C_k⁻¹ r_k
//	v(x, t)         = Σ_k γ_k (E[ε | x, k] − E[x0 | x, k]) = (x − E[x0 | x]) / t
//
// v is the velocity a flow-matching network converges to, so it is the ground truth v_ref (and,
// for a tilted mixture, v*) in algorithm tests.

import (
	"fmt"
	"math"
)

// FlowField is the posterior of (x0, ε) given x_t at one fixed t, with the per-component
// matrices precomputed so many points can be evaluated cheaply. Its methods reuse scratch
// buffers: use one FlowField per goroutine.
type FlowField struct {
	g     *GMM
	t     float64
	comps []flowComp

	logit, r, cr, gamma, x0hat, epshat []float64 // scratch
}

type flowComp struct {
	logNorm float64   // log w_k − ½ log|C_k| − (D/2) log 2π
	center  []float64 // (1−t)μ_k
	cInv    []float64 // C_k⁻¹
	sigma   []float64 // Σ_k
}

// At precomputes the flow posterior at time t ∈ [0, 1].
func (g *GMM) At(t float64) *FlowField {
	if !(t >= 0 && t <= 1) {
		panic(fmt.Sprintf("diffusion.GMM.At: t = %g outside [0, 1]", t))
	}
	D, K := g.Dim(), g.Components()
	f := &FlowField{g: g, t: t, logit: make([]float64, K), r: make([]float64, K*D), cr: make([]float64, K*D),
		gamma: make([]float64, K), x0hat: make([]float64, D), epshat: make([]float64, D)}
	for k := 0; k < K; k++ {
		c := flowCov(g.Covs[k], D, t)
		l, ok := cholesky(c, D)
		if !ok {
			panic(fmt.Sprintf("diffusion.GMM.At: C_k(t=%g) of component %d is not positive definite", t, k))
		}
		f.comps = append(f.comps, flowComp{
			logNorm: math.Log(g.Weights[k]) - 0.5*cholLogDet(l, D) - 0.5*float64(D)*math.Log(2*math.Pi),
			center:  scaled(g.Means[k], 1-t),
			cInv:    cholInverse(l, D),
			sigma:   g.Covs[k],
		})
	}
	return f
}

// T is the time the field was built for.
func (f *FlowField) T() float64 { return f.t }

// Posterior returns, for x_t = x, the responsibilities γ_k and the posterior means
// x̂0 = E[x0 | x_t = x] and ε̂ = E[ε | x_t = x] (which satisfy (1−t)x̂0 + tε̂ = x).
func (f *FlowField) Posterior(x []float64) (gamma, x0hat, epshat []float64) {
	gamma = make([]float64, len(f.comps))
	x0hat = make([]float64, len(x))
	epshat = make([]float64, len(x))
	f.posterior(x, gamma, x0hat, epshat)
	return gamma, x0hat, epshat
}

// posterior is Posterior writing into caller buffers.
func (f *FlowField) posterior(x, gamma, x0hat, epshat []float64) {
	D, t := len(x), f.t
	if D != f.g.Dim() {
		panic(fmt.Sprintf("diffusion.FlowField: point of dimension %d for a %d-D mixture", D, f.g.Dim()))
	}
	for k, c := range f.comps {
		r, cr := f.r[k*D:(k+1)*D], f.cr[k*D:(k+1)*D]
		for i := range r {
			r[i] = x[i] - c.center[i]
		}
		linMatVec(cr, c.cInv, D, r) // C_k⁻¹ r_k
		f.logit[k] = c.logNorm - 0.5*linDot(r, cr)
	}
	lse := logSumExp(f.logit)
	clear(x0hat)
	clear(epshat)
	for k, c := range f.comps {
		gk := math.Exp(f.logit[k] - lse)
		gamma[k] = gk
		cr := f.cr[k*D : (k+1)*D]
		for i := 0; i < D; i++ {
			// E[x0 | x, k]_i = μ_i + (1−t) (Σ_k C_k⁻¹ r_k)_i
			s := linDot(c.sigma[i*D:(i+1)*D], cr)
			x0hat[i] += gk * (f.g.Means[k][i] + (1-t)*s)
			epshat[i] += gk * t * cr[i]
		}
	}
}

// Velocity writes the exact velocity v(x, t) = ε̂ − x̂0 into dst (len D; allocated when nil)
// and returns it.
func (f *FlowField) Velocity(dst, x []float64) []float64 {
	if dst == nil {
		dst = make([]float64, len(x))
	}
	f.posterior(x, f.gamma, f.x0hat, f.epshat)
	for i := range dst {
		dst[i] = f.epshat[i] - f.x0hat[i]
	}
	return dst
}

// Velocity is the exact rectified-flow velocity of the mixture at one point and time.
func (g *GMM) Velocity(x []float64, t float64) []float64 {
	return g.At(t).Velocity(nil, x)
}

// VelocityBatch evaluates the velocity at time t for n points stored row-major as n×D.
func (g *GMM) VelocityBatch(xs []float64, t float64) []float64 {
	D := g.Dim()
	if len(xs)%D != 0 {
		panic(fmt.Sprintf("diffusion.GMM.VelocityBatch: %d values is not a multiple of D = %d", len(xs), D))
	}
	f := g.At(t)
	out := make([]float64, len(xs))
	for i := 0; i < len(xs); i += D {
		f.Velocity(out[i:i+D], xs[i:i+D])
	}
	return out
}
