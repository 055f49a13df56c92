package tensor_test

import (
	"math"
	"math/rand"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

func TestMSEAndSqErr(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	a, b := randNormal(rng, 2, 3, 5), randNormal(rng, 2, 3, 5)
	av, bv := a.Data(), b.Data()
	var all float64
	per := make([]float64, 2)
	for i := range av {
		d := float64(av[i]) - float64(bv[i])
		all += d * d
		per[i/15] += d * d / 15
	}
	mse := tensor.MSE(a, b)
	assertShape(t, "MSE", mse)
	assertClose(t, "MSE", mse, []float64{all / 30}, gradTol{1e-6, 1e-5})
	e := tensor.SqErr(a, b)
	assertShape(t, "SqErr", e, 2)
	assertClose(t, "SqErr", e, per, gradTol{1e-6, 1e-5})

	checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.MSE(in[0], in[1]) }, a, b)
	checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.SqErr(in[0], in[1]) }, a, b)
	c, d := randNormal(rng, 3, 1), randNormal(rng, 3, 1) // one element per sample
	checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.SqErr(in[0], in[1]) }, c, d)

	// Literal: mean of (1−0)², (3−1)² = 2.5; d/da = 2(a−b)/n.
	x := tensor.New(cpu, []float32{1, 3}, 2).SetRequiresGrad(true)
	y := tensor.New(cpu, []float32{0, 1}, 2).SetRequiresGrad(true)
	m := tensor.MSE(x, y)
	assertClose(t, "MSE literal", m, []float64{2.5}, literalTol)
	m.Backward()
	assertClose(t, "MSE grad a", x.Grad(), []float64{1, 2}, literalTol)
	assertClose(t, "MSE grad b", y.Grad(), []float64{-1, -2}, literalTol)

	mustPanic(t, func() { tensor.MSE(a, tensor.Zeros(cpu, 2, 15)) }, "tensor.MSE", "[2 3 5]", "[2 15]")
	mustPanic(t, func() { tensor.SqErr(a, tensor.Zeros(cpu, 5)) }, "tensor.SqErr")
}

// refSDE returns the Gaussian step mean and std of docs/algorithms.md §2.1 for one sample's elements.
func refSDE(a tensor.SDEArgs, x, v []float32) (mu []float64, std float64) {
	s, s1 := float64(a.Sigma), float64(a.SigmaNext)
	dt := s1 - s
	mu = make([]float64, len(x))
	switch a.Kind {
	case tensor.SDEFlow:
		st := float64(a.ST)
		std = st * math.Sqrt(-dt)
		for i := range x {
			xi, vi := float64(x[i]), float64(v[i])
			mu[i] = xi*(1+st*st*dt/(2*s)) + vi*(1+st*st*(1-s)/(2*s))*dt
		}
	case tensor.SDECPS:
		std = s1 * math.Sin(float64(a.ST)*math.Pi/2)
		for i := range x {
			xi, vi := float64(x[i]), float64(v[i])
			x0, eps := xi-s*vi, xi+(1-s)*vi
			mu[i] = (1-s1)*x0 + math.Sqrt(s1*s1-std*std)*eps
		}
	}
	return mu, std
}

// refLogProb is the per-sample log-prob of xNext under the step (Flow: Gaussian mean over D;
// CPS: −mean (x'−μ)²).
func refLogProb(a tensor.SDEArgs, x, v, xNext []float32, batch int) []float64 {
	dim := len(x) / batch
	out := make([]float64, batch)
	for b := 0; b < batch; b++ {
		sl := func(s []float32) []float32 { return s[b*dim : (b+1)*dim] }
		mu, std := refSDE(a, sl(x), sl(v))
		for i, xn := range sl(xNext) {
			d := float64(xn) - mu[i]
			if a.Kind == tensor.SDEFlow {
				out[b] += -d*d/(2*std*std) - math.Log(std) - 0.5*math.Log(2*math.Pi)
			} else {
				out[b] += -d * d
			}
		}
		out[b] /= float64(dim)
	}
	return out
}

func TestSDESampleAndLogProb(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	cases := map[string]tensor.SDEArgs{
		"flow": {Kind: tensor.SDEFlow, Sigma: 0.7, SigmaNext: 0.6, ST: float32(0.7 * math.Sqrt(0.7/0.3))},
		"cps":  {Kind: tensor.SDECPS, Sigma: 0.7, SigmaNext: 0.6, ST: 0.8},
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			x, v, z := randNormal(rng, 3, 2, 5), randNormal(rng, 3, 2, 5), randNormal(rng, 3, 2, 5)
			xNext, logp := tensor.SDESample(x, v, z, a)
			if xNext.RequiresGrad() || logp.RequiresGrad() {
				t.Fatal("SDESample recorded a graph")
			}
			assertShape(t, "xNext", xNext, 3, 2, 5)
			assertShape(t, "logp", logp, 3)
			// xNext = μ + std·z, sample by sample.
			xv, vv, zv := x.Data(), v.Data(), z.Data()
			want := make([]float64, len(xv))
			for b := 0; b < 3; b++ {
				mu, std := refSDE(a, xv[b*10:(b+1)*10], vv[b*10:(b+1)*10])
				for i := range mu {
					want[b*10+i] = mu[i] + std*float64(zv[b*10+i])
				}
			}
			assertClose(t, "xNext", xNext, want, gradTol{1e-5, 1e-5})
			assertClose(t, "sample logp", logp, refLogProb(a, xv, vv, xNext.Data(), 3), gradTol{1e-5, 1e-5})

			// Log-prob of a fixed sample under a different velocity; gradient to v only.
			v2 := randNormal(rng, 3, 2, 5)
			lp := tensor.SDELogProb(x, v2, xNext, a)
			assertClose(t, "logp", lp, refLogProb(a, xv, v2.Data(), xNext.Data(), 3), gradTol{1e-5, 1e-5})
			checkGrad(t, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.SDELogProb(x, in[0], xNext, a) }, v2)

			x.SetRequiresGrad(true)
			xNext.SetRequiresGrad(true)
			v2.SetRequiresGrad(true)
			tensor.Sum(tensor.SDELogProb(x, v2, xNext, a)).Backward()
			if x.Grad() != nil || xNext.Grad() != nil || v2.Grad() == nil {
				t.Fatal("SDELogProb must send its gradient to v only")
			}
		})
	}
	x := tensor.Zeros(cpu, 2, 3)
	mustPanic(t, func() {
		tensor.SDELogProb(x, x, tensor.Zeros(cpu, 2, 4), tensor.SDEArgs{Sigma: 0.5, SigmaNext: 0.4, ST: 1})
	}, "tensor.SDELogProb", "[2 4]")
	mustPanic(t, func() { tensor.SDESample(x, x, x, tensor.SDEArgs{Batch: 3, Sigma: 0.5, SigmaNext: 0.4, ST: 1}) }, "tensor.SDESample", "batch 3")
}
