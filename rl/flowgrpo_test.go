package rl

import (
	"math"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// grpoSetup samples a 10-step Flow-SDE rollout of 4 samples [4, 2, 3] from the policy adapter
// (guided when cfg.CFG ≠ 1), randomising the adapter first unless atRef.
func grpoSetup(t *testing.T, seed uint64, cfg GRPOConfig, atRef bool) (*Policies, []nn.Named, *diffusion.Rollout, diffusion.Cond) {
	t.Helper()
	m := newMLP(6, 16, false, nil, seed)
	p, params := newLoRAPolicies(m, 4, seed+1)
	if !atRef {
		randomizeAdapter(m, PolicyAdapter, 0.3, seed+2)
	}
	c := testCond(1, 1, 2, 2)
	var sampler diffusion.VelocityModel = p.Sampler(PolicyAdapter)
	if cfg.CFG != 1 {
		sampler = diffusion.Guided{Model: sampler, Uncond: cfg.Uncond, Scale: cfg.CFG}
	}
	rng := tensor.NewRNG(seed + 3)
	r := diffusion.SampleSDE(sampler, rng.Normal(cpu, 4, 2, 3), diffusion.SigmaGrid(10, 3), c, cfg.SDE, rng)
	return p, params, r, c
}

func grpoConfig(cfgScale float32, beta float64) GRPOConfig {
	cfg := DefaultGRPOConfig()
	cfg.CFG, cfg.Uncond, cfg.KLBeta = cfgScale, testCond(0), beta
	return cfg
}

// Replaying a rollout with the weights that sampled it gives ratio 1 exactly, with and without
// guidance: the training forward computes v_u + w(v_c − v_u) as the rollout did (one 2B batch)
// and the same fused log-prob.
func TestFlowGRPOOnPolicyRatio(t *testing.T) {
	for _, w := range []float32{1, 4.5} {
		cfg := grpoConfig(w, 0)
		p, _, r, c := grpoSetup(t, 70, cfg, false)
		for j := 0; j < cfg.TrainSteps(10); j++ {
			_, st := FlowGRPOLoss(p, r, j, c, []float64{1, -1, 0.5, 2}, cfg)
			if st.RatioMean != 1 || st.ClipFrac != 0 {
				t.Errorf("CFG %g step %d: ratio mean 1%+.3g, clip fraction %g", w, j, st.RatioMean-1, st.ClipFrac)
			}
		}
	}
}

// On-policy (ρ = 1, inside the clip range) the PPO surrogate's gradient is REINFORCE's:
// ∇L = −(1/B) Σ_i clip(A_i, ±5)·∇log π_θ(x_{j+1,i} | x_{j,i}), with the gradient flowing through
// both branches of the guidance, v = v_u + w(v_c − v_u), as in the official train_sd3.py
// (docs/algorithms.md §2.4). The reference builds log π from the two velocities directly.
func TestFlowGRPOGradientIsReinforce(t *testing.T) {
	adv := []float64{1.5, -0.7, 7, -0.2} // 7 is clipped to 5
	for _, w := range []float32{1, 3} {
		cfg := grpoConfig(w, 0)
		p, params, r, c := grpoSetup(t, 80, cfg, false)
		for _, j := range []int{0, 4, 8} {
			zeroGrads(params)
			loss, _ := FlowGRPOLoss(p, r, j, c, adv, cfg)
			loss.Backward()
			got := grads(params)

			zeroGrads(params)
			x := r.Latents[j]
			sigma := []float32{float32(r.Sigmas[j]), float32(r.Sigmas[j]), float32(r.Sigmas[j]), float32(r.Sigmas[j])}
			v := p.Theta(x, sigma, c)
			if w != 1 {
				vu := p.Velocity(PolicyAdapter, x, sigma, cfg.Uncond.Repeat(4)) // taped
				v = tensor.Add(tensor.MulScalar(v, w), tensor.MulScalar(vu, 1-w))
			}
			logp := tensor.SDELogProb(x, v, r.Latents[j+1], cfg.SDE.Args(r.Sigmas, j, 4, 6))
			coef := []float64{-1.5 / 4, 0.7 / 4, -5.0 / 4, 0.2 / 4}
			tensor.Sum(tensor.Mul(logp, vector(cpu, coef))).Backward()
			want := grads(params)
			if maxAbs(want) == 0 {
				t.Fatal("zero reference gradient")
			}
			checkClose(t, "Flow-GRPO gradient vs −A∇log π", got, want, 1e-5*maxAbs(want), 1e-3)
		}
	}
}

// Off-policy beyond the clip range the surrogate is flat for A > 0 (ρ > 1+ε: the clipped branch
// wins) and is −Aρ for A < 0, so only the negative-advantage samples carry a gradient,
// −A_i ρ_i ∇log π_i / B.
func TestFlowGRPOClippedBranch(t *testing.T) {
	cfg := grpoConfig(1, 0)
	p, params, r, c := grpoSetup(t, 90, cfg, false)
	const j, shift = 3, 0.01
	for i := range r.LogProbs[j] {
		r.LogProbs[j][i] -= shift // ρ = e^0.01 > 1 + 1e-4 for every sample
	}
	adv := []float64{1, -2, 0.5, -0.5}
	zeroGrads(params)
	loss, st := FlowGRPOLoss(p, r, j, c, adv, cfg)
	loss.Backward()
	got := grads(params)
	if st.ClipFrac != 1 || math.Abs(st.RatioMean-math.Exp(shift)) > 1e-5 {
		t.Errorf("clip fraction %g, ratio mean %g; want 1 and e^0.01", st.ClipFrac, st.RatioMean)
	}
	// The loss value: max(−Aρ, −A(1+ε)) per sample.
	rho, eps := math.Exp(shift), 1e-4
	wantPG := 0.0
	for _, a := range adv {
		wantPG += max(-a*rho, -a*(1+eps)) / 4
	}
	checkClose(t, "clipped PG value", []float64{st.PG}, []float64{wantPG}, 1e-6, 1e-4)

	zeroGrads(params)
	sigma := []float32{float32(r.Sigmas[j]), float32(r.Sigmas[j]), float32(r.Sigmas[j]), float32(r.Sigmas[j])}
	logp := tensor.SDELogProb(r.Latents[j], p.Theta(r.Latents[j], sigma, c), r.Latents[j+1], cfg.SDE.Args(r.Sigmas, j, 4, 6))
	tensor.Sum(tensor.Mul(logp, vector(cpu, []float64{0, 2 * rho / 4, 0, 0.5 * rho / 4}))).Backward()
	want := grads(params)
	checkClose(t, "clipped-branch gradient", got, want, 1e-5*maxAbs(want), 1e-3)
}

// The KL term: exactly zero (value and gradient) at θ = θ_ref; elsewhere
// mean_B[mean_D (μ_θ − μ_ref)²/(2s²)] with μ = cx·x + cv·v rebuilt in float64 from the step
// formulas of §2.1 (Flow SDE: s = s_t; CPS: s = σ'·sin(aπ/2)), and its gradient equals that of
// (cv²/(2s²))·mean (v_θ − v_ref)².
func TestFlowGRPOKL(t *testing.T) {
	cfg := grpoConfig(1, 0.04)
	p, params, r, c := grpoSetup(t, 100, cfg, true)
	zero := []float64{0, 0, 0, 0}
	for j := 0; j < 9; j++ {
		loss, st := FlowGRPOLoss(p, r, j, c, zero, cfg)
		loss.Backward()
		if st.KL != 0 || item(loss) != 0 {
			t.Fatalf("step %d at the reference: KL %g, loss %g; want exactly 0", j, st.KL, item(loss))
		}
	}
	if g := maxAbs(grads(params)); g != 0 {
		t.Fatalf("gradient at the reference: max |g| = %g, want exactly 0", g)
	}

	for _, sde := range []diffusion.SDEConfig{{Kind: tensor.SDEFlow, Noise: 0.7}, {Kind: tensor.SDECPS, Noise: 0.8}} {
		cfg.SDE = sde
		p, params, r, c := grpoSetup(t, 110, cfg, false)
		for _, j := range []int{0, 5, 8} {
			zeroGrads(params)
			loss, st := FlowGRPOLoss(p, r, j, c, zero, cfg)
			loss.Backward()
			got := grads(params)

			x := r.Latents[j]
			sigma := []float32{float32(r.Sigmas[j]), float32(r.Sigmas[j]), float32(r.Sigmas[j]), float32(r.Sigmas[j])}
			var vt, vr []float64
			tensor.NoGrad(func() {
				vt = f64(p.Theta(x, sigma, c).Data())
				vr = f64(p.Ref(x, sigma, c).Data())
			})
			s0, s1 := r.Sigmas[j], r.Sigmas[j+1]
			var mean func(x, v float64) float64
			var s float64
			if sde.Kind == tensor.SDEFlow {
				s = diffusion.FlowSDEScale(r.Sigmas, j, 0.7)
				mean = func(x, v float64) float64 { return x + (v+s*s/(2*s0)*(x+(1-s0)*v))*(s1-s0) }
			} else {
				s = s1 * math.Sin(0.8*math.Pi/2)
				mean = func(x, v float64) float64 {
					return (1-s1)*(x-s0*v) + math.Sqrt(s1*s1-s*s)*(x+(1-s0)*v)
				}
			}
			xs := f64(x.Data())
			kl := 0.0
			for i := range xs {
				d := mean(xs[i], vt[i]) - mean(xs[i], vr[i])
				kl += d * d / (2 * s * s) / float64(len(xs))
			}
			checkClose(t, kindName(sde.Kind)+" KL value", []float64{st.KL}, []float64{kl}, 1e-9, 1e-4)
			if kl == 0 {
				t.Fatal("vacuous KL check")
			}

			zeroGrads(params)
			cv := mean(0, 1) // μ is affine: the coefficient of v
			tensor.MulScalar(tensor.MSE(p.Theta(x, sigma, c), p.Ref(x, sigma, c)), float32(0.04*cv*cv/(2*s*s))).Backward()
			want := grads(params)
			checkClose(t, kindName(sde.Kind)+" KL gradient", got, want, 1e-5*maxAbs(want), 1e-3)
		}
	}
}

// FlowGRPOAccumulate trains ⌊10·0.99⌋ = 9 steps and accumulates their gradients times weight/9.
func TestFlowGRPOAccumulate(t *testing.T) {
	cfg := grpoConfig(1, 0.04)
	if k := cfg.TrainSteps(10); k != 9 {
		t.Fatalf("TrainSteps(10) = %d, want 9", k)
	}
	if k := (GRPOConfig{TimestepFraction: 1}).TrainSteps(10); k != 10 {
		t.Fatalf("TrainSteps(10) at fraction 1 = %d, want 10", k)
	}
	p, params, r, c := grpoSetup(t, 120, cfg, false)
	adv := []float64{1, -1, 0.3, 0.2}
	zeroGrads(params)
	st := FlowGRPOAccumulate(p, r, c, adv, cfg, 0.5)
	got := grads(params)

	zeroGrads(params)
	kl := 0.0
	for j := 0; j < 9; j++ {
		loss, s := FlowGRPOLoss(p, r, j, c, adv, cfg)
		tensor.MulScalar(loss, 1.0/18).Backward()
		kl += s.KL / 9
	}
	want := grads(params)
	checkClose(t, "accumulated gradient", got, want, 1e-6*maxAbs(want), 1e-4)
	checkClose(t, "mean KL", []float64{st.KL}, []float64{kl}, 1e-9, 1e-6)
}

func kindName(k tensor.SDEKind) string {
	if k == tensor.SDECPS {
		return "CPS"
	}
	return "Flow SDE"
}

// Flow-GRPO drops the samples whose advantage is zero before the loss (docs/algorithms.md §2.3):
// they add neither a policy term nor a KL term, and the mean runs over the kept samples only.
// The gradient of a group with two zero advantages therefore equals that of the two-sample group
// of its other rows, rebuilt by hand; a group whose advantages are all zero trains nothing.
func TestFlowGRPODropsZeroAdvantage(t *testing.T) {
	cfg := grpoConfig(1, 0.04) // with a KL term, which zero-advantage rows would otherwise feel
	p, params, r, c := grpoSetup(t, 130, cfg, false)
	zeroGrads(params)
	st := FlowGRPOAccumulate(p, r, c, []float64{1.2, 0, -0.8, 0}, cfg, 1)
	got := grads(params)

	keep := []int{0, 2}
	sub := &diffusion.Rollout{Sigmas: r.Sigmas}
	tensor.NoGrad(func() {
		for _, x := range r.Latents {
			sub.Latents = append(sub.Latents, tensor.Concat(0, tensor.Slice(x, 0, 0, 1), tensor.Slice(x, 0, 2, 3)))
		}
	})
	for _, lp := range r.LogProbs {
		sub.LogProbs = append(sub.LogProbs, []float32{lp[0], lp[2]})
	}
	subCond := diffusion.Cond{B: 2, L: c.L}
	for _, i := range keep {
		subCond.Tokens = append(subCond.Tokens, c.Tokens[i*c.L:(i+1)*c.L]...)
		subCond.Mask = append(subCond.Mask, c.Mask[i*c.L:(i+1)*c.L]...)
	}
	zeroGrads(params)
	kl := 0.0
	for j := 0; j < 9; j++ {
		loss, s := FlowGRPOLoss(p, sub, j, subCond, []float64{1.2, -0.8}, cfg)
		tensor.MulScalar(loss, 1.0/9).Backward()
		kl += s.KL / 9
	}
	want := grads(params)
	checkClose(t, "gradient without the zero-advantage rows", got, want, 1e-6*maxAbs(want), 1e-4)
	checkClose(t, "KL over the kept rows", []float64{st.KL}, []float64{kl}, 1e-9, 1e-6)

	zeroGrads(params)
	FlowGRPOAccumulate(p, r, c, []float64{0, 0, 0, 0}, cfg, 1)
	if g := maxAbs(grads(params)); g != 0 {
		t.Errorf("a group of zero advantages left a gradient of max |g| = %g, want none", g)
	}
}
