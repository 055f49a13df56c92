package diffusion

import (
	"math"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// gaussVelocity is the exact rectified-flow velocity of data x0 ~ N(mu, s²) per coordinate:
// x_t ~ N((1−t)mu, C) with C = (1−t)²s² + t², E[x0 | x_t = x] = mu + (1−t)s²(x − (1−t)mu)/C,
// and v = (x − E[x0|x_t])/t.
type gaussVelocity struct{ mu, s float64 }

func (g gaussVelocity) Velocity(x *tensor.Tensor, sigma []float32, c Cond) *tensor.Tensor {
	xs := x.Data()
	D := len(xs) / x.Dim(0)
	out := make([]float32, len(xs))
	for i, xv := range xs {
		t := float64(sigma[i/D])
		C := (1-t)*(1-t)*g.s*g.s + t*t
		ex0 := g.mu + (1-t)*g.s*g.s*(float64(xv)-(1-t)*g.mu)/C
		out[i] = float32((float64(xv) - ex0) / t)
	}
	return tensor.New(x.Backend(), out, x.Shape()...)
}

func moments(v []float32) (mean, variance float64) {
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		variance += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, variance / float64(len(v))
}

// With the exact velocity, the ODE and the Flow-GRPO SDE (a = 0.7) both carry N(0,1) noise to
// the data law N(mu, s²): same marginal moments (docs/algorithms.md §7.2 test 2).
func TestSDEAndODEShareMarginals(t *testing.T) {
	b := tensor.CPU()
	g := gaussVelocity{mu: 1.5, s: 0.5}
	const n = 20000
	grid := make([]float64, 201) // fine uniform grid: Euler error well below the tolerance
	for i := range grid {
		grid[i] = 1 - float64(i)/200
	}
	c := Cond{B: 1}
	x := tensor.NewRNG(1).Normal(b, 1, n)
	ode := SampleODE(g, x, grid, c).Data()
	r := SampleSDE(g, x, grid, c, SDEConfig{Kind: tensor.SDEFlow, Noise: 0.7}, tensor.NewRNG(2))
	sde := r.Final().Data()
	for name, v := range map[string][]float32{"ode": ode, "sde": sde} {
		m, va := moments(v)
		// Monte Carlo: std error of the mean ≈ s/√n = 0.0035, of the variance ≈ s²√(2/n) = 0.0025.
		if math.Abs(m-g.mu) > 0.02 || math.Abs(va-g.s*g.s) > 0.02 {
			t.Errorf("%s: mean %.4f var %.4f, want %.4f and %.4f", name, m, va, g.mu, g.s*g.s)
		}
	}
	if len(r.Latents) != len(grid) || len(r.LogProbs) != len(grid)-1 {
		t.Fatalf("rollout holds %d latents and %d log-prob steps for a %d-level grid", len(r.Latents), len(r.LogProbs), len(grid))
	}
}

// The stored log-prob of a sampled step equals the Gaussian density formula of docs/algorithms.md §2.1
// evaluated independently in float64.
func TestSDELogProbIsGaussianDensity(t *testing.T) {
	b := tensor.CPU()
	g := gaussVelocity{mu: -0.3, s: 0.8}
	grid := SigmaGrid(10, 3)
	const B, D = 3, 50
	c := Cond{B: B}
	x := tensor.NewRNG(5).Normal(b, B, D)
	r := SampleSDE(g, x, grid, c, SDEConfig{Kind: tensor.SDEFlow, Noise: 0.7}, tensor.NewRNG(6))
	for j := 0; j < len(grid)-1; j++ {
		xs, xn := r.Latents[j].Data(), r.Latents[j+1].Data()
		sig := make([]float32, B)
		for i := range sig {
			sig[i] = float32(grid[j])
		}
		vs := g.Velocity(r.Latents[j], sig, c).Data()
		s, sn := grid[j], grid[j+1]
		dt := sn - s
		st := FlowSDEScale(grid, j, 0.7)
		std := st * math.Sqrt(-dt)
		for bi := 0; bi < B; bi++ {
			var lp float64
			for d := 0; d < D; d++ {
				k := bi*D + d
				xv, v := float64(xs[k]), float64(vs[k])
				mu := xv + (v+st*st/(2*s)*(xv+(1-s)*v))*dt
				e := float64(xn[k]) - mu
				lp += -e*e/(2*std*std) - math.Log(std) - 0.5*math.Log(2*math.Pi)
			}
			lp /= D
			got := float64(r.LogProbs[j][bi])
			if math.Abs(got-lp) > 1e-4+1e-4*math.Abs(lp) {
				t.Errorf("step %d sample %d: stored log-prob %.6f, density formula %.6f", j, bi, got, lp)
			}
		}
	}
}

func TestSamplersRejectBadGrid(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("an increasing grid was accepted")
		}
	}()
	b := tensor.CPU()
	SampleODE(gaussVelocity{0, 1}, tensor.Zeros(b, 1, 2), []float64{0.5, 0.9, 0}, Cond{B: 1})
}
