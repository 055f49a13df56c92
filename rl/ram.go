package rl

// Reinforce Adjoint Matching (docs/algorithms.md §6.3–6.5): regress the current velocity onto the
// reward-corrected target T = v_ref + m·A·((ε − x0) − v_old), built without the tape, at K fresh
// re-noisings of every on-policy endpoint. No reward gradients, no SDE, no log-probs.

import (
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/tensor"
)

// RAMConfig holds RAM's hyperparameters.
type RAMConfig struct {
	Multiplier float64 // m, the reward multiplier (100 for GenEval/OCR, 1000 for PickScore)
	Targets    int     // K re-noisings per endpoint (8)
}

// DefaultRAMConfig is the GenEval/OCR setting of §6.5.
func DefaultRAMConfig() RAMConfig { return RAMConfig{Multiplier: 100, Targets: 8} }

// DrawRAM draws K training points per endpoint of x0, each with its own t from p(t) ∝ t
// (t = √u) and fresh noise (§6.5).
func DrawRAM(rng *tensor.RNG, k int, x0 *tensor.Tensor) Draws {
	n := k * x0.Dim(0)
	sigma := make([]float32, n)
	for i := range sigma {
		sigma[i] = float32(diffusion.SampleLinearT(rng))
	}
	shape := append([]int{n}, x0.Shape()[1:]...)
	return Draws{K: k, Sigma: sigma, Eps: rng.Normal(x0.Backend(), shape...)}
}

// RAMStats are the logged terms of one RAM loss (means over the K·B rows).
type RAMStats struct {
	Loss   float64 // mean (v_θ − T)²
	RefGap float64 // mean (v_θ − v_ref)²: how far the policy has moved
	Shift  float64 // mean (T − v_ref)²: size of the reward correction
}

// RAMLoss is RAM's loss on one micro-batch at the points d (§6.4):
//
//	T = v_ref(x_t) + m·A·((ε − x0) − v_old(x_t))      (no tape)
//	L = mean_{K,B} mean_D (v_θ(x_t) − T)²
//
// v_old is the lagged adapter's velocity, or sg(v_θ) when Policies has no lagged adapter. The
// velocities are the plain conditional ones (no CFG). With m·A = 0 the target is v_ref, so at
// θ = θ_ref the loss and its gradient are exactly zero. Call Backward on the result.
func RAMLoss(p *Policies, b Batch, d Draws, cfg RAMConfig) (*tensor.Tensor, RAMStats) {
	d.check("RAMLoss", b)
	xt, y := noisedBatch(b.X0, d.K, d.Sigma, d.Eps)
	c := repeatCond(b.Cond, d.K)

	vRef := p.Ref(xt, d.Sigma, c)
	vOld := p.OldVelocity(xt, d.Sigma, c)
	var target *tensor.Tensor
	tensor.NoGrad(func() {
		mA := make([]float64, 0, len(d.Sigma))
		for _, a := range perRow(b.Adv, d.K) {
			mA = append(mA, cfg.Multiplier*a)
		}
		target = tensor.Add(vRef, tensor.Mul(rowScalars(xt, mA), tensor.Sub(y, vOld)))
	})

	v := p.Theta(xt, d.Sigma, c)
	loss := tensor.Mean(tensor.SqErr(v, target))
	var st RAMStats
	st.Loss = item(loss)
	tensor.NoGrad(func() {
		st.RefGap = item(tensor.MSE(v.Detach(), vRef))
		st.Shift = item(tensor.MSE(target, vRef))
	})
	return loss, st
}
