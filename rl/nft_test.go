package rl

import (
	"math"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// The DiffusionNFT loss equals a float64 evaluation of §5 from the three velocities, with a
// lagged policy different from the current one, β_nft = 0.7 and an advantage beyond the clip.
func TestNFTLossMatchesFormula(t *testing.T) {
	m := newMLP(6, 16, false, nil, 130)
	p, _ := newLoRAPolicies(m, 4, 131)
	randomizeAdapter(m, PolicyAdapter, 0.3, 132)
	nn.CopyAdapter(m, OldAdapter, PolicyAdapter)
	randomizeAdapter(m, OldAdapter, 0.3, 133)
	p.Old = OldAdapter
	b := smallBatch(134, []float64{0.8, -2, 7, 0}) // 7 is clipped to Z = 5
	cfg := NFTConfig{Beta: 0.7, KLBeta: 0.01, AdvClip: 5, GridSteps: 10, Shift: 3, Timesteps: 9}
	d := DrawNFT(tensor.NewRNG(135), cfg, b.X0)
	loss, st := NFTLoss(p, b, d, cfg)

	xt, _ := noisedBatch(b.X0, d.K, d.Sigma, d.Eps)
	c := repeatCond(b.Cond, d.K)
	var v, vOld, vRef []float64
	tensor.NoGrad(func() {
		v = f64(p.Theta(xt, d.Sigma, c).Data())
		vOld = f64(p.OldVelocity(xt, d.Sigma, c).Data())
		vRef = f64(p.Ref(xt, d.Sigma, c).Data())
	})
	x, x0 := f64(xt.Data()), f64(b.X0.Data())
	const B, D = 4, 6
	N := d.K * B
	beta, z := cfg.Beta, cfg.AdvClip
	var policy, kl float64
	for row := 0; row < N; row++ {
		s := float64(d.Sigma[row])
		r := max(-z, min(z, b.Adv[row%B]))/(2*z) + 0.5
		var sqP, sqN, absP, absN float64
		for j := 0; j < D; j++ {
			i := row*D + j
			vp := beta*v[i] + (1-beta)*vOld[i]
			vn := (1+beta)*vOld[i] - beta*v[i]
			dp := x[i] - s*vp - x0[(row%B)*D+j]
			dn := x[i] - s*vn - x0[(row%B)*D+j]
			sqP += dp * dp / D
			sqN += dn * dn / D
			absP += math.Abs(dp) / D
			absN += math.Abs(dn) / D
			kl += (v[i] - vRef[i]) * (v[i] - vRef[i]) / float64(N*D)
		}
		lp, ln := sqP/max(absP, 1e-5), sqN/max(absN, 1e-5)
		policy += z * (r*lp + (1-r)*ln) / beta / float64(N)
	}
	checkClose(t, "NFT loss, policy, KL", []float64{item(loss), st.Policy, st.KL},
		[]float64{policy + cfg.KLBeta*kl, policy, kl}, 1e-6, 1e-4)
	if d.K != 9 {
		t.Errorf("draws: K = %d, want all 9 trained levels of the 10-step grid", d.K)
	}
}

// DrawNFT picks Timesteps distinct levels at random among the first GridSteps − 1 levels of the
// rollout grid (the last step, σ → 0, is not trained), shared by the micro-batch: with all nine
// it is a permutation of them, as in the reference; with fewer, every level gets drawn over many
// micro-batches, not only the first ones.
func TestDrawNFTLevels(t *testing.T) {
	grid := diffusion.SigmaGrid(10, 3)
	x0 := tensor.Zeros(cpu, 2, 3)
	rng := tensor.NewRNG(150)
	for _, k := range []int{2, 9} {
		cfg := NFTConfig{GridSteps: 10, Shift: 3, Timesteps: k}
		seen := map[float32]int{}
		for n := 0; n < 200; n++ {
			d := DrawNFT(rng, cfg, x0)
			if d.K != k || len(d.Sigma) != 2*k {
				t.Fatalf("K=%d: draws K %d with %d levels", k, d.K, len(d.Sigma))
			}
			here := map[float32]bool{}
			for j := 0; j < k; j++ {
				s := d.Sigma[2*j]
				if d.Sigma[2*j+1] != s {
					t.Fatalf("K=%d: level %d not shared by the micro-batch: %g, %g", k, j, s, d.Sigma[2*j+1])
				}
				if here[s] {
					t.Fatalf("K=%d: level %g drawn twice in one micro-batch", k, s)
				}
				here[s] = true
				seen[s]++
			}
		}
		for i := 0; i < 9; i++ {
			if seen[float32(grid[i])] == 0 {
				t.Errorf("K=%d: grid level %d (σ = %.4f) never drawn in 200 micro-batches", k, i, grid[i])
			}
		}
		if len(seen) != 9 {
			t.Errorf("K=%d: %d distinct levels drawn, want the 9 of grid[:9]", k, len(seen))
		}
	}
}

// On-policy (v_old = sg(v_θ)) the implicit policies coincide in value and, with x̂0 − x0 =
// σ(Y − v), the gradient reduces to advantage-weighted flow matching with the adaptive weight:
//
//	∇L = mean_rows[ clip(A, ±Z) · σ / mean_D|v − Y| · ∇ mean_D (v − Y)² ]
//
// for any β_nft (β cancels). This also checks that the adaptive weights are stop-gradients.
func TestNFTOnPolicyGradient(t *testing.T) {
	m := newMLP(6, 16, false, nil, 140)
	p, params := newLoRAPolicies(m, 4, 141)
	randomizeAdapter(m, PolicyAdapter, 0.3, 142)
	b := smallBatch(143, []float64{0.8, -2, 7, -0.1})
	for _, beta := range []float64{1, 0.1} {
		cfg := NFTConfig{Beta: beta, AdvClip: 5, GridSteps: 10, Shift: 3, Timesteps: 9}
		d := DrawNFT(tensor.NewRNG(144), cfg, b.X0)
		zeroGrads(params)
		loss, _ := NFTLoss(p, b, d, cfg)
		loss.Backward()
		got := grads(params)

		zeroGrads(params)
		xt, y := noisedBatch(b.X0, d.K, d.Sigma, d.Eps)
		c := repeatCond(b.Cond, d.K)
		v := p.Theta(xt, d.Sigma, c)
		vh, yh := f64(v.Data()), f64(y.Data())
		N := d.K * 4
		coef := make([]float64, N)
		for row := range coef {
			mad := 0.0
			for j := 0; j < 6; j++ {
				mad += math.Abs(vh[row*6+j]-yh[row*6+j]) / 6
			}
			a := max(-5, min(5, b.Adv[row%4]))
			coef[row] = a * float64(d.Sigma[row]) / mad / float64(N)
		}
		tensor.Sum(tensor.Mul(tensor.SqErr(v, y), vector(cpu, coef))).Backward()
		want := grads(params)
		checkClose(t, "on-policy NFT gradient", got, want, 1e-5*maxAbs(want), 1e-3)
	}
}
