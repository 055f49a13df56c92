package diffusion

// Exact reward tilts of a Gaussian mixture (docs/algorithms.md §7.2): the KL-regularised optimum
// p*(x) ∝ p(x)·exp(r(x)/β) is again a mixture when r is linear or quadratic, because each
// component's Gaussian times exp(r/β) is an unnormalised Gaussian. The new weight of a
// component is its old weight times that product's integral.

import (
	"fmt"
	"math"
)

// TiltLinear returns p ∝ g·exp(aᵀx/β): component k becomes N(μ_k + Σ_k a/β, Σ_k) with weight
// ∝ w_k·exp(aᵀμ_k/β + aᵀΣ_k a/(2β²)).
func (g *GMM) TiltLinear(a []float64, beta float64) *GMM {
	D := g.Dim()
	if len(a) != D || !(beta > 0) {
		panic(fmt.Sprintf("diffusion.GMM.TiltLinear: a of length %d (D = %d), β = %g", len(a), D, beta))
	}
	K := g.Components()
	logw := make([]float64, K)
	means := make([][]float64, K)
	sa := make([]float64, D)
	for k := 0; k < K; k++ {
		linMatVec(sa, g.Covs[k], D, a) // Σ_k a
		means[k] = make([]float64, D)
		for i := range sa {
			means[k][i] = g.Means[k][i] + sa[i]/beta
		}
		logw[k] = math.Log(g.Weights[k]) + linDot(a, g.Means[k])/beta + linDot(a, sa)/(2*beta*beta)
	}
	return NewGMM(softmaxWeights(logw), means, g.Covs)
}

// TiltQuadratic returns p ∝ g·exp(r/β) for r(x) = −½ (x−c)ᵀQ(x−c), Q symmetric positive
// semi-definite (D×D, row-major). With A = Q/β, component k becomes the Gaussian with precision
// P_k = Σ_k⁻¹ + A and mean μ'_k = P_k⁻¹ (Σ_k⁻¹μ_k + A c), and its weight is multiplied by
//
//	Z_k = ∫ N(x; μ_k, Σ_k) exp(−½ (x−c)ᵀA(x−c)) dx
//	    = |Σ_k|^(−½) |P_k|^(−½) exp(½ μ'_kᵀ P_k μ'_k − ½ μ_kᵀΣ_k⁻¹μ_k − ½ cᵀAc),
//
// which for invertible Q equals N(c; μ_k, Σ_k + βQ⁻¹) up to a factor common to all
// components; this form also covers singular Q (a reward on some coordinates only).
func (g *GMM) TiltQuadratic(Q, c []float64, beta float64) *GMM {
	D := g.Dim()
	if len(Q) != D*D || len(c) != D || !(beta > 0) {
		panic(fmt.Sprintf("diffusion.GMM.TiltQuadratic: Q of %d entries, c of length %d (D = %d), β = %g", len(Q), len(c), D, beta))
	}
	A := scaled(Q, 1/beta)
	ac := make([]float64, D)
	linMatVec(ac, A, D, c)
	cAc := linDot(c, ac)
	K := g.Components()
	logw := make([]float64, K)
	means := make([][]float64, K)
	covs := make([][]float64, K)
	for k := 0; k < K; k++ {
		sInv := cholInverse(g.chol[k], D)
		P := make([]float64, D*D)
		for i := range P {
			P[i] = sInv[i] + A[i]
		}
		lp, ok := cholesky(P, D)
		if !ok {
			panic(fmt.Sprintf("diffusion.GMM.TiltQuadratic: posterior precision of component %d is not positive definite (is Q positive semi-definite?)", k))
		}
		mu := g.Means[k]
		sInvMu := make([]float64, D)
		linMatVec(sInvMu, sInv, D, mu)
		h := make([]float64, D)
		for i := range h {
			h[i] = sInvMu[i] + ac[i]
		}
		means[k] = cholSolve(lp, D, h) // μ'_k = P_k⁻¹ h
		covs[k] = cholInverse(lp, D)
		logZ := -0.5*cholLogDet(g.chol[k], D) - 0.5*cholLogDet(lp, D) +
			0.5*linDot(means[k], h) - 0.5*linDot(mu, sInvMu) - 0.5*cAc
		logw[k] = math.Log(g.Weights[k]) + logZ
	}
	return NewGMM(softmaxWeights(logw), means, covs)
}

// softmaxWeights turns log-weights into normalised weights without overflow.
func softmaxWeights(logw []float64) []float64 {
	lse := logSumExp(logw)
	w := make([]float64, len(logw))
	for i, v := range logw {
		w[i] = math.Exp(v - lse)
	}
	return w
}
