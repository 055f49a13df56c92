package rl

// Advantage Weighted Matching (docs/algorithms.md §4): the pretraining flow-matching loss on the clean
// endpoints of on-policy rollouts, turned into a log-likelihood proxy ℓ_θ and trained with a
// PPO-style advantage-weighted objective, plus velocity-space KL terms to the reference model and
// to an EMA of the policy.

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/tensor"
)

// Weighting turns the per-sample flow-matching error e = mean_D (v_θ − (ε − x0))² into AWM's
// log-likelihood proxy ℓ (§4.4; higher is better).
type Weighting uint8

const (
	WeightGHuber  Weighting = iota // −(σ/p)((e + 1e-10)^p − (1e-10)^p), p = GHuberP (default)
	WeightUniform                  // −e
	WeightT                        // −σ e
	WeightT2                       // −σ² e
	WeightHuber                    // −σ (√(e + 1e-10) − 1e-5)
)

var weightingNames = [...]string{"ghuber", "Uniform", "t", "t**2", "huber"}

func (w Weighting) String() string {
	if int(w) < len(weightingNames) {
		return weightingNames[w]
	}
	return "weighting(?)"
}

// ParseWeighting reads a weighting by its name in the AWM configs ("ghuber", "Uniform", "t",
// "t**2", "huber"; "uniform" is accepted too).
func ParseWeighting(s string) (Weighting, error) {
	for i, n := range weightingNames {
		if s == n {
			return Weighting(i), nil
		}
	}
	if s == "uniform" {
		return WeightUniform, nil
	}
	return 0, fmt.Errorf("rl: unknown AWM weighting %q (valid: ghuber, Uniform, t, t**2, huber)", s)
}

// AWMConfig holds AWM's hyperparameters; DefaultAWMConfig gives the official GenEval setting.
type AWMConfig struct {
	Weighting Weighting
	GHuberP   float64 // exponent of the ghuber weighting (0.25)

	// ClipRange is the PPO clip c: the ratio is clipped to [1−c, 1+c] (1: inactive on-policy).
	ClipRange float64
	// KLBeta weights the velocity-space KL to the reference, mean (v_θ − v_ref)² (0.001).
	KLBeta float64
	// EMABeta weights the KL-EMA term mean (v_θ − v_ema)² (1); it needs an EMA adapter, and like
	// the official code it applies only when KLBeta > 0 (docs/algorithms.md §4.7).
	EMABeta float64
	// OffPolicy takes ℓ_old from the lagged adapter instead of sg(ℓ_θ) (§4.5).
	OffPolicy bool

	// Training noise levels (§4.3): Timesteps indices of the GridSteps-step shifted sampling grid,
	// stratified by TimeType over the first Fraction of the grid, drawn once per micro-batch.
	Timesteps int                   // K (6)
	TimeType  diffusion.AWMTimeType // AWMDiscreteWoInit
	GridSteps int                   // 14
	Shift     float64               // 3
	Fraction  float64               // 0.9
}

// DefaultAWMConfig is the official SD3.5-M GenEval configuration (§4.8).
func DefaultAWMConfig() AWMConfig {
	return AWMConfig{
		Weighting: WeightGHuber, GHuberP: 0.25, ClipRange: 1, KLBeta: 0.001, EMABeta: 1,
		Timesteps: 6, TimeType: diffusion.AWMDiscreteWoInit, GridSteps: 14, Shift: diffusion.SD3Shift, Fraction: 0.9,
	}
}

// DrawAWM draws a micro-batch's training points (§4.3): K noise levels from the grid strata,
// shared by every endpoint, and fresh noise for every (endpoint, level) pair.
func DrawAWM(rng *tensor.RNG, cfg AWMConfig, x0 *tensor.Tensor) Draws {
	grid := diffusion.SigmaGrid(cfg.GridSteps, cfg.Shift)
	levels := diffusion.AWMSigmas(rng, cfg.TimeType, grid, cfg.Timesteps, cfg.Fraction)
	return SharedLevelDraws(rng, levels, x0)
}

// SharedLevelDraws builds draws with the given K levels shared by all B endpoints of x0 and
// fresh standard-normal noise per row.
func SharedLevelDraws(rng *tensor.RNG, levels []float64, x0 *tensor.Tensor) Draws {
	B := x0.Dim(0)
	sigma := make([]float32, 0, len(levels)*B)
	for _, s := range levels {
		for i := 0; i < B; i++ {
			sigma = append(sigma, float32(s))
		}
	}
	shape := append([]int{len(levels) * B}, x0.Shape()[1:]...)
	return Draws{K: len(levels), Sigma: sigma, Eps: rng.Normal(x0.Backend(), shape...)}
}

// AWMStats are the logged terms of one AWM loss (means over the K·B rows).
type AWMStats struct {
	Loss      float64 // total
	PG        float64 // policy term
	KL        float64 // mean (v_θ − v_ref)², before β (0 when β = 0)
	EMAKL     float64 // mean (v_θ − v_ema)², before ema_beta (0 when unused)
	FMErr     float64 // mean flow-matching error e
	RatioMean float64 // mean ρ (exactly 1 on-policy)
	ClipFrac  float64 // fraction of rows whose ρ lies outside [1−c, 1+c]
}

// AWMLoss is AWM's loss on one micro-batch at the points d (§4.3–4.7):
//
//	e  = mean_D (v_θ(x_σ) − (ε − x0))²,  ℓ = weighting(e, σ),  ρ = exp(ℓ − ℓ_old)
//	L  = mean_{K,B} max(−Aρ, −A·clip(ρ, 1−c, 1+c)) + β·mean (v_θ − v_ref)² + ema_beta·mean (v_θ − v_ema)²
//
// with ℓ_old = sg(ℓ) on-policy (so ρ ≡ 1 but ∇ρ = ∇ℓ), or the lagged adapter's ℓ when
// cfg.OffPolicy. Both KL terms are present only when β > 0, as in the official code (§4.7). Call Backward on the result; gradients reach the policy adapter only.
func AWMLoss(p *Policies, b Batch, d Draws, cfg AWMConfig) (*tensor.Tensor, AWMStats) {
	d.check("AWMLoss", b)
	xt, y := noisedBatch(b.X0, d.K, d.Sigma, d.Eps)
	c := repeatCond(b.Cond, d.K)
	be := xt.Backend()

	var vRef, vEMA, lOld *tensor.Tensor
	if cfg.KLBeta > 0 {
		vRef = p.Ref(xt, d.Sigma, c)
	}
	if cfg.KLBeta > 0 && cfg.EMABeta != 0 && p.EMA != "" {
		vEMA = p.EMAVelocity(xt, d.Sigma, c)
	}
	if cfg.OffPolicy {
		vOld := p.OldVelocity(xt, d.Sigma, c)
		tensor.NoGrad(func() { lOld = logLikelihood(tensor.SqErr(vOld, y), d.Sigma, cfg) })
	}

	v := p.Theta(xt, d.Sigma, c)
	e := tensor.SqErr(v, y)
	ell := logLikelihood(e, d.Sigma, cfg)
	if lOld == nil {
		lOld = ell.Detach()
	}
	ratio := tensor.Exp(tensor.Sub(ell, lOld))
	adv := vector(be, perRow(b.Adv, d.K))
	pg := ppoClipLoss(ratio, adv, cfg.ClipRange, cfg.ClipRange)

	var st AWMStats
	loss := pg
	if vRef != nil {
		kl := tensor.Mean(tensor.SqErr(v, vRef))
		loss = tensor.Add(loss, tensor.MulScalar(kl, float32(cfg.KLBeta)))
		st.KL = item(kl)
	}
	if vEMA != nil {
		ekl := tensor.Mean(tensor.SqErr(v, vEMA))
		loss = tensor.Add(loss, tensor.MulScalar(ekl, float32(cfg.EMABeta)))
		st.EMAKL = item(ekl)
	}
	st.Loss, st.PG = item(loss), item(pg)
	st.FMErr = meanOf(e.Data())
	st.RatioMean, st.ClipFrac = ratioStats(ratio.Data(), cfg.ClipRange, cfg.ClipRange)
	return loss, st
}

// logLikelihood applies the weighting of §4.4 to the per-row errors e [N] at levels sigma [N].
func logLikelihood(e *tensor.Tensor, sigma []float32, cfg AWMConfig) *tensor.Tensor {
	be := e.Backend()
	s := make([]float64, len(sigma))
	for i, v := range sigma {
		s[i] = float64(v)
	}
	switch cfg.Weighting {
	case WeightUniform:
		return tensor.Neg(e)
	case WeightT:
		return tensor.Neg(tensor.Mul(e, vector(be, s)))
	case WeightT2:
		s2 := make([]float64, len(s))
		for i, v := range s {
			s2[i] = v * v
		}
		return tensor.Neg(tensor.Mul(e, vector(be, s2)))
	case WeightHuber:
		r := tensor.AddScalar(tensor.Sqrt(tensor.AddScalar(e, 1e-10)), -1e-5)
		return tensor.Neg(tensor.Mul(r, vector(be, s)))
	case WeightGHuber:
		pw := cfg.GHuberP
		if !(pw > 0) {
			panic(fmt.Sprintf("rl: ghuber weighting needs an exponent p > 0, got %g", pw))
		}
		g := tensor.AddScalar(tensor.Pow(tensor.AddScalar(e, 1e-10), float32(pw)), -float32(math.Pow(1e-10, pw)))
		w := make([]float64, len(s))
		for i, v := range s {
			w[i] = -v / pw
		}
		return tensor.Mul(g, vector(be, w))
	}
	panic(fmt.Sprintf("rl: unknown AWM weighting %d", cfg.Weighting))
}

// ppoClipLoss is the clipped surrogate mean max(−Aρ, −A·clip(ρ, 1−lo, 1+hi)) over rows.
func ppoClipLoss(ratio, adv *tensor.Tensor, lo, hi float64) *tensor.Tensor {
	negA := tensor.Neg(adv)
	unclipped := tensor.Mul(negA, ratio)
	clipped := tensor.Mul(negA, tensor.Clamp(ratio, float32(1-lo), float32(1+hi)))
	return tensor.Mean(tensor.Maximum(unclipped, clipped))
}

// ratioStats is the mean ratio and the fraction outside [1−lo, 1+hi].
func ratioStats(r []float32, lo, hi float64) (mean, clipFrac float64) {
	out := 0
	for _, v := range r {
		if float64(v) < 1-lo || float64(v) > 1+hi {
			out++
		}
	}
	if len(r) > 0 {
		clipFrac = float64(out) / float64(len(r))
	}
	return meanOf(r), clipFrac
}
