package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/flowtune/flowtune/tensor"
)

// AdamWConfig holds AdamW's hyperparameters. The defaults of docs/algorithms.md §7.3 are
// DefaultAdamWConfig's.
type AdamWConfig struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	// MaxGradNorm > 0 clips the global gradient norm to it at every Step (by scaling the
	// gradients inside the fused update; the gradients themselves are left as they are).
	MaxGradNorm float64
}

// DefaultAdamWConfig is AdamW(lr 3e-4, β 0.9/0.999, eps 1e-8, weight decay 1e-4) with global
// grad-norm clipping at 1, as Flow-GRPO and AWM train their LoRA adapters.
func DefaultAdamWConfig() AdamWConfig {
	return AdamWConfig{LR: 3e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-4, MaxGradNorm: 1}
}

// AdamW is the Adam optimiser with decoupled weight decay (Loshchilov & Hutter), PyTorch's
// torch.optim.AdamW update: with g the (clip-scaled) gradient and t the step number,
//
//	m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²
//	θ ← θ·(1 − lr·wd) − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + eps)
//
// done per parameter by the backend's fused AdamW kernel. Its state — the first and second
// moments of every parameter and the step count — is exposed for checkpoints.
type AdamW struct {
	AdamWConfig
	params []Named
	m, v   []*tensor.Tensor // exp_avg, exp_avg_sq; same shapes and backends as params
	step   int              // completed steps
}

// NewAdamW makes an optimiser over params (typically AdapterParams(model, "policy") or
// Trainable(model)) with zeroed moments. Names must be unique.
func NewAdamW(params []Named, cfg AdamWConfig) *AdamW {
	o := &AdamW{AdamWConfig: cfg, params: append([]Named(nil), params...)}
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.Name] {
			panic(fmt.Sprintf("nn.NewAdamW: parameter %q listed twice", p.Name))
		}
		seen[p.Name] = true
		o.m = append(o.m, tensor.Zeros(p.P.Backend(), p.P.Shape()...))
		o.v = append(o.v, tensor.Zeros(p.P.Backend(), p.P.Shape()...))
	}
	return o
}

// Params returns the optimised parameters.
func (o *AdamW) Params() []Named { return append([]Named(nil), o.params...) }

// Steps is the number of completed steps (the bias-correction step of the next one minus 1).
func (o *AdamW) Steps() int { return o.step }

// SetSteps sets the completed-step count (resuming from a checkpoint).
func (o *AdamW) SetSteps(n int) {
	if n < 0 {
		panic(fmt.Sprintf("nn.AdamW.SetSteps: %d", n))
	}
	o.step = n
}

// Step applies one update from the parameters' accumulated gradients and returns the global
// gradient norm before clipping. With MaxGradNorm > 0 the gradients enter the update scaled by
// ClipScale(norm, MaxGradNorm). A parameter without a gradient (it did not take part in the
// loss) is left untouched, moments included; the step count is shared by all parameters.
// Gradients are not cleared: call ZeroGrads.
func (o *AdamW) Step() (gradNorm float64) {
	gradNorm = GradNorm(o.params)
	o.StepNorm(gradNorm)
	return gradNorm
}

// StepNorm is Step when the caller has already computed GradNorm(Params()) as gradNorm (it is
// not computed again: on a GPU that is a wait for the device).
func (o *AdamW) StepNorm(gradNorm float64) {
	scale := float32(1)
	if o.MaxGradNorm > 0 {
		scale = ClipScale(gradNorm, o.MaxGradNorm)
	}
	o.StepScaled(scale)
}

// StepScaled applies one update with every gradient multiplied by scale first (for clipping
// computed elsewhere, or loss scaling). It ignores MaxGradNorm.
func (o *AdamW) StepScaled(scale float32) {
	o.step++
	args := tensor.AdamWArgs{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps,
		WeightDecay: o.WeightDecay, Step: o.step, GradScale: scale}
	for i, p := range o.params {
		g := p.P.Grad()
		if g == nil {
			continue
		}
		p.P.Backend().AdamW(p.P.Storage(), g.Storage(), o.m[i].Storage(), o.v[i].Storage(), args)
	}
}

// State returns the moment tensors keyed "<param>.exp_avg" and "<param>.exp_avg_sq" (PyTorch's
// names). They are the live tensors: saving reads them, and writing into them (SetData)
// restores a checkpoint. The step count is Steps/SetSteps.
func (o *AdamW) State() map[string]*tensor.Tensor {
	st := make(map[string]*tensor.Tensor, 2*len(o.params))
	for i, p := range o.params {
		st[p.Name+".exp_avg"] = o.m[i]
		st[p.Name+".exp_avg_sq"] = o.v[i]
	}
	return st
}

// LoadState copies saved moments into the optimiser's state (see State), checking that every
// entry is present with the right shape.
func (o *AdamW) LoadState(st map[string]*tensor.Tensor, steps int) error {
	mine := o.State()
	for name, dst := range mine {
		src, ok := st[name]
		if !ok {
			return fmt.Errorf("nn.AdamW.LoadState: optimizer state %q missing", name)
		}
		if !slices.Equal(src.Shape(), dst.Shape()) {
			return fmt.Errorf("nn.AdamW.LoadState: %q has shape %v, want %v", name, src.Shape(), dst.Shape())
		}
	}
	if len(st) != len(mine) {
		return fmt.Errorf("nn.AdamW.LoadState: %d state tensors given, the optimizer has %d", len(st), len(mine))
	}
	if steps < 0 {
		return fmt.Errorf("nn.AdamW.LoadState: step count %d", steps)
	}
	for name, dst := range mine {
		dst.SetData(st[name].Data())
	}
	o.step = steps
	return nil
}

// GradNorm is the global L2 norm √(Σ‖g‖²) over the parameters' gradients (missing gradients
// count as zero), accumulated in float64 by the backend's SumSquares (by one SumSquaresMany, a
// single wait for the device, on a tensor.SquareSummer backend).
func GradNorm(params []Named) float64 {
	var s float64
	var batch []tensor.Storage // gradients on a tensor.SquareSummer backend: summed in one call
	var summer tensor.SquareSummer
	for _, p := range params {
		g := p.P.Grad()
		if g == nil {
			continue
		}
		if ss, ok := g.Backend().(tensor.SquareSummer); ok && (summer == nil || summer == ss) {
			summer = ss
			batch = append(batch, g.Storage())
			continue
		}
		s += g.Backend().SumSquares(g.Storage())
	}
	if summer != nil {
		s += summer.SumSquaresMany(batch)
	}
	return math.Sqrt(s)
}

// ClipScale is PyTorch's clip_grad_norm_ factor min(1, maxNorm/(norm + 1e-6)).
func ClipScale(norm, maxNorm float64) float32 {
	return float32(math.Min(1, maxNorm/(norm+1e-6)))
}

// ClipGradNorm returns the global gradient norm and the factor that clips it to maxNorm. The
// gradients are not rescaled in place (they may share storage with other tensors of the tape);
// hand the scale to AdamW.StepScaled (or set AdamWConfig.MaxGradNorm and call Step).
func ClipGradNorm(params []Named, maxNorm float64) (norm float64, scale float32) {
	norm = GradNorm(params)
	return norm, ClipScale(norm, maxNorm)
}
