package nn

import (
	"math"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// setGrads gives each parameter exactly the gradient g (loss Σ p⊙g), after clearing old ones.
func setGrads(ps []Named, gs [][]float32) {
	for i, p := range ps {
		p.P.ZeroGrad()
		if gs[i] == nil {
			continue
		}
		tensor.Sum(tensor.Mul(p.P, tensor.New(cpu, gs[i], p.P.Shape()...))).Backward()
	}
}

// adamRef is AdamW in float64, written from the formula.
type adamRef struct {
	lr, b1, b2, eps, wd float64
	p, m, v             []float64
	t                   int
}

func (a *adamRef) step(g []float64, scale float64) {
	a.t++
	bc1, bc2 := 1-math.Pow(a.b1, float64(a.t)), 1-math.Pow(a.b2, float64(a.t))
	for i := range a.p {
		gi := scale * g[i]
		a.m[i] = a.b1*a.m[i] + (1-a.b1)*gi
		a.v[i] = a.b2*a.v[i] + (1-a.b2)*gi*gi
		mhat, vhat := a.m[i]/bc1, a.v[i]/bc2
		a.p[i] = a.p[i]*(1-a.lr*a.wd) - a.lr*mhat/(math.Sqrt(vhat)+a.eps)
	}
}

// Two AdamW steps with weight decay and bias correction, the second one clipped, against the
// float64 formula; a parameter that gets no gradient is left alone; the clip norm is √Σg².
func TestAdamWTwoStepsByHand(t *testing.T) {
	p0 := [][]float32{{0.5, -1, 2, 0.25, -0.75, 1.5}, {1, -2, 3, -4}, {7, 8}}
	ps := []Named{
		{"a", tensor.New(cpu, p0[0], 2, 3).SetRequiresGrad(true)},
		{"b", tensor.New(cpu, p0[1], 4).SetRequiresGrad(true)},
		{"frozen_in_loss", tensor.New(cpu, p0[2], 2).SetRequiresGrad(true)},
	}
	g1 := [][]float32{{0.1, -0.2, 0.3, 0.05, 0, -1}, {2, -0.5, 0.25, 1}, nil}
	g2 := [][]float32{{-0.3, 0.4, 0.1, 0.2, 0.6, -0.1}, {-1, 1.5, 0.5, -2}, nil}
	cfg := AdamWConfig{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, MaxGradNorm: 100}
	opt := NewAdamW(ps, cfg)

	f := func(v float32) float64 { return float64(v) }
	refs := make([]*adamRef, 2)
	for i := range refs {
		// The hyperparameters are float32 in the config; the reference uses those exact values
		// (float32(0.999) differs from 0.999 by 1.3e-8, which shows in 1−β₂).
		refs[i] = &adamRef{lr: f(cfg.LR), b1: f(cfg.Beta1), b2: f(cfg.Beta2), eps: f(cfg.Eps), wd: f(cfg.WeightDecay), p: f64(p0[i]),
			m: make([]float64, len(p0[i])), v: make([]float64, len(p0[i]))}
	}
	handNorm := func(gs [][]float32) float64 {
		s := 0.0
		for _, g := range gs {
			for _, v := range g {
				s += float64(v) * float64(v)
			}
		}
		return math.Sqrt(s)
	}

	// Step 1: the norm (≈2.5) is under the limit, no clipping.
	setGrads(ps, g1)
	n1 := opt.Step()
	checkClose(t, "step-1 grad norm", []float64{n1}, []float64{handNorm(g1)}, 0, 1e-12)
	for i := range refs {
		refs[i].step(f64(g1[i]), 1)
		checkClose(t, "step 1 "+ps[i].Name, f64(ps[i].P.Data()), refs[i].p, 1e-6, 1e-6)
	}

	// Step 2: clip to 0.5, so gradients enter scaled by 0.5/(‖g‖+1e-6).
	opt.MaxGradNorm = 0.5
	setGrads(ps, g2)
	n2 := opt.Step()
	scale := 0.5 / (handNorm(g2) + 1e-6)
	checkClose(t, "step-2 grad norm", []float64{n2}, []float64{handNorm(g2)}, 0, 1e-12)
	for i := range refs {
		refs[i].step(f64(g2[i]), scale)
		checkClose(t, "step 2 "+ps[i].Name, f64(ps[i].P.Data()), refs[i].p, 1e-6, 1e-6)
	}
	st := opt.State()
	checkClose(t, "exp_avg of a", f64(st["a.exp_avg"].Data()), refs[0].m, 1e-8, 1e-6)
	checkClose(t, "exp_avg_sq of b", f64(st["b.exp_avg_sq"].Data()), refs[1].v, 1e-10, 1e-6)
	checkEqual(t, "parameter without gradient", ps[2].P.Data(), p0[2])
	if opt.Steps() != 2 || len(st) != 6 {
		t.Errorf("steps %d, %d state tensors", opt.Steps(), len(st))
	}
}

// Restoring the state into a fresh optimiser over equal parameters continues identically.
func TestAdamWLoadStateResumes(t *testing.T) {
	rng := tensor.NewRNG(4)
	mk := func() []Named {
		r := tensor.NewRNG(9)
		return []Named{{"w", r.Normal(cpu, 3, 4).SetRequiresGrad(true)}, {"b", r.Normal(cpu, 4).SetRequiresGrad(true)}}
	}
	g := [][]float32{rng.Normal(cpu, 12).Data(), rng.Normal(cpu, 4).Data()}
	ps := mk()
	opt := NewAdamW(ps, DefaultAdamWConfig())
	setGrads(ps, g)
	opt.Step()

	qs := mk()
	for i := range qs {
		qs[i].P.SetData(ps[i].P.Data())
	}
	opt2 := NewAdamW(qs, DefaultAdamWConfig())
	if err := opt2.LoadState(opt.State(), opt.Steps()); err != nil {
		t.Fatal(err)
	}
	setGrads(ps, g)
	setGrads(qs, g)
	opt.Step()
	opt2.Step()
	for i := range ps {
		checkEqual(t, "resumed "+ps[i].Name, qs[i].P.Data(), ps[i].P.Data())
	}

	bad := opt.State()
	delete(bad, "w.exp_avg")
	if err := opt2.LoadState(bad, 1); err == nil {
		t.Error("LoadState accepted a state with a missing tensor")
	}
}

// ClipGradNorm: the global norm over all gradients and PyTorch's factor max/(norm+1e-6),
// capped at 1.
func TestClipGradNormByHand(t *testing.T) {
	ps := []Named{
		{"a", tensor.Zeros(cpu, 2, 2).SetRequiresGrad(true)},
		{"b", tensor.Zeros(cpu, 3).SetRequiresGrad(true)},
		{"none", tensor.Zeros(cpu, 3).SetRequiresGrad(true)},
	}
	setGrads(ps, [][]float32{{3, 0, 0, -4}, {0, 12, 0}, nil}) // ‖g‖ = √(9+16+144) = 13
	norm, scale := ClipGradNorm(ps, 1)
	checkClose(t, "norm", []float64{norm}, []float64{13}, 0, 1e-12)
	checkClose(t, "scale", []float64{float64(scale)}, []float64{1 / (13 + 1e-6)}, 0, 1e-6)
	if _, s := ClipGradNorm(ps, 20); s != 1 {
		t.Errorf("scale %g for a norm under the limit, want 1", s)
	}
}

// EMA: θ_ema ← d·θ_ema + (1−d)·θ, twice, then CopyTo.
func TestEMAByHand(t *testing.T) {
	p := tensor.New(cpu, []float32{1, -2, 4}, 3).SetRequiresGrad(true)
	ps := []Named{{"p", p}}
	e := NewEMA(ps, 0.9)
	p.SetData([]float32{3, 0, -4})
	e.Update()
	want := []float64{0.9*1 + 0.1*3, 0.9*-2 + 0.1*0, 0.9*4 + 0.1*-4}
	checkClose(t, "after one update", f64(e.Shadow()[0].P.Data()), want, 1e-7, 1e-6)
	p.SetData([]float32{0, 10, 2})
	e.Update()
	for i, v := range []float64{0, 10, 2} {
		want[i] = 0.9*want[i] + 0.1*v
	}
	checkClose(t, "after two updates", f64(e.Shadow()[0].P.Data()), want, 1e-7, 1e-6)
	if e.Shadow()[0].Name != "p" || e.Shadow()[0].P.RequiresGrad() {
		t.Error("shadow should keep the name and not require grad")
	}
	e.CopyTo()
	checkClose(t, "CopyTo", f64(p.Data()), want, 1e-7, 1e-6)

	// decay 0 copies, decay 1 keeps.
	d := []Named{{"d", tensor.New(cpu, []float32{5, 5, 5}, 3)}}
	EMAUpdate(d, ps, 1)
	checkEqual(t, "decay 1", d[0].P.Data(), []float32{5, 5, 5})
	EMAUpdate(d, ps, 0)
	checkEqual(t, "decay 0", d[0].P.Data(), p.Data())
}

// End to end: LoRA fine-tuning of an MMDiT block with a frozen base lowers a regression loss,
// leaves the base weights and a snapshot adapter bit-identical, and "" still gives the base.
func TestLoRAFineTuneLowersLoss(t *testing.T) {
	rng := tensor.NewRNG(21)
	blk := NewMMDiTBlock(cpu, tD, tHeads, BlockOptions{QKNorm: true}, rng)
	randomizeParams(blk, rng)
	AddAdapter(blk, "policy", 4, 8, rng, nil)
	CopyAdapter(blk, "old", "policy")
	FreezeBase(blk)
	base := map[string][]float32{}
	for _, p := range NamedParams(blk) {
		base[p.Name] = p.P.Data()
	}
	x, c, y := rng.Normal(cpu, tB, tLx, tD), rng.Normal(cpu, tB, tLc, tD), rng.Normal(cpu, tB, tD)
	target := rng.Normal(cpu, tB, tLx, tD)
	UseAdapter(blk, "")
	x0, _ := blk.Forward(x, c, y, nil)

	cfg := DefaultAdamWConfig()
	cfg.LR = 1e-2
	opt := NewAdamW(AdapterParams(blk, "policy"), cfg)
	UseAdapter(blk, "policy")
	var first, last float32
	for step := 0; step < 30; step++ {
		ZeroGrads(blk)
		xo, _ := blk.Forward(x, c, y, nil)
		loss := tensor.MSE(xo, target)
		loss.Backward()
		opt.Step()
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
	}
	if !(last < 0.7*first) {
		t.Fatalf("loss %g → %g after 30 steps, want a clear decrease", first, last)
	}
	for _, p := range NamedParams(blk) {
		if !strings.Contains(p.Name, "lora_") || strings.Contains(p.Name, ".old.") {
			checkEqual(t, p.Name+" unchanged", p.P.Data(), base[p.Name])
		}
	}
	UseAdapter(blk, "")
	xr, _ := blk.Forward(x, c, y, nil)
	checkEqual(t, "reference model after training", xr.Data(), x0.Data())
}
