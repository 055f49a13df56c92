package rl

import (
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// Model is a velocity network whose Linear layers carry the LoRA adapters (diffusion.Model is
// one).
type Model interface {
	nn.Module
	diffusion.VelocityModel
}

// Default adapter names.
const (
	PolicyAdapter = "policy" // the trained weights
	OldAdapter    = "old"    // lagged / EMA behaviour policy (RAM's v_old, NFT's v_old)
	EMAAdapter    = "ema"    // AWM's KL-EMA anchor
	// EvalAdapter is an EMA of the policy that held-out evaluations sample with, as Flow-GRPO
	// and AWM evaluate (docs/algorithms.md §2.6, §4.7, §7.3).
	EvalAdapter = "eval_ema"
)

// Policies evaluates one model under its adapter sets. Each evaluation activates the set it
// needs and restores the previously active one, so the model is left as it was found.
type Policies struct {
	Net    Model
	Policy string // trained adapter (taped evaluations); PolicyAdapter by default
	Old    string // lagged adapter, or "" when there is none (then v_old = sg(v_θ))
	EMA    string // KL-EMA adapter, or "" when there is none
}

// NewPolicies returns the policies of net with the default adapter names; Old and EMA are set
// only when net already has those adapters (create them with nn.CopyAdapter first).
func NewPolicies(net Model) *Policies {
	p := &Policies{Net: net, Policy: PolicyAdapter}
	if nn.HasAdapter(net, OldAdapter) {
		p.Old = OldAdapter
	}
	if nn.HasAdapter(net, EMAAdapter) {
		p.EMA = EMAAdapter
	}
	return p
}

// Velocity evaluates v under the named adapter set ("" is the reference), restoring the active
// set afterwards. It records the tape when gradients are enabled.
func (p *Policies) Velocity(adapter string, x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	prev := nn.ActiveAdapter(p.Net)
	nn.UseAdapter(p.Net, adapter)
	defer nn.UseAdapter(p.Net, prev)
	return p.Net.Velocity(x, sigma, c)
}

// Guided is Velocity with classifier-free guidance v = v_u + w(v_c − v_u) (docs/algorithms.md
// §1.5), both branches as one 2B batch; w = 1 is the plain conditional velocity. When gradients
// are enabled both branches are on the tape, as in Flow-GRPO's official training forward (§2.4).
func (p *Policies) Guided(adapter string, x *tensor.Tensor, sigma []float32, c, uncond diffusion.Cond, w float32) *tensor.Tensor {
	prev := nn.ActiveAdapter(p.Net)
	nn.UseAdapter(p.Net, adapter)
	defer nn.UseAdapter(p.Net, prev)
	if w == 1 {
		return p.Net.Velocity(x, sigma, c)
	}
	return diffusion.Guided{Model: p.Net, Uncond: uncond, Scale: w}.Velocity(x, sigma, c)
}

// Theta is the current policy's velocity v_θ, taped.
func (p *Policies) Theta(x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	if p.Policy == "" {
		panic("rl.Policies: no policy adapter named")
	}
	return p.Velocity(p.Policy, x, sigma, c)
}

// Ref is the reference velocity (adapters off), without the tape.
func (p *Policies) Ref(x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	return p.noGrad("", x, sigma, c)
}

// OldVelocity is the lagged policy's velocity without the tape; with no lagged adapter it is
// sg(v_θ), the current weights evaluated without the tape.
func (p *Policies) OldVelocity(x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	if p.Old == "" {
		return p.noGrad(p.Policy, x, sigma, c)
	}
	return p.noGrad(p.Old, x, sigma, c)
}

// EMAVelocity is the KL-EMA adapter's velocity without the tape. It panics when there is none.
func (p *Policies) EMAVelocity(x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	if p.EMA == "" {
		panic("rl.Policies.EMAVelocity: no EMA adapter named")
	}
	return p.noGrad(p.EMA, x, sigma, c)
}

func (p *Policies) noGrad(adapter string, x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	var v *tensor.Tensor
	tensor.NoGrad(func() { v = p.Velocity(adapter, x, sigma, c) })
	return v
}

// Sampler returns the model as a diffusion.VelocityModel running under the named adapter set
// (for rollouts with diffusion.SampleODE / SampleSDE: the policy for Flow-GRPO and AWM, the
// lagged set for RAM and DiffusionNFT).
func (p *Policies) Sampler(adapter string) diffusion.VelocityModel {
	return adapterModel{p: p, adapter: adapter}
}

type adapterModel struct {
	p       *Policies
	adapter string
}

func (m adapterModel) Velocity(x *tensor.Tensor, sigma []float32, c diffusion.Cond) *tensor.Tensor {
	return m.p.Velocity(m.adapter, x, sigma, c)
}
