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

// newAlgorithm creates the configured algorithm's lagged adapters (as copies of the fresh
// policy) and returns its training step.
func newAlgorithm(r *run) algorithm {
	a, err := lookupAlgo(r.cfg.Algo)
	if err != nil {
		panic("train: " + err.Error()) // Validate rejects it first
	}
	return a.build(r)
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
		end := r.phase("loss")
		l, t := loss(rl.Batch{X0: xb, Cond: cond.Rows(lo, hi), Adv: b.adv[lo:hi]})
		w := float64(hi-lo) / float64(N)
		lv := float64(l.Item())
		end()
		if !finite(lv) {
			return nil, fmt.Errorf("loss is %v on endpoints %d–%d", lv, lo, hi-1)
		}
		end = r.phase("backward")
		tensor.MulScalar(l, float32(w)).Backward()
		end()
		for k, v := range t {
			terms[k] += w * v
		}
	}
	return terms, nil
}
