package diffusion

import (
	"fmt"

	"github.com/flowtune/flowtune/tensor"
)

// SampleODE integrates dx = v dt with Euler steps along grid (σ_0 = 1 … σ_N = 0, docs/algorithms.md §1.4),
// starting from the noise x, and returns the clean sample. No tape is recorded.
func SampleODE(m VelocityModel, x *tensor.Tensor, grid []float64, c Cond) *tensor.Tensor {
	checkGrid(grid)
	B := x.Dim(0)
	tensor.NoGrad(func() {
		for i := 0; i+1 < len(grid); i++ {
			v := m.Velocity(x, fill(B, float32(grid[i])), c)
			x = EulerStep(x, v, grid[i+1]-grid[i])
		}
	})
	return x
}

// EulerStep returns x + dt·v (the Euler ODE step; one fused Axpby on the backend).
func EulerStep(x, v *tensor.Tensor, dt float64) *tensor.Tensor {
	b := x.Backend()
	out := tensor.Empty(b, x.Shape()...)
	b.Axpby(out.Storage(), 1, x.Storage(), float32(dt), v.Storage())
	return out
}

// SDEConfig picks the stochastic sampler of Flow-GRPO rollouts (docs/algorithms.md §2.1). Both replace the
// deterministic Euler step from σ to σ' < σ by a Gaussian one, x' = μ + std·z with z ~ N(0, I),
// whose log-density is what Flow-GRPO's policy ratio is made of:
//
//   - tensor.SDEFlow, the Flow-GRPO SDE: the reverse-time SDE whose marginals match the ODE's,
//     dx = [v + s²/(2σ)·(x + (1−σ)v)]dt + s·dw, taken as one Euler–Maruyama step, so
//     μ = x + [v + s²/(2σ)·(x + (1−σ)v)]·dt and std = s·√(−dt) with dt = σ' − σ and the noise
//     scale s = FlowSDEScale(grid, i, Noise); the log-prob is the full Gaussian log-density
//     (per element, averaged over the sample).
//   - tensor.SDECPS, coefficients-preserving sampling: from the predicted data x̂0 = x − σv and
//     noise ε̂ = x + (1−σ)v, x' = (1−σ')·x̂0 + √(σ'² − std²)·ε̂ + std·z with std = σ'·sin(Noise·π/2),
//     so x' has exactly the noise level σ'; its log-prob is −mean (x'−μ)², without the
//     constants (they cancel in the ratio).
//
// The fused step (tensor.SDESample, tensor.SDELogProb) evaluates these with the constants of
// tensor.SDEArgs.Coef; Args resolves its scalars for one step of a grid.
type SDEConfig struct {
	Kind  tensor.SDEKind // tensor.SDEFlow (default) or tensor.SDECPS
	Noise float64        // noise level a: 0.7 for the Flow SDE, 0.8 for CPS
}

// Args resolves the fused-step scalars for step i of grid, for a batch of B samples of dim D.
func (s SDEConfig) Args(grid []float64, i, B, D int) tensor.SDEArgs {
	a := tensor.SDEArgs{Kind: s.Kind, Batch: B, Dim: D, Sigma: float32(grid[i]), SigmaNext: float32(grid[i+1])}
	if s.Kind == tensor.SDECPS {
		a.ST = float32(s.Noise)
	} else {
		a.ST = float32(FlowSDEScale(grid, i, s.Noise))
	}
	return a
}

// Rollout is what a Flow-GRPO sampling pass keeps per batch (docs/algorithms.md §2.2): the latent before each
// step and the final one, and the log-probability of each step under the sampling policy.
type Rollout struct {
	Sigmas   []float64        // σ_0 … σ_T
	Latents  []*tensor.Tensor // T+1 tensors [B, ...]: Latents[j] → Latents[j+1] is step j
	LogProbs [][]float32      // [T][B]
}

// Final is the clean sample at σ = 0.
func (r *Rollout) Final() *tensor.Tensor { return r.Latents[len(r.Latents)-1] }

// SampleSDE runs the Euler–Maruyama sampler along grid from the noise x, drawing step noise
// from rng, and records the rollout. Each step is one fused backend op (mean, noise, next latent
// and per-sample log-prob).
func SampleSDE(m VelocityModel, x *tensor.Tensor, grid []float64, c Cond, cfg SDEConfig, rng *tensor.RNG) *Rollout {
	checkGrid(grid)
	B := x.Dim(0)
	D := x.Size() / B
	r := &Rollout{Sigmas: append([]float64(nil), grid...), Latents: []*tensor.Tensor{x}}
	tensor.NoGrad(func() {
		for i := 0; i+1 < len(grid); i++ {
			v := m.Velocity(x, fill(B, float32(grid[i])), c)
			z := rng.Normal(x.Backend(), x.Shape()...)
			next, logp := tensor.SDESample(x, v, z, cfg.Args(grid, i, B, D))
			r.Latents = append(r.Latents, next)
			r.LogProbs = append(r.LogProbs, logp.Data())
			x = next
		}
	})
	return r
}

func checkGrid(grid []float64) {
	if len(grid) < 2 {
		panic(fmt.Sprintf("diffusion: a sampling grid needs at least 2 levels, got %d", len(grid)))
	}
	for i := 0; i+1 < len(grid); i++ {
		if !(grid[i+1] < grid[i]) {
			panic(fmt.Sprintf("diffusion: sampling grid must decrease, σ[%d]=%g ≥ σ[%d]=%g", i+1, grid[i+1], i, grid[i]))
		}
	}
}
