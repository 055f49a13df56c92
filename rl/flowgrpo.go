package rl

// Flow-GRPO (docs/algorithms.md §2): PPO on the per-step Gaussian policy of the Flow-SDE sampler. Each stored
// rollout step j is replayed with the current weights: the velocity is recomputed at
// (x_j, σ_j), the log-probability of the stored x_{j+1} under it is compared with the sampling
// policy's, and a clipped surrogate plus a KL to the reference step mean is minimised.

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/tensor"
)

// GRPOConfig holds Flow-GRPO's hyperparameters; DefaultGRPOConfig gives the SD3.5-M setting.
type GRPOConfig struct {
	ClipRange        float64 // PPO ε: ratio clipped to [1−ε, 1+ε] (1e-4)
	AdvClip          float64 // advantages clipped to [−AdvClip, AdvClip] (5); 0: none
	KLBeta           float64 // β of the KL to the reference step mean (0.04)
	TimestepFraction float64 // the first ⌊T·fraction⌋ steps are trained (0.99)

	// The training forward uses the rollout's guidance v = v_u + w(v_c − v_u), with the gradient
	// through both branches (docs/algorithms.md §2.4).
	CFG    float32        // w (4.5); 1 disables guidance
	Uncond diffusion.Cond // one row: the empty prompt (needed when CFG ≠ 1)

	SDE diffusion.SDEConfig // the sampler the rollouts used (Flow SDE, a = 0.7)
}

// DefaultGRPOConfig is the SD3.5-M configuration of §2.6 (set Uncond before use with CFG).
func DefaultGRPOConfig() GRPOConfig {
	return GRPOConfig{ClipRange: 1e-4, AdvClip: 5, KLBeta: 0.04, TimestepFraction: 0.99, CFG: 4.5,
		SDE: diffusion.SDEConfig{Kind: tensor.SDEFlow, Noise: 0.7}}
}

// TrainSteps is K = ⌊T·TimestepFraction⌋, the number of rollout steps trained (steps 0…K−1).
func (c GRPOConfig) TrainSteps(T int) int {
	return int(math.Floor(float64(T)*c.TimestepFraction + 1e-9))
}

// GRPOStats are the logged terms of one Flow-GRPO step loss (means over the batch).
type GRPOStats struct {
	Loss      float64
	PG        float64 // clipped surrogate
	KL        float64 // mean_B[mean_D (μ_θ − μ_ref)²/(2 s²)], before β
	RatioMean float64
	ClipFrac  float64 // fraction of samples whose ratio lies outside [1−ε, 1+ε]
	ApproxKL  float64 // mean ½(log π_θ − log π_old)², PPO's diagnostic
	Kept      int     // samples trained (FlowGRPOAccumulate drops zero advantages)
}

// FlowGRPOLoss is the loss of rollout step j for the B samples of r with prompts c and
// advantages adv (§2.4):
//
//	ρ = exp(log π_θ(x_{j+1} | x_j) − log π_old),  A = clip(adv, ±AdvClip)
//	L = mean_B max(−Aρ, −A·clip(ρ, 1−ε, 1+ε)) + β·mean_B[mean_D (μ_θ − μ_ref)² / (2 s²)]
//
// where log π_old is the rollout's stored log-prob, μ is the step mean and s the step's noise
// scale (s_t for the Flow SDE, the std for CPS). Gradients flow through v_θ only. Callers run
// Backward per step; dividing each step's loss by the number of accumulated steps reproduces the
// reference's gradient accumulation.
func FlowGRPOLoss(p *Policies, r *diffusion.Rollout, j int, c diffusion.Cond, adv []float64, cfg GRPOConfig) (*tensor.Tensor, GRPOStats) {
	if j < 0 || j+1 >= len(r.Latents) || j >= len(r.LogProbs) || len(r.Sigmas) != len(r.Latents) {
		panic(fmt.Sprintf("rl.FlowGRPOLoss: step %d of a rollout with %d latents, %d log-prob rows, %d levels", j, len(r.Latents), len(r.LogProbs), len(r.Sigmas)))
	}
	x, xNext := r.Latents[j], r.Latents[j+1]
	checkBatch("FlowGRPOLoss", x, c, adv)
	B := x.Dim(0)
	be := x.Backend()
	args := cfg.SDE.Args(r.Sigmas, j, B, x.Size()/B)
	sigma := make([]float32, B)
	for i := range sigma {
		sigma[i] = float32(r.Sigmas[j])
	}

	a := make([]float64, B)
	for i, v := range adv {
		if cfg.AdvClip > 0 {
			v = max(-cfg.AdvClip, min(cfg.AdvClip, v))
		}
		a[i] = v
	}
	logpOld := tensor.New(be, r.LogProbs[j], B)

	var vRef *tensor.Tensor
	if cfg.KLBeta != 0 {
		tensor.NoGrad(func() { vRef = p.Guided("", x, sigma, c, cfg.Uncond, cfg.CFG) })
	}
	v := p.Guided(p.Policy, x, sigma, c, cfg.Uncond, cfg.CFG)
	logp := tensor.SDELogProb(x, v, xNext, args)
	ratio := tensor.Exp(tensor.Sub(logp, logpOld))
	pg := ppoClipLoss(ratio, vector(be, a), cfg.ClipRange, cfg.ClipRange)

	var st GRPOStats
	loss := pg
	if vRef != nil {
		cx, cv, s := stepMeanCoef(args)
		if s == 0 {
			panic(fmt.Sprintf("rl.FlowGRPOLoss: step %d is deterministic (noise scale 0); its KL is undefined", j))
		}
		var muRef *tensor.Tensor
		tensor.NoGrad(func() { muRef = stepMean(x, vRef, cx, cv) })
		kl := tensor.MulScalar(tensor.Mean(tensor.SqErr(stepMean(x, v, cx, cv), muRef)), float32(1/(2*s*s)))
		loss = tensor.Add(loss, tensor.MulScalar(kl, float32(cfg.KLBeta)))
		st.KL = item(kl)
	}
	st.Loss, st.PG = item(loss), item(pg)
	st.RatioMean, st.ClipFrac = ratioStats(ratio.Data(), cfg.ClipRange, cfg.ClipRange)
	lp := logp.Data()
	for i, v := range lp {
		d := float64(v) - float64(r.LogProbs[j][i])
		st.ApproxKL += 0.5 * d * d / float64(B)
	}
	return loss, st
}

// FlowGRPOAccumulate trains one group's rollout r: it drops the samples whose advantage is zero
// (docs/algorithms.md §2.3: they carry no policy signal and would only add KL terms and dilute
// the mean), then runs Backward on the losses of the first TrainSteps(T) steps of the kept rows,
// in order, each multiplied by weight/TrainSteps(T). With weight = kept/(kept rows of every group
// of the optimiser step) the accumulated gradient is the mean over all kept samples and trained
// steps, as the reference's micro-batches of kept samples give. It returns the step statistics
// averaged over the steps, and Kept; with no row kept nothing is trained. The caller clips and
// steps.
//
// The reference also re-adds a few zero-advantage samples at random so that the kept count splits
// into whole micro-batches; here a group is one micro-batch of any size, so nothing is re-added.
func FlowGRPOAccumulate(p *Policies, r *diffusion.Rollout, c diffusion.Cond, adv []float64, cfg GRPOConfig, weight float64) GRPOStats {
	K := cfg.TrainSteps(len(r.Latents) - 1)
	if K < 1 || !(weight > 0) {
		panic(fmt.Sprintf("rl.FlowGRPOAccumulate: %d trained steps, weight %g", K, weight))
	}
	keep := NonZero(adv)
	if len(keep) == 0 {
		return GRPOStats{}
	}
	if len(keep) < len(adv) {
		r, c, adv = keepRows(r, c, adv, keep)
	}
	scale := float32(weight / float64(K))
	sum := GRPOStats{Kept: len(keep)}
	for j := 0; j < K; j++ {
		loss, st := FlowGRPOLoss(p, r, j, c, adv, cfg)
		tensor.MulScalar(loss, scale).Backward()
		sum.Loss += st.Loss / float64(K)
		sum.PG += st.PG / float64(K)
		sum.KL += st.KL / float64(K)
		sum.RatioMean += st.RatioMean / float64(K)
		sum.ClipFrac += st.ClipFrac / float64(K)
		sum.ApproxKL += st.ApproxKL / float64(K)
	}
	return sum
}

// keepRows is the part of a rollout, its prompts and advantages at the sample indices keep.
func keepRows(r *diffusion.Rollout, c diffusion.Cond, adv []float64, keep []int) (*diffusion.Rollout, diffusion.Cond, []float64) {
	out := &diffusion.Rollout{Sigmas: r.Sigmas}
	tensor.NoGrad(func() {
		for _, x := range r.Latents {
			rows := make([]*tensor.Tensor, len(keep))
			for k, i := range keep {
				rows[k] = tensor.Slice(x, 0, i, i+1)
			}
			out.Latents = append(out.Latents, tensor.Concat(0, rows...))
		}
	})
	for _, lp := range r.LogProbs {
		row := make([]float32, len(keep))
		for k, i := range keep {
			row[k] = lp[i]
		}
		out.LogProbs = append(out.LogProbs, row)
	}
	kc := diffusion.Cond{B: len(keep), L: c.L}
	a := make([]float64, len(keep))
	for k, i := range keep {
		kc.Tokens = append(kc.Tokens, c.Tokens[i*c.L:(i+1)*c.L]...)
		kc.Mask = append(kc.Mask, c.Mask[i*c.L:(i+1)*c.L]...)
		a[k] = adv[i]
	}
	return out, kc, a
}

// stepMeanCoef returns the step mean μ = cx·x + cv·v of the sampler step a and the scale s that
// the KL divides by: for the Flow SDE μ = x + [v + s_t²/(2σ)(x + (1−σ)v)]dt and s = s_t; for
// CPS μ = (1−σ')(x − σv) + √(σ'² − std²)(x + (1−σ)v) and s = std = σ'·sin(aπ/2).
func stepMeanCoef(a tensor.SDEArgs) (cx, cv, s float64) {
	sigma, next, st := float64(a.Sigma), float64(a.SigmaNext), float64(a.ST)
	switch a.Kind {
	case tensor.SDEFlow:
		dt := next - sigma
		k := st * st / (2 * sigma)
		return 1 + k*dt, (1 + k*(1-sigma)) * dt, st
	case tensor.SDECPS:
		std := next * math.Sin(st*math.Pi/2)
		root := math.Sqrt(max(next*next-std*std, 0))
		return (1 - next) + root, -(1-next)*sigma + root*(1-sigma), std
	}
	panic(fmt.Sprintf("rl: unknown SDE kind %d", a.Kind))
}

// stepMean is cx·x + cv·v (taped through v).
func stepMean(x, v *tensor.Tensor, cx, cv float64) *tensor.Tensor {
	return tensor.Add(tensor.MulScalar(x, float32(cx)), tensor.MulScalar(v, float32(cv)))
}
