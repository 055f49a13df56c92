package rl

import (
	"math"
	"sort"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// awmSetup is a small MLP with a randomised policy adapter (θ ≠ θ_ref) and a batch.
func awmSetup(t *testing.T, seed uint64) (*mlpModel, *Policies, []nn.Named, Batch) {
	t.Helper()
	m := newMLP(6, 16, false, nil, seed)
	p, params := newLoRAPolicies(m, 4, seed+1)
	randomizeAdapter(m, PolicyAdapter, 0.3, seed+2)
	return m, p, params, smallBatch(seed+3, []float64{0.9, -0.4, 0.3, -1})
}

// docs/algorithms.md §6.4: on-policy AWM with uniform weighting, no clipping and velocity-KL weight β = 1/m has
// the same gradient as RAM with v_old = sg(v_θ), up to the factor m:
//
//	∇L_RAM = (2/(N·D)) Σ (∇v)ᵀ[(v − v_ref) − mA(Y − v)]
//	∇L_AWM = (2/(N·D)) Σ (∇v)ᵀ[A(v − Y) + β(v − v_ref)] = ∇L_RAM / m.
func TestAWMMatchesRAMGradient(t *testing.T) {
	_, p, params, b := awmSetup(t, 30)
	const mult = 10.0
	d := DrawRAM(tensor.NewRNG(34), 3, b.X0) // any (σ, ε) draws, shared by both losses

	zeroGrads(params)
	ram, _ := RAMLoss(p, b, d, RAMConfig{Multiplier: mult, Targets: 3})
	ram.Backward()
	gRAM := grads(params)

	zeroGrads(params)
	cfg := AWMConfig{Weighting: WeightUniform, ClipRange: 1, KLBeta: 1 / mult}
	awm, st := AWMLoss(p, b, d, cfg)
	awm.Backward()
	gAWM := grads(params)
	for i := range gAWM {
		gAWM[i] *= mult
	}
	if st.RatioMean != 1 || st.ClipFrac != 0 {
		t.Errorf("on-policy ratio mean %v, clip fraction %v; want exactly 1 and 0", st.RatioMean, st.ClipFrac)
	}
	if maxAbs(gRAM) < 1e-3 {
		t.Fatalf("RAM gradient is tiny (%g): the comparison would be vacuous", maxAbs(gRAM))
	}
	checkClose(t, "m·∇L_AWM vs ∇L_RAM", gAWM, gRAM, 1e-5*maxAbs(gRAM), 1e-4)
	_ = item(awm)
}

// ghuber/huber/... log-likelihood proxies of §4.4 in float64, and their derivative in e.
func hostEll(w Weighting, e, s, p float64) (ell, dEll float64) {
	switch w {
	case WeightUniform:
		return -e, -1
	case WeightT:
		return -s * e, -s
	case WeightT2:
		return -s * s * e, -s * s
	case WeightHuber:
		r := math.Sqrt(e + 1e-10)
		return -s * (r - 1e-5), -s / (2 * r)
	case WeightGHuber:
		return -(s / p) * (math.Pow(e+1e-10, p) - math.Pow(1e-10, p)), -s * math.Pow(e+1e-10, p-1)
	}
	panic("weighting")
}

// For every weighting, on-policy and off-policy with an active clip: the PPO term's value, mean
// ratio and clip fraction match a float64 evaluation of §4.4–4.5 from the velocities, and its
// gradient equals Σ_rows (∂L/∂e_row)·∇e_row with ∂L/∂e = −Aρ·ℓ'(e)/N on rows where the unclipped
// branch is active (0 elsewhere).
func TestAWMPolicyTermMatchesFormula(t *testing.T) {
	m, p, params, b := awmSetup(t, 40)
	nn.CopyAdapter(m, OldAdapter, PolicyAdapter)
	randomizeAdapter(m, OldAdapter, 0.3, 45)
	p.Old = OldAdapter
	levels := []float64{0.36, 0.65, 0.97}
	d := SharedLevelDraws(tensor.NewRNG(46), levels, b.X0)
	xt, y := noisedBatch(b.X0, d.K, d.Sigma, d.Eps)
	c := repeatCond(b.Cond, d.K)
	N := d.K * 4

	var vOld []float64
	tensor.NoGrad(func() { vOld = f64(p.OldVelocity(xt, d.Sigma, c).Data()) })
	for _, w := range []Weighting{WeightGHuber, WeightUniform, WeightT, WeightT2, WeightHuber} {
		for _, off := range []bool{false, true} {
			// Float64 reference from the velocities: ℓ, ρ and ∂L/∂e per row.
			zeroGrads(params)
			e := tensor.SqErr(p.Theta(xt, d.Sigma, c), y)
			eh, yh := f64(e.Data()), f64(y.Data())
			rho, dEll := make([]float64, N), make([]float64, N)
			dev := make([]float64, N)
			for r := 0; r < N; r++ {
				s := float64(d.Sigma[r])
				ell, de := hostEll(w, eh[r], s, 0.25)
				ellOld := ell
				if off {
					eo := 0.0
					for j := 0; j < 6; j++ {
						diff := vOld[r*6+j] - yh[r*6+j]
						eo += diff * diff / 6
					}
					ellOld, _ = hostEll(w, eo, s, 0.25)
				}
				rho[r], dEll[r] = math.Exp(ell-ellOld), de
				dev[r] = math.Abs(rho[r] - 1)
			}
			cfg := AWMConfig{Weighting: w, GHuberP: 0.25, ClipRange: 1, OffPolicy: off}
			if off { // clip about half of the rows
				sort.Float64s(dev)
				cfg.ClipRange = (dev[N/2-1] + dev[N/2]) / 2
			}
			coef := make([]float64, N)
			var pg, ratioSum float64
			clipped := 0
			for r := 0; r < N; r++ {
				A := b.Adv[r%4]
				cl := min(max(rho[r], 1-cfg.ClipRange), 1+cfg.ClipRange)
				if cl != rho[r] {
					clipped++
				}
				pg += max(-A*rho[r], -A*cl) / float64(N)
				ratioSum += rho[r] / float64(N)
				if -A*rho[r] >= -A*cl {
					coef[r] = -A * rho[r] * dEll[r] / float64(N)
				}
			}
			tensor.Sum(tensor.Mul(e, vector(cpu, coef))).Backward()
			want := grads(params)

			zeroGrads(params)
			loss, st := AWMLoss(p, b, d, cfg)
			loss.Backward()
			got := grads(params)

			name := w.String()
			if off {
				name += " off-policy"
				if clipped == 0 || clipped == N {
					t.Fatalf("%s: %d of %d rows clipped; the test needs both kinds", name, clipped, N)
				}
			} else if st.RatioMean != 1 {
				t.Errorf("%s: on-policy ratio mean %v, want exactly 1", name, st.RatioMean)
			}
			checkClose(t, name+" PG, ratio, clip fraction", []float64{st.PG, st.RatioMean, st.ClipFrac},
				[]float64{pg, ratioSum, float64(clipped) / float64(N)}, 1e-6, 1e-4)
			checkClose(t, name+" gradient", got, want, 1e-5*maxAbs(want), 1e-3)
		}
	}
}

// At θ = θ_ref with A = 0, the KL-EMA anchor a copy of the policy: every term is zero and so is
// every gradient. Away from it the KL and EMA-KL terms are the velocity MSEs, weighted by β and
// ema_beta.
func TestAWMRegularisers(t *testing.T) {
	m := newMLP(6, 16, false, nil, 50)
	p, params := newLoRAPolicies(m, 4, 51)
	nn.CopyAdapter(m, EMAAdapter, PolicyAdapter)
	p.EMA = EMAAdapter
	b := smallBatch(52, []float64{0, 0, 0, 0})
	d := DrawAWM(tensor.NewRNG(53), DefaultAWMConfig(), b.X0)
	cfg := DefaultAWMConfig()
	loss, st := AWMLoss(p, b, d, cfg)
	loss.Backward()
	if item(loss) != 0 || st.KL != 0 || st.EMAKL != 0 || maxAbs(grads(params)) != 0 {
		t.Errorf("at the reference: loss %g, KL %g, EMA-KL %g, max |grad| %g; want all exactly 0", item(loss), st.KL, st.EMAKL, maxAbs(grads(params)))
	}

	randomizeAdapter(m, PolicyAdapter, 0.3, 54)
	randomizeAdapter(m, EMAAdapter, 0.2, 55)
	cfg.KLBeta, cfg.EMABeta = 0.3, 2
	_, st = AWMLoss(p, b, d, cfg)
	xt, _ := noisedBatch(b.X0, d.K, d.Sigma, d.Eps)
	c := repeatCond(b.Cond, d.K)
	var v, vRef, vEMA []float64
	tensor.NoGrad(func() {
		v = f64(p.Theta(xt, d.Sigma, c).Data())
		vRef = f64(p.Ref(xt, d.Sigma, c).Data())
		vEMA = f64(p.EMAVelocity(xt, d.Sigma, c).Data())
	})
	var kl, ekl float64
	for i := range v {
		kl += (v[i] - vRef[i]) * (v[i] - vRef[i]) / float64(len(v))
		ekl += (v[i] - vEMA[i]) * (v[i] - vEMA[i]) / float64(len(v))
	}
	checkClose(t, "KL, EMA-KL, total", []float64{st.KL, st.EMAKL, st.Loss}, []float64{kl, ekl, st.PG + 0.3*kl + 2*ekl}, 1e-6, 1e-5)
	if kl == 0 || ekl == 0 {
		t.Fatal("the perturbed policy should differ from the reference and the EMA")
	}
}

// DrawAWM: K levels on the 14-step shift-3 grid, one per discrete_wo_init stratum, shared by the
// whole micro-batch; the noise differs between rows.
func TestDrawAWM(t *testing.T) {
	cfg := DefaultAWMConfig()
	grid := diffusion.SigmaGrid(14, 3)
	strata := [][2]int{{1, 2}, {2, 4}, {4, 6}, {6, 8}, {8, 10}, {10, 12}}
	x0 := tensor.Zeros(cpu, 3, 2, 2)
	rng := tensor.NewRNG(60)
	for trial := 0; trial < 20; trial++ {
		d := DrawAWM(rng, cfg, x0)
		if d.K != 6 || len(d.Sigma) != 18 || d.Eps.Dim(0) != 18 {
			t.Fatalf("draws K=%d, %d levels, noise %v", d.K, len(d.Sigma), d.Eps.Shape())
		}
		for j, st := range strata {
			s := d.Sigma[3*j]
			ok := false
			for i := st[0]; i < st[1]; i++ {
				ok = ok || s == float32(grid[i])
			}
			if !ok || d.Sigma[3*j+1] != s || d.Sigma[3*j+2] != s {
				t.Fatalf("level %d: rows have %v, want one grid value from indices [%d, %d)", j, d.Sigma[3*j:3*j+3], st[0], st[1])
			}
		}
		e := d.Eps.Data()
		if e[0] == e[4] || e[0] == e[12] {
			t.Fatal("noise repeats across rows")
		}
	}
}

func TestParseWeighting(t *testing.T) {
	for _, w := range []Weighting{WeightGHuber, WeightUniform, WeightT, WeightT2, WeightHuber} {
		got, err := ParseWeighting(w.String())
		if err != nil || got != w {
			t.Errorf("ParseWeighting(%q) = %v, %v", w.String(), got, err)
		}
	}
	if _, err := ParseWeighting("cubic"); err == nil {
		t.Error("unknown weighting accepted")
	}
}

// Splitting the draws by re-noising and averaging the per-part losses and gradients reproduces the
// whole micro-batch's (AWM with every term on, and RAM).
func TestDrawsPartsAverage(t *testing.T) {
	m, p, params, b := awmSetup(t, 160)
	nn.CopyAdapter(m, EMAAdapter, PolicyAdapter)
	randomizeAdapter(m, EMAAdapter, 0.2, 161)
	p.EMA = EMAAdapter
	cfg := DefaultAWMConfig()
	cfg.KLBeta = 0.1
	d := DrawAWM(tensor.NewRNG(162), cfg, b.X0)
	ramD := DrawRAM(tensor.NewRNG(163), 3, b.X0)
	for _, loss := range []func(Draws) *tensor.Tensor{
		func(d Draws) *tensor.Tensor { l, _ := AWMLoss(p, b, d, cfg); return l },
		func(d Draws) *tensor.Tensor { l, _ := RAMLoss(p, b, d, DefaultRAMConfig()); return l },
	} {
		for _, dd := range []Draws{d, ramD} {
			zeroGrads(params)
			whole := loss(dd)
			whole.Backward()
			want := grads(params)

			zeroGrads(params)
			sum := 0.0
			for j := 0; j < dd.K; j++ {
				l := tensor.MulScalar(loss(dd.Part(j)), float32(1/float64(dd.K)))
				l.Backward()
				sum += item(l)
			}
			checkClose(t, "loss from parts", []float64{sum}, []float64{item(whole)}, 1e-6, 1e-5)
			checkClose(t, "gradient from parts", grads(params), want, 1e-6*maxAbs(want), 1e-4)
		}
	}
}

// The official AWM adds both KL terms inside one `if kl_beta > 0` (docs/algorithms.md §4.7): with
// kl_beta = 0 the EMA-KL term is absent too, whatever ema_beta says, so the loss and gradient are
// the policy term's alone.
func TestAWMEMAKLOnlyWithKL(t *testing.T) {
	m := newMLP(6, 16, false, nil, 60)
	p, params := newLoRAPolicies(m, 4, 61)
	nn.CopyAdapter(m, EMAAdapter, PolicyAdapter)
	p.EMA = EMAAdapter
	randomizeAdapter(m, PolicyAdapter, 0.3, 62)
	randomizeAdapter(m, EMAAdapter, 0.2, 63)
	b := smallBatch(64, []float64{1, -0.5, 0.25, -1})
	d := DrawAWM(tensor.NewRNG(65), DefaultAWMConfig(), b.X0)

	cfg := DefaultAWMConfig()
	cfg.KLBeta, cfg.EMABeta = 0, 1
	zeroGrads(params)
	loss, st := AWMLoss(p, b, d, cfg)
	loss.Backward()
	got := grads(params)

	cfg.EMABeta = 0
	zeroGrads(params)
	ref, rst := AWMLoss(p, b, d, cfg)
	ref.Backward()
	want := grads(params)
	if st.EMAKL != 0 || st.Loss != rst.PG {
		t.Errorf("kl_beta 0, ema_beta 1: EMA-KL %g, loss %g; want 0 and the policy term %g", st.EMAKL, st.Loss, rst.PG)
	}
	checkClose(t, "gradient with kl_beta 0", got, want, 0, 0)
}
