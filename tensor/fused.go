package tensor

import (
	"fmt"
	"math"
)

// FusedDiffusion is an optional extension of Backend: single-pass kernels for the per-sample ops
// of diffusion RL — one Euler–Maruyama sampler step with its Gaussian log-probability, and the
// per-sample squared error. A backend implements it when it has such kernels (the CPU and CUDA
// backends do); for any other backend Fused composes the same ops from the Backend primitives,
// so a new backend need not know about diffusion at all. tensor/backendtest checks a backend's
// fused ops against the float64 definitions and against the composed fallback.
//
// All operands are contiguous [batch, dim] views (Batch, Dim in SDEArgs), per-sample outputs
// are [batch].
type FusedDiffusion interface {
	// SDEStep: from x (current latent) and v (velocity) computes the Gaussian step mean μ and
	// std (SDEArgs.Coef); when z is non-nil it writes xNext = μ + std·z; then, with xNext as the
	// observed sample, writes logp[b] = −W·mean_D (xNext−μ)² + K.
	SDEStep(xNext, logp, x, v, z Storage, a SDEArgs)
	// SDEStepBackward writes dv = ∂(Σ_b dlogp[b]·logp[b])/∂v for fixed x, xNext.
	SDEStepBackward(dv, dlogp, x, v, xNext Storage, a SDEArgs)
	// SqErr writes e[b] = mean_D (v − target)² for a [batch, dim] pair (the per-sample
	// flow-matching error of AWM and the RAM regression).
	SqErr(e, v, target Storage, batch, dim int)
	// SqErrBackward writes dv = de[b] · 2(v − target)/dim.
	SqErrBackward(dv, de, v, target Storage, batch, dim int)
}

// Fused returns b's own fused diffusion kernels when it has them, else Composed(b).
func Fused(b Backend) FusedDiffusion {
	if f, ok := b.(FusedDiffusion); ok {
		return f
	}
	return Composed(b)
}

// SDEKind picks the stochastic sampler of one Euler–Maruyama step. What the samplers are, and
// where they come from, is documented with diffusion.SDEConfig; here is only the algebra of one
// step (SDEArgs.Coef).
type SDEKind uint8

const (
	SDEFlow SDEKind = iota // the Flow-GRPO SDE (marginal-preserving drift)
	SDECPS                 // coefficients-preserving sampling
)

// SDEArgs are the per-step scalars of the fused Euler–Maruyama step. All samples of the batch
// share one noise level. Sigma is the current σ, SigmaNext the next one (dt = SigmaNext−Sigma < 0).
// Flow kind: the caller passes the already-resolved noise scale ST = a·√(σ/(1−σ̃)) (the σ̃ rule
// for σ = 1 lives in package diffusion). CPS kind: ST holds the noise level a.
type SDEArgs struct {
	Kind             SDEKind
	Batch, Dim       int // samples, elements per sample
	Sigma, SigmaNext float32
	ST               float32
}

// SDECoef are the constants of one step, in float64. For both kinds the mean is affine in x and
// v, μ = CX·x + CV·v, the step is x' = μ + Std·z, and logp = −W·mean_D (x'−μ)² + K.
type SDECoef struct {
	CX, CV float64
	Std    float64
	W, K   float64
}

// Coef resolves the step's constants:
//
//	Flow: μ = x + [v + ST²/(2σ)·(x + (1−σ)v)]·dt, Std = ST·√(−dt), W = 1/(2Std²),
//	      K = −log Std − ½log 2π (the Gaussian log-density per element);
//	CPS:  Std = σ'·sin(ST·π/2), μ = (1−σ')·(x − σv) + √(σ'² − Std²)·(x + (1−σ)v), W = 1, K = 0
//	      (the log-prob without its constants).
func (a SDEArgs) Coef() SDECoef {
	sigma, next, st := float64(a.Sigma), float64(a.SigmaNext), float64(a.ST)
	switch a.Kind {
	case SDEFlow:
		dt := next - sigma
		c := st * st / (2 * sigma)
		std := st * math.Sqrt(-dt)
		return SDECoef{CX: 1 + c*dt, CV: (1 + c*(1-sigma)) * dt, Std: std,
			W: 1 / (2 * std * std), K: -math.Log(std) - 0.5*math.Log(2*math.Pi)}
	case SDECPS:
		std := next * math.Sin(st*math.Pi/2)
		r := math.Sqrt(max(next*next-std*std, 0))
		return SDECoef{CX: (1 - next) + r, CV: -(1-next)*sigma + r*(1-sigma), Std: std, W: 1}
	}
	panic(fmt.Sprintf("tensor: unknown SDE kind %d", a.Kind))
}
