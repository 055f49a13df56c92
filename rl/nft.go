package rl

// DiffusionNFT (docs/algorithms.md §5): contrastive flow matching on the forward process. The advantage is
// mapped to an "optimality probability" r ∈ [0, 1]; an implicit positive policy
// v⁺ = β v_θ + (1−β) v_old is pulled toward the clean endpoint with weight r and an implicit
// negative policy v⁻ = (1+β) v_old − β v_θ with weight 1 − r, both in x0 space with an
// adaptive per-sample normaliser.

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/tensor"
)

// NFTConfig holds DiffusionNFT's hyperparameters.
type NFTConfig struct {
	Beta      float64 // β_nft, the guidance strength of the implicit policies (1; 0.1 for OCR)
	KLBeta    float64 // weight of mean (v_θ − v_ref)² (1e-4)
	AdvClip   float64 // Z: A is clipped to ±Z and mapped to r = A/(2Z) + ½ (5)
	GridSteps int     // the rollout grid (10 steps, shift 3) …
	Shift     float64
	Timesteps int // … of whose first GridSteps − 1 levels Timesteps are drawn per micro-batch (9: all)
}

// DefaultNFTConfig is the SD3.5-M setting of §5.
func DefaultNFTConfig() NFTConfig {
	return NFTConfig{Beta: 1, KLBeta: 1e-4, AdvClip: 5, GridSteps: 10, Shift: diffusion.SD3Shift, Timesteps: 9}
}

// DrawNFT draws a micro-batch's training points: cfg.Timesteps distinct levels picked at random
// among the first GridSteps − 1 levels of the rollout grid (the last step, σ → 0, is not
// trained), shared by every endpoint, with fresh noise per (endpoint, level). With
// Timesteps = GridSteps − 1 it trains every level in random order, as the reference does
// (docs/algorithms.md §5); with fewer it is a random subset of them.
func DrawNFT(rng *tensor.RNG, cfg NFTConfig, x0 *tensor.Tensor) Draws {
	grid := diffusion.SigmaGrid(cfg.GridSteps, cfg.Shift)
	candidates := grid[:cfg.GridSteps-1]
	if cfg.Timesteps < 1 || cfg.Timesteps > len(candidates) {
		panic(fmt.Sprintf("rl.DrawNFT: %d levels from a %d-step grid (at most %d)", cfg.Timesteps, cfg.GridSteps, len(candidates)))
	}
	perm := shuffled(rng, len(candidates))
	levels := make([]float64, cfg.Timesteps)
	for i := range levels {
		levels[i] = candidates[perm[i]]
	}
	return SharedLevelDraws(rng, levels, x0)
}

// shuffled is a Fisher–Yates permutation of 0…n−1 drawn from rng.
func shuffled(rng *tensor.RNG, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := rng.Intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// NFTStats are the logged terms of one DiffusionNFT loss.
type NFTStats struct {
	Loss   float64
	Policy float64 // the contrastive term
	KL     float64 // mean (v_θ − v_ref)², before β_KL
	PosErr float64 // mean_D (x̂0⁺ − x0)², averaged over rows
	NegErr float64 // mean_D (x̂0⁻ − x0)², averaged over rows
}

// NFTLoss is DiffusionNFT's loss on one micro-batch at the points d (§5):
//
//	r = clip(A, ±Z)/(2Z) + ½,  v⁺ = β v_θ + (1−β) sg(v_old),  v⁻ = (1+β) sg(v_old) − β v_θ
//	x̂0± = x_σ − σ v±,  w± = sg(max(mean_D |x̂0± − x0|, 1e-5)),  L± = mean_D (x̂0± − x0)² / w±
//	L = Z · mean_{K,B}[(r L⁺ + (1−r) L⁻)/β] + β_KL · mean (v_θ − v_ref)²
//
// v_old is the lagged adapter (sg(v_θ) when there is none).
func NFTLoss(p *Policies, b Batch, d Draws, cfg NFTConfig) (*tensor.Tensor, NFTStats) {
	d.check("NFTLoss", b)
	x0k := repeatRows(b.X0, d.K)
	xt, _ := noisedBatch(b.X0, d.K, d.Sigma, d.Eps)
	c := repeatCond(b.Cond, d.K)
	be := xt.Backend()
	N := xt.Dim(0)

	vOld := p.OldVelocity(xt, d.Sigma, c)
	var vRef *tensor.Tensor
	if cfg.KLBeta != 0 {
		vRef = p.Ref(xt, d.Sigma, c)
	}
	v := p.Theta(xt, d.Sigma, c)

	beta := float32(cfg.Beta)
	sig := make([]float64, N)
	for i, s := range d.Sigma {
		sig[i] = float64(s)
	}
	sigma := rowScalars(xt, sig)
	vPos := tensor.Add(tensor.MulScalar(v, beta), tensor.MulScalar(vOld, 1-beta))
	vNeg := tensor.Sub(tensor.MulScalar(vOld, 1+beta), tensor.MulScalar(v, beta))
	lPos, ePos := adaptiveX0Loss(xt, vPos, x0k, sigma)
	lNeg, eNeg := adaptiveX0Loss(xt, vNeg, x0k, sigma)

	z := cfg.AdvClip
	rPos, rNeg := make([]float64, N), make([]float64, N)
	for i, a := range perRow(b.Adv, d.K) {
		r := max(-z, min(z, a))/(2*z) + 0.5
		rPos[i] = z * r / cfg.Beta
		rNeg[i] = z * (1 - r) / cfg.Beta
	}
	policy := tensor.Mean(tensor.Add(tensor.Mul(lPos, vector(be, rPos)), tensor.Mul(lNeg, vector(be, rNeg))))

	st := NFTStats{PosErr: ePos, NegErr: eNeg}
	loss := policy
	if vRef != nil {
		kl := tensor.Mean(tensor.SqErr(v, vRef))
		loss = tensor.Add(loss, tensor.MulScalar(kl, float32(cfg.KLBeta)))
		st.KL = item(kl)
	}
	st.Loss, st.Policy = item(loss), item(policy)
	return loss, st
}

// adaptiveX0Loss returns L[n] = mean_D (x̂0 − x0)² / sg(max(mean_D |x̂0 − x0|, 1e-5)) with
// x̂0 = x_σ − σ·v, and the unnormalised error averaged over rows.
func adaptiveX0Loss(xt, v, x0, sigma *tensor.Tensor) (*tensor.Tensor, float64) {
	x0hat := tensor.Sub(xt, tensor.Mul(sigma, v))
	sq := tensor.SqErr(x0hat, x0)
	var w *tensor.Tensor
	tensor.NoGrad(func() {
		diff := tensor.Reshape(tensor.Abs(tensor.Sub(x0hat, x0)), x0.Dim(0), -1)
		w = tensor.Clamp(tensor.Mean(diff, 1), 1e-5, float32(3.4e38))
	})
	return tensor.Div(sq, w), meanOf(sq.Data())
}
