package diffusion

// A Gaussian mixture testbed with closed forms (docs/algorithms.md §7.2): sampling and log-density, the exact
// rectified-flow velocity of the mixture, and its exact tilts by linear and quadratic rewards.
// Trained velocities and RL fixed points are compared against these in tests. Host float64.

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// GMM is the mixture Σ_k w_k N(μ_k, Σ_k) in D dimensions with full covariances. Build it with
// NewGMM; the fields are read-only afterwards.
type GMM struct {
	Weights []float64   // K non-negative weights summing to 1
	Means   [][]float64 // K means of length D
	Covs    [][]float64 // K symmetric positive definite D×D covariances, row-major

	chol [][]float64 // Cholesky factors of Covs
}

// NewGMM builds a mixture, normalising the weights (a weight may be 0, e.g. after an extreme
// tilt, but not all). Malformed input (lengths, negative weights, covariances that are not symmetric positive definite) panics.
func NewGMM(weights []float64, means, covs [][]float64) *GMM {
	K := len(weights)
	if K == 0 || len(means) != K || len(covs) != K {
		panic(fmt.Sprintf("diffusion.NewGMM: %d weights, %d means, %d covariances", K, len(means), len(covs)))
	}
	D := len(means[0])
	g := &GMM{}
	total := 0.0
	for k, w := range weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			panic(fmt.Sprintf("diffusion.NewGMM: weight %d is %g", k, w))
		}
		total += w
	}
	if !(total > 0) {
		panic(fmt.Sprintf("diffusion.NewGMM: weights %v sum to %g", weights, total))
	}
	for k := 0; k < K; k++ {
		if len(means[k]) != D || len(covs[k]) != D*D {
			panic(fmt.Sprintf("diffusion.NewGMM: component %d has a mean of length %d and a covariance of %d entries (D = %d)", k, len(means[k]), len(covs[k]), D))
		}
		c := covs[k]
		for i := 0; i < D; i++ {
			for j := 0; j < i; j++ {
				if math.Abs(c[i*D+j]-c[j*D+i]) > 1e-12*(math.Abs(c[i*D+j])+math.Abs(c[j*D+i])+1) {
					panic(fmt.Sprintf("diffusion.NewGMM: covariance %d is not symmetric: %v", k, c))
				}
			}
		}
		l, ok := cholesky(c, D)
		if !ok {
			panic(fmt.Sprintf("diffusion.NewGMM: covariance %d is not positive definite: %v", k, c))
		}
		g.Weights = append(g.Weights, weights[k]/total)
		g.Means = append(g.Means, append([]float64(nil), means[k]...))
		g.Covs = append(g.Covs, append([]float64(nil), c...))
		g.chol = append(g.chol, l)
	}
	return g
}

// Dim is the dimension D.
func (g *GMM) Dim() int { return len(g.Means[0]) }

// Components is the number of components K.
func (g *GMM) Components() int { return len(g.Weights) }

// Sample draws n points, returned row-major as n×D: a component by its weight, then
// μ_k + L_k z with L_k L_kᵀ = Σ_k and z standard normal.
func (g *GMM) Sample(rng *tensor.RNG, n int) []float64 {
	D := g.Dim()
	out := make([]float64, n*D)
	z := make([]float64, D)
	for i := 0; i < n; i++ {
		u, k := rng.Float64(), 0
		for acc := g.Weights[0]; u > acc && k < len(g.Weights)-1; {
			k++
			acc += g.Weights[k]
		}
		for d := range z {
			z[d] = rng.NormFloat64()
		}
		x, l := out[i*D:(i+1)*D], g.chol[k]
		for r := 0; r < D; r++ {
			s := g.Means[k][r]
			for c := 0; c <= r; c++ {
				s += l[r*D+c] * z[c]
			}
			x[r] = s
		}
	}
	return out
}

// gaussLogPDF is log N(x; μ, Σ) given Σ's Cholesky factor.
func gaussLogPDF(x, mu, l []float64) float64 {
	D := len(x)
	r := make([]float64, D)
	for i := range r {
		r[i] = x[i] - mu[i]
	}
	// Solve L y = r; the quadratic form is |y|².
	q := 0.0
	for i := 0; i < D; i++ {
		s := r[i]
		for k := 0; k < i; k++ {
			s -= l[i*D+k] * r[k]
		}
		r[i] = s / l[i*D+i]
		q += r[i] * r[i]
	}
	return -0.5*q - 0.5*cholLogDet(l, D) - 0.5*float64(D)*math.Log(2*math.Pi)
}

// LogDensity is log p(x) = log Σ_k w_k N(x; μ_k, Σ_k).
func (g *GMM) LogDensity(x []float64) float64 {
	terms := make([]float64, len(g.Weights))
	for k := range terms {
		terms[k] = math.Log(g.Weights[k]) + gaussLogPDF(x, g.Means[k], g.chol[k])
	}
	return logSumExp(terms)
}

func logSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// Mean is the mixture mean Σ_k w_k μ_k.
func (g *GMM) Mean() []float64 {
	m := make([]float64, g.Dim())
	for k, w := range g.Weights {
		for i, v := range g.Means[k] {
			m[i] += w * v
		}
	}
	return m
}

// Cov is the mixture covariance Σ_k w_k (Σ_k + μ_k μ_kᵀ) − m mᵀ, row-major D×D.
func (g *GMM) Cov() []float64 {
	D, m := g.Dim(), g.Mean()
	c := make([]float64, D*D)
	for k, w := range g.Weights {
		mu := g.Means[k]
		for i := 0; i < D; i++ {
			for j := 0; j < D; j++ {
				c[i*D+j] += w * (g.Covs[k][i*D+j] + mu[i]*mu[j])
			}
		}
	}
	for i := 0; i < D; i++ {
		for j := 0; j < D; j++ {
			c[i*D+j] -= m[i] * m[j]
		}
	}
	return c
}

// Marginal is the law of x_t = (1−t)x0 + tε for x0 ~ g and ε ~ N(0, I): the mixture with
// means (1−t)μ_k and covariances C_k(t) = (1−t)²Σ_k + t²I.
func (g *GMM) Marginal(t float64) *GMM {
	D := g.Dim()
	means := make([][]float64, len(g.Weights))
	covs := make([][]float64, len(g.Weights))
	for k := range g.Weights {
		means[k] = scaled(g.Means[k], 1-t)
		covs[k] = flowCov(g.Covs[k], D, t)
	}
	return NewGMM(g.Weights, means, covs)
}

// flowCov is C(t) = (1−t)²Σ + t²I.
func flowCov(sigma []float64, D int, t float64) []float64 {
	c := scaled(sigma, (1-t)*(1-t))
	for i := 0; i < D; i++ {
		c[i*D+i] += t * t
	}
	return c
}

func scaled(v []float64, s float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = s * x
	}
	return out
}
