package vec

import (
	"fmt"
	"math"
)

// The loops below work in float64 on float32 storage: the CPU backend's reductions and its
// optimizer step. Their vector forms (amd64, AVX2) run four or eight float64 lanes, each lane
// doing the Go loop's operations on its element in the Go loop's order, unfused, so the
// results are the same bit for bit (TestFloat64FormsAreLoops).

// Accumulate adds x into acc elementwise in float64: acc[i] += float64(x[i]) for i < len(acc).
func Accumulate(acc []float64, x []float32) {
	if len(x) < len(acc) {
		panic(fmt.Sprintf("vec: accumulating %d sums from %d values", len(acc), len(x)))
	}
	n := vectorAccumulate(acc, x)
	for i := n; i < len(acc); i++ {
		acc[i] += float64(x[i])
	}
}

// AdamW is one AdamW step's constants, in float64: the gradient scale, the moment decays
// and their complements, the bias corrections 1 − βᵗ, ε, the weight-decay factor 1 − lr·λ
// and the learning rate.
type AdamW struct {
	Scale, B1, C1, B2, C2, BC1, BC2, Eps, Decay, LR float64
}

// NewAdamW computes the constants of step t (counting from 1).
func NewAdamW(lr, beta1, beta2, eps, weightDecay, gradScale float64, t int) AdamW {
	return AdamW{
		Scale: gradScale,
		B1:    beta1, C1: 1 - beta1,
		B2: beta2, C2: 1 - beta2,
		BC1: 1 - math.Pow(beta1, float64(t)), BC2: 1 - math.Pow(beta2, float64(t)),
		Eps: eps, Decay: 1 - lr*weightDecay, LR: lr,
	}
}

// Step updates the parameters p and the moments m and v from the gradients g, elementwise,
// for i < len(p):
//
//	g' = g·scale, m = β₁m + (1−β₁)g', v = β₂v + (1−β₂)g'g',
//	p = p·decay − lr·(m/bc₁) / (√(v/bc₂) + ε)
//
// in float64. m and v are stored back as float32; the update uses their float64 values from
// before that rounding. g, m and v must be at least as long as p.
func (a *AdamW) Step(p, g, m, v []float32) {
	if len(g) < len(p) || len(m) < len(p) || len(v) < len(p) {
		panic(fmt.Sprintf("vec: AdamW over %d parameters with %d gradients and moments of %d and %d", len(p), len(g), len(m), len(v)))
	}
	for i := vectorAdamW(a, p, g, m, v); i < len(p); i++ {
		gi := float64(g[i]) * a.Scale
		// The explicit conversions keep the compiler from fusing a multiply into the add
		// (it may at GOAMD64=v3), so this loop and the vector form round alike everywhere.
		mi := float64(a.B1*float64(m[i])) + float64(a.C1*gi)
		vi := float64(a.B2*float64(v[i])) + float64(float64(a.C2*gi)*gi)
		m[i], v[i] = float32(mi), float32(vi)
		step := (mi / a.BC1) / (math.Sqrt(vi/a.BC2) + a.Eps)
		p[i] = float32(float64(float64(p[i])*a.Decay) - float64(a.LR*step))
	}
}
