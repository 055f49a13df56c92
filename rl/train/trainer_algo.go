package train

// The per-algorithm parts of a training step: which adapter samples the rollouts, how the loss
// is accumulated over a step's rollouts, and how the lagged adapters follow the policy.
//
//	algorithm  rollouts                 loss per micro-batch                 lagged adapter after step s
//	awm        policy, ODE              rl.AWMLoss at K grid levels          "ema" ← EMA, d = min(0.3, 0.001·s)
//	ram        "old", ODE               rl.RAMLoss at K levels t = √u        "old" ← EMA, d = min(0.9, 0.01·s)
//	nft        "old", ODE               rl.NFTLoss at K random grid levels   "old" ← EMA, d = min(0.5, 0.001·s)
//	flowgrpo   policy, SDE + log-probs  rl.FlowGRPOLoss on each stored step  none (on-policy)

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

type algorithm interface {
	// rolloutAdapter is the adapter set that samples the rollouts.
	rolloutAdapter() string
	// sde reports whether rollouts are stochastic with stored log-probs, and with which SDE.
	sde() (diffusion.SDEConfig, bool)
	// train accumulates the step's gradients into the policy adapter and returns the logged
	// loss terms ("loss" and "kl" always among them), averaged over the step.
	train(b *stepBatch) (map[string]float64, error)
	// afterStep moves the lagged adapters once the optimizer has taken step s (1-based).
	afterStep(s int)
}

// newAlgorithm creates the algorithm's lagged adapters (as copies of the fresh policy) and
// returns it.
func newAlgorithm(r *run) algorithm {
	m := r.t.Model
	switch r.cfg.Algo {
	case "awm":
		if r.cfg.AWM.EMABeta != 0 && r.cfg.AWM.KLBeta > 0 { // the EMA-KL term needs kl_beta > 0 (§4.7)
			nn.CopyAdapter(m, rl.EMAAdapter, rl.PolicyAdapter)
		}
		return &awmAlgo{r: r, cfg: r.cfg.awmConfig()}
	case "ram":
		nn.CopyAdapter(m, rl.OldAdapter, rl.PolicyAdapter)
		return &ramAlgo{r: r, cfg: r.cfg.ramConfig()}
	case "nft":
		nn.CopyAdapter(m, rl.OldAdapter, rl.PolicyAdapter)
		return &nftAlgo{r: r, cfg: r.cfg.nftConfig()}
	case "flowgrpo":
		return &grpoAlgo{r: r, cfg: r.cfg.grpoConfig(r.uncond)}
	}
	panic(fmt.Sprintf("train: unknown algorithm %q", r.cfg.Algo)) // Validate rejects it first
}

// lossFn evaluates one micro-batch's loss and its logged terms.
type lossFn func(b rl.Batch) (*tensor.Tensor, map[string]float64)

// trainEndpoints accumulates the gradient of the mean loss over all P·G rollout endpoints,
// MicroBatch endpoints at a time: each micro-batch's loss enters weighted by its share of the
// endpoints, so the result does not depend on the micro-batch size (up to the draws).
func (r *run) trainEndpoints(b *stepBatch, loss lossFn) (map[string]float64, error) {
	var x0 *tensor.Tensor
	tensor.NoGrad(func() { x0 = tensor.Concat(0, b.finals...) })
	cond := diffusion.ConcatCond(b.conds...)
	N := x0.Dim(0)
	terms := map[string]float64{}
	for lo := 0; lo < N; lo += r.cfg.MicroBatch {
		hi := min(lo+r.cfg.MicroBatch, N)
		var xb *tensor.Tensor
		tensor.NoGrad(func() { xb = tensor.Slice(x0, 0, lo, hi) })
		l, t := loss(rl.Batch{X0: xb, Cond: condRows(cond, lo, hi), Adv: b.adv[lo:hi]})
		w := float64(hi-lo) / float64(N)
		lv := float64(l.Item())
		if !finite(lv) {
			return nil, fmt.Errorf("loss is %v on endpoints %d–%d", lv, lo, hi-1)
		}
		tensor.MulScalar(l, float32(w)).Backward()
		for k, v := range t {
			terms[k] += w * v
		}
	}
	return terms, nil
}

// condRows is rows lo…hi−1 of c.
func condRows(c diffusion.Cond, lo, hi int) diffusion.Cond {
	return diffusion.Cond{Tokens: c.Tokens[lo*c.L : hi*c.L], Mask: c.Mask[lo*c.L : hi*c.L], B: hi - lo, L: c.L}
}

type awmAlgo struct {
	r   *run
	cfg rl.AWMConfig
}

func (a *awmAlgo) rolloutAdapter() string           { return rl.PolicyAdapter }
func (a *awmAlgo) sde() (diffusion.SDEConfig, bool) { return diffusion.SDEConfig{}, false }

func (a *awmAlgo) train(b *stepBatch) (map[string]float64, error) {
	return a.r.trainEndpoints(b, func(mb rl.Batch) (*tensor.Tensor, map[string]float64) {
		l, st := rl.AWMLoss(a.r.pol, mb, rl.DrawAWM(a.r.trainRNG, a.cfg, mb.X0), a.cfg)
		return l, map[string]float64{"loss": st.Loss, "pg": st.PG, "kl": st.KL, "ema_kl": st.EMAKL,
			"fm_err": st.FMErr, "ratio_mean": st.RatioMean, "clip_frac": st.ClipFrac}
	})
}

func (a *awmAlgo) afterStep(s int) {
	if a.r.pol.EMA != "" {
		c := a.r.cfg.AWM
		nn.UpdateAdapterEMA(a.r.t.Model, rl.EMAAdapter, rl.PolicyAdapter, rampDecay(c.EMAMaxDecay, c.EMARamp, s))
	}
}

type ramAlgo struct {
	r   *run
	cfg rl.RAMConfig
}

func (a *ramAlgo) rolloutAdapter() string           { return rl.OldAdapter }
func (a *ramAlgo) sde() (diffusion.SDEConfig, bool) { return diffusion.SDEConfig{}, false }

func (a *ramAlgo) train(b *stepBatch) (map[string]float64, error) {
	return a.r.trainEndpoints(b, func(mb rl.Batch) (*tensor.Tensor, map[string]float64) {
		l, st := rl.RAMLoss(a.r.pol, mb, rl.DrawRAM(a.r.trainRNG, a.cfg.Targets, mb.X0), a.cfg)
		// RefGap, mean (v_θ − v_ref)², is the velocity-space KL the other methods log.
		return l, map[string]float64{"loss": st.Loss, "kl": st.RefGap, "shift": st.Shift}
	})
}

func (a *ramAlgo) afterStep(s int) {
	c := a.r.cfg.RAM
	nn.UpdateAdapterEMA(a.r.t.Model, rl.OldAdapter, rl.PolicyAdapter, rampDecay(c.OldMaxDecay, c.OldRamp, s))
}

type nftAlgo struct {
	r   *run
	cfg rl.NFTConfig
}

func (a *nftAlgo) rolloutAdapter() string           { return rl.OldAdapter }
func (a *nftAlgo) sde() (diffusion.SDEConfig, bool) { return diffusion.SDEConfig{}, false }

func (a *nftAlgo) train(b *stepBatch) (map[string]float64, error) {
	return a.r.trainEndpoints(b, func(mb rl.Batch) (*tensor.Tensor, map[string]float64) {
		l, st := rl.NFTLoss(a.r.pol, mb, rl.DrawNFT(a.r.trainRNG, a.cfg, mb.X0), a.cfg)
		return l, map[string]float64{"loss": st.Loss, "policy": st.Policy, "kl": st.KL,
			"pos_err": st.PosErr, "neg_err": st.NegErr}
	})
}

func (a *nftAlgo) afterStep(s int) {
	c := a.r.cfg.NFT
	nn.UpdateAdapterEMA(a.r.t.Model, rl.OldAdapter, rl.PolicyAdapter, rampDecay(c.OldMaxDecay, c.OldRamp, s))
}

type grpoAlgo struct {
	r   *run
	cfg rl.GRPOConfig
}

func (a *grpoAlgo) rolloutAdapter() string           { return rl.PolicyAdapter }
func (a *grpoAlgo) sde() (diffusion.SDEConfig, bool) { return a.cfg.SDE, true }

// train replays every group's stored SDE steps (each group is one micro-batch) for the samples
// with a non-zero advantage; each group's losses are weighted by its share of those samples, so
// the gradient is the mean over the kept samples and trained steps (docs/algorithms.md §2.3).
func (a *grpoAlgo) train(b *stepBatch) (map[string]float64, error) {
	G := a.r.cfg.Group
	kept := len(rl.NonZero(b.adv))
	terms := map[string]float64{"loss": 0, "kl": 0, "kept_frac": float64(kept) / float64(len(b.adv))}
	if kept == 0 {
		return terms, nil // every group's rewards were equal: nothing to learn from this step
	}
	for g, ro := range b.sde {
		adv := b.adv[g*G : (g+1)*G]
		n := len(rl.NonZero(adv))
		if n == 0 {
			continue
		}
		w := float64(n) / float64(kept)
		st := rl.FlowGRPOAccumulate(a.r.pol, ro, b.conds[g], adv, a.cfg, w)
		if !finite(st.Loss) {
			return nil, fmt.Errorf("loss is %v in group %d", st.Loss, g)
		}
		for k, v := range map[string]float64{"loss": st.Loss, "pg": st.PG, "kl": st.KL, "ratio_mean": st.RatioMean,
			"clip_frac": st.ClipFrac, "approx_kl": st.ApproxKL} {
			terms[k] += w * v
		}
	}
	return terms, nil
}

func (a *grpoAlgo) afterStep(int) {}

// permutationFrom is a Fisher–Yates shuffle of 0…n−1 drawn from rng.
func permutationFrom(rng *tensor.RNG, n int) []int {
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
