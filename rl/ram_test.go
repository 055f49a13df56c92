package rl

import (
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// smallBatch is B = 4 random endpoints of dimension [2, 3] with two prompts.
func smallBatch(seed uint64, adv []float64) Batch {
	rng := tensor.NewRNG(seed)
	return Batch{X0: rng.Normal(cpu, 4, 2, 3), Cond: testCond(1, 1, 2, 2), Adv: adv}
}

// With m·A = 0 the RAM target is v_ref; at θ = θ_ref (fresh adapter, B = 0) v_θ = v_ref exactly,
// so the loss and every gradient are exactly zero (docs/algorithms.md §7.2 test 4).
func TestRAMNoOpAtReference(t *testing.T) {
	m := newMLP(6, 16, false, nil, 1)
	p, params := newLoRAPolicies(m, 4, 2)
	rng := tensor.NewRNG(3)
	for _, tc := range []struct {
		name string
		mult float64
		adv  []float64
	}{
		{"m=0", 0, []float64{1.5, -0.5, 2, -3}},
		{"A=0", 100, []float64{0, 0, 0, 0}},
	} {
		b := smallBatch(4, tc.adv)
		d := DrawRAM(rng, 3, b.X0)
		zeroGrads(params)
		loss, st := RAMLoss(p, b, d, RAMConfig{Multiplier: tc.mult, Targets: 3})
		loss.Backward()
		g := grads(params)
		if item(loss) != 0 || st.RefGap != 0 || maxAbs(g) != 0 {
			t.Errorf("%s: loss %g, ref gap %g, max |grad| %g; want all exactly 0", tc.name, item(loss), st.RefGap, maxAbs(g))
		}
	}
	// The same point with m·A ≠ 0 is not a no-op (the check above can fail).
	b := smallBatch(4, []float64{1.5, -0.5, 2, -3})
	zeroGrads(params)
	loss, _ := RAMLoss(p, b, DrawRAM(rng, 3, b.X0), DefaultRAMConfig())
	loss.Backward()
	if item(loss) <= 0 || maxAbs(grads(params)) <= 0 {
		t.Errorf("m=100: loss %g, max |grad| %g; want both > 0", item(loss), maxAbs(grads(params)))
	}
}

// The RAM loss equals mean (v_θ − T)² with T = v_ref + m·A·((ε − x0) − v_old), recomputed here in
// float64 from the three velocities at x_t = (1−t)x0 + tε built on the host; v_old comes from the
// lagged adapter.
func TestRAMLossMatchesFormula(t *testing.T) {
	m := newMLP(6, 16, false, nil, 5)
	p, _ := newLoRAPolicies(m, 4, 6)
	randomizeAdapter(m, PolicyAdapter, 0.3, 7)
	nn.CopyAdapter(m, OldAdapter, PolicyAdapter)
	randomizeAdapter(m, OldAdapter, 0.3, 8) // the lagged policy differs from the current one
	p.Old = OldAdapter

	b := smallBatch(9, []float64{0.7, -1.2, 0.1, 2})
	d := DrawRAM(tensor.NewRNG(10), 5, b.X0)
	cfg := RAMConfig{Multiplier: 3, Targets: 5}
	loss, st := RAMLoss(p, b, d, cfg)

	// Host rebuild.
	B, D, K := 4, 6, 5
	x0, eps := f64(b.X0.Data()), f64(d.Eps.Data())
	xt := make([]float32, K*B*D)
	for r := 0; r < K*B; r++ {
		s := float64(d.Sigma[r])
		if s <= 0 || s > 1 {
			t.Fatalf("t = %g outside (0, 1]", s)
		}
		for j := 0; j < D; j++ {
			xt[r*D+j] = float32((1-s)*x0[(r%B)*D+j] + s*eps[r*D+j])
		}
	}
	xT := tensor.New(cpu, xt, K*B, 2, 3)
	c := repeatCond(b.Cond, K)
	var vTheta, vRef, vOld []float64
	tensor.NoGrad(func() {
		vTheta = f64(p.Velocity(PolicyAdapter, xT, d.Sigma, c).Data())
		vRef = f64(p.Velocity("", xT, d.Sigma, c).Data())
		vOld = f64(p.Velocity(OldAdapter, xT, d.Sigma, c).Data())
	})
	var sum, shift float64
	for r := 0; r < K*B; r++ {
		mA := cfg.Multiplier * b.Adv[r%B]
		for j := 0; j < D; j++ {
			y := eps[r*D+j] - x0[(r%B)*D+j]
			target := vRef[r*D+j] + mA*(y-vOld[r*D+j])
			sum += (vTheta[r*D+j] - target) * (vTheta[r*D+j] - target)
			shift += (target - vRef[r*D+j]) * (target - vRef[r*D+j])
		}
	}
	n := float64(K * B * D)
	checkClose(t, "RAM loss, shift", []float64{item(loss), st.Shift}, []float64{sum / n, shift / n}, 1e-6, 1e-4)
}

// The exact velocity family of shiftModel matches diffusion.GMM's velocity of N(μ + θ, Σ) (checks
// the helper the exactness test relies on).
func TestShiftModelIsGaussianVelocity(t *testing.T) {
	mu, cov := []float64{0.5, -0.3}, []float64{0.5, 0.2, 0.2, 0.3}
	theta := []float64{0.8, -0.4}
	m := newShiftModel(diffusion.NewGMM([]float64{1}, [][]float64{mu}, [][]float64{cov}))
	nn.AddAdapter(m, PolicyAdapter, 1, 1, tensor.NewRNG(1), nil)
	l := m.Shift.Adapter(PolicyAdapter)
	l.A.SetData([]float32{1})
	l.B.SetData([]float32{float32(theta[0]), float32(theta[1])})
	nn.UseAdapter(m, PolicyAdapter)

	shifted := diffusion.NewGMM([]float64{1}, [][]float64{{mu[0] + theta[0], mu[1] + theta[1]}}, [][]float64{cov})
	xs := []float32{0.3, -1.1, 2.0, 0.4, -0.7, 0.2}
	sigma := []float32{0.05, 0.5, 0.97}
	got := f64(m.Velocity(tensor.New(cpu, xs, 3, 2), sigma, diffusion.Cond{}).Data())
	var want []float64
	for i, s := range sigma {
		want = append(want, shifted.Velocity([]float64{float64(xs[2*i]), float64(xs[2*i+1])}, float64(s))...)
	}
	checkClose(t, "shift-model velocity", got, want, 1e-5, 1e-5)
}

// RAM exactness (docs/algorithms.md §6.3 step 6, §7.2 test 5): for a Gaussian reference N(μ, Σ) and the raw
// linear reward r = aᵀx0 with multiplier m, the RAM fixed point is the velocity of
// N(μ + mΣa, Σ). The model family here is exactly {velocity of N(μ + θ, Σ)}, so training θ with
// the RAM loss on exact on-policy samples must converge to θ* = mΣa.
func TestRAMFixedPointGaussianShift(t *testing.T) {
	mu, cov := []float64{0.5, -0.3}, []float64{0.5, 0.2, 0.2, 0.3}
	a, mult := []float64{1, -0.5}, 2.0
	want := []float64{mult * (cov[0]*a[0] + cov[1]*a[1]), mult * (cov[2]*a[0] + cov[3]*a[1])} // (0.8, 0.1)

	ref := diffusion.NewGMM([]float64{1}, [][]float64{mu}, [][]float64{cov})
	m := newShiftModel(ref)
	p, params := newLoRAPolicies(m, 1, 11)
	opt := nn.NewAdamW(params, nn.AdamWConfig{LR: 0.02, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	rng := tensor.NewRNG(12)
	const B, K, steps, avgFrom = 256, 4, 400, 200
	cfg := RAMConfig{Multiplier: mult, Targets: K}
	thetaAvg := make([]float64, 2)
	for step := 0; step < steps; step++ {
		theta := currentShift(m)
		// Exact on-policy endpoints: x0 ~ N(μ + θ, Σ).
		shifted := diffusion.NewGMM([]float64{1}, [][]float64{{mu[0] + theta[0], mu[1] + theta[1]}}, [][]float64{cov})
		x0 := shifted.Sample(rng, B)
		adv := make([]float64, B)
		for i := range adv {
			adv[i] = a[0]*x0[2*i] + a[1]*x0[2*i+1] // raw reward, no normalisation
		}
		b := Batch{X0: tensor.New(cpu, f32s(x0), B, 2), Cond: diffusion.Cond{B: B}, Adv: adv}
		zeroGrads(params)
		loss, _ := RAMLoss(p, b, DrawRAM(rng, K, b.X0), cfg)
		loss.Backward()
		opt.Step()
		if step >= avgFrom {
			th := currentShift(m)
			thetaAvg[0] += th[0] / (steps - avgFrom)
			thetaAvg[1] += th[1] / (steps - avgFrom)
		}
	}
	t.Logf("θ averaged over the last %d steps: (%.4f, %.4f), θ* = mΣa = (%.4f, %.4f)", steps-avgFrom, thetaAvg[0], thetaAvg[1], want[0], want[1])
	checkClose(t, "RAM fixed point θ", thetaAvg, want, 0.04, 0)
}

// currentShift reads θ = scale·B·A of the shift model's policy adapter.
func currentShift(m *shiftModel) []float64 {
	l := m.Shift.Adapter(PolicyAdapter)
	a := float64(l.A.Data()[0]) * float64(l.Scale())
	bs := l.B.Data()
	return []float64{a * float64(bs[0]), a * float64(bs[1])}
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// RAM exactness end to end: a LoRA-adapted MLP correction on top of the exact reference velocity
// of N(μ, Σ), trained with the RAM loss on endpoints sampled on-policy with an ODE solver, moves
// the sample mean to μ + m'Σa and keeps the covariance Σ. The reward r = aᵀx0 is centred on its
// batch mean (a baseline, as group-relative advantages without the std division): this cuts the
// variance and changes the fixed point only through the sample's own share of the mean, exactly
// m' = m(1 − 1/B). Heun's method is used for sampling because the Euler ODE's covariance error at
// few steps visibly shrinks the learned tilt.
func TestRAMTrainsMLPToTiltedGaussian(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model for a few seconds")
	}
	const B, K, steps = 64, 8, 500
	mu, cov := []float64{0.5, -0.3}, []float64{0.5, 0.2, 0.2, 0.3}
	a, mult := []float64{1, -0.5}, 2.0
	m1 := mult * (1 - 1.0/B)
	want := []float64{mu[0] + m1*(cov[0]*a[0]+cov[1]*a[1]), mu[1] + m1*(cov[2]*a[0]+cov[3]*a[1])} // ≈ (1.29, -0.20)

	ref := diffusion.NewGMM([]float64{1}, [][]float64{mu}, [][]float64{cov})
	m := newMLP(2, 32, true, ref, 21) // zero last layer: adapters off = exact reference
	p, params := newLoRAPolicies(m, 8, 22)
	const lr = 6e-3
	opt := nn.NewAdamW(params, nn.AdamWConfig{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	rng := tensor.NewRNG(23)
	grid := uniformGrid(10)
	cfg := RAMConfig{Multiplier: mult, Targets: K}
	for step := 0; step < steps; step++ {
		if f := float64(step) / steps; f > 0.4 { // linear decay to 5% over the last 60%
			opt.LR = float32(lr * (1 - 0.95*(f-0.4)/0.6))
		}
		x0 := heunSample(p.Sampler(PolicyAdapter), rng.Normal(cpu, B, 2), grid, diffusion.Cond{B: B})
		xs := x0.Data()
		adv, mean := make([]float64, B), 0.0
		for i := range adv {
			adv[i] = a[0]*float64(xs[2*i]) + a[1]*float64(xs[2*i+1])
			mean += adv[i] / B
		}
		for i := range adv {
			adv[i] -= mean
		}
		zeroGrads(params)
		loss, _ := RAMLoss(p, Batch{X0: x0, Cond: diffusion.Cond{B: B}, Adv: adv}, DrawRAM(rng, K, x0), cfg)
		loss.Backward()
		opt.Step()
	}
	const n = 4000
	x0 := heunSample(p.Sampler(PolicyAdapter), rng.Normal(cpu, n, 2), grid, diffusion.Cond{B: n})
	mean, gotCov := moments2(f64(x0.Data()))
	// The shift from μ is ≈ 0.79; sampling error of the mean is √(0.5/4000) ≈ 0.011 and the
	// run-to-run optimisation noise of the fixed point (seeds varied) about ±0.06.
	t.Logf("after %d RAM steps: sample mean (%.4f, %.4f), μ + m'Σa = (%.4f, %.4f), μ = (%.2f, %.2f); covariance %.3f vs Σ %v",
		steps, mean[0], mean[1], want[0], want[1], mu[0], mu[1], gotCov, cov)
	checkClose(t, "tilted sample mean", mean, want, 0.1, 0)
	checkClose(t, "tilted sample covariance", gotCov, cov, 0.06, 0)
}

// moments2 is the mean and covariance (row-major 2×2) of 2-D points stored row-major.
func moments2(xs []float64) (mean, cov []float64) {
	n := float64(len(xs) / 2)
	mean, cov = make([]float64, 2), make([]float64, 4)
	for i := 0; i < len(xs); i += 2 {
		mean[0] += xs[i] / n
		mean[1] += xs[i+1] / n
	}
	for i := 0; i < len(xs); i += 2 {
		d0, d1 := xs[i]-mean[0], xs[i+1]-mean[1]
		cov[0] += d0 * d0 / (n - 1)
		cov[1] += d0 * d1 / (n - 1)
		cov[3] += d1 * d1 / (n - 1)
	}
	cov[2] = cov[1]
	return mean, cov
}

// uniformGrid is σ = 1, 1 − 1/n, …, 0.
func uniformGrid(n int) []float64 {
	g := make([]float64, n+1)
	for i := range g {
		g[i] = 1 - float64(i)/float64(n)
	}
	return g
}
