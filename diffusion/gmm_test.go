package diffusion

import (
	"math"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// testGMM2 is a 2-D, 3-component mixture with correlated covariances.
func testGMM2() *GMM {
	return NewGMM(
		[]float64{0.5, 0.3, 0.2},
		[][]float64{{2, 0}, {-1.5, 1.5}, {0, -2}},
		[][]float64{{0.3, 0.1, 0.1, 0.2}, {0.25, -0.08, -0.08, 0.4}, {0.5, 0, 0, 0.15}},
	)
}

// testGMM1 is a 1-D, 3-component mixture.
func testGMM1() *GMM {
	return NewGMM([]float64{0.2, 0.5, 0.3}, [][]float64{{-2}, {0.5}, {3}}, [][]float64{{0.4}, {0.2}, {1.1}})
}

func TestGMMSampleMoments(t *testing.T) {
	g := testGMM2()
	const n = 100000
	xs := g.Sample(tensor.NewRNG(1), n)
	mean, cov := sampleMoments(xs, 2)
	meanTol, covTol := momentTolerances(g.Cov(), 2, n)
	checkWithin(t, "sample mean", mean, g.Mean(), meanTol)
	checkWithin(t, "sample covariance", cov, g.Cov(), covTol)
	// E_p[γ_k(x)] = w_k: the average responsibility at t = 0 recovers the weights.
	f := g.At(0)
	avg := make([]float64, 3)
	for i := 0; i < n; i++ {
		gamma, _, _ := f.Posterior(xs[2*i : 2*i+2])
		for k := range avg {
			avg[k] += gamma[k] / n
		}
	}
	checkClose64(t, "mean responsibility vs weights", avg, g.Weights, 4*math.Sqrt(0.25/n), 0)
}

func TestGMMLogDensity(t *testing.T) {
	// 1-D against the textbook formula.
	g1 := testGMM1()
	x := 0.8
	want := 0.0
	for k, w := range g1.Weights {
		m, v := g1.Means[k][0], g1.Covs[k][0]
		want += w * math.Exp(-(x-m)*(x-m)/(2*v)) / math.Sqrt(2*math.Pi*v)
	}
	checkClose64(t, "1-D log-density", []float64{g1.LogDensity([]float64{x})}, []float64{math.Log(want)}, 1e-13, 1e-13)

	// 2-D: the density integrates to one and its first two moments are Mean and Cov
	// (midpoint rule on a fine grid; Gaussians make it converge very fast).
	g := testGMM2()
	const lo, hi, m = -8.0, 8.0, 640
	h := (hi - lo) / m
	var mass float64
	mom := make([]float64, 5) // E x, E y, E x², E xy, E y²
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			px, py := lo+(float64(i)+0.5)*h, lo+(float64(j)+0.5)*h
			p := math.Exp(g.LogDensity([]float64{px, py})) * h * h
			mass += p
			mom[0] += p * px
			mom[1] += p * py
			mom[2] += p * px * px
			mom[3] += p * px * py
			mom[4] += p * py * py
		}
	}
	mu, c := g.Mean(), g.Cov()
	checkClose64(t, "2-D mass", []float64{mass}, []float64{1}, 1e-9, 0)
	checkClose64(t, "2-D moments", mom, []float64{mu[0], mu[1], c[0] + mu[0]*mu[0], c[1] + mu[0]*mu[1], c[3] + mu[1]*mu[1]}, 1e-8, 1e-8)
}

// TestGMMVelocityScore checks the closed-form posterior against the score of the marginal:
// ∇ log p_t(x) = −E[ε | x_t = x]/t, with the gradient by central finite differences of the
// log-density of the noised mixture (an independent computation), plus the algebraic
// identities (1−t)x̂0 + tε̂ = x and v = (x − x̂0)/t.
func TestGMMVelocityScore(t *testing.T) {
	g := testGMM2()
	points := [][]float64{{0, 0}, {1.7, -0.3}, {-1.2, 1.9}, {0.4, -2.5}, {3.5, 2.5}}
	for _, tt := range []float64{0.03, 0.2, 0.5, 0.8, 0.97} {
		f, pt := g.At(tt), g.Marginal(tt)
		for _, x := range points {
			gamma, x0hat, epshat := f.Posterior(x)
			v := f.Velocity(nil, x)
			const h = 1e-5
			fd := make([]float64, 2)
			for d := 0; d < 2; d++ {
				xp, xm := append([]float64(nil), x...), append([]float64(nil), x...)
				xp[d] += h
				xm[d] -= h
				fd[d] = (pt.LogDensity(xp) - pt.LogDensity(xm)) / (2 * h)
			}
			score := []float64{-epshat[0] / tt, -epshat[1] / tt}
			checkClose64(t, "score −ε̂/t vs finite differences", score, fd, 1e-6, 1e-6)
			fromV := []float64{-(x[0] + (1-tt)*v[0]) / tt, -(x[1] + (1-tt)*v[1]) / tt}
			checkClose64(t, "score from v (docs/algorithms.md §1.1)", fromV, fd, 1e-6, 1e-6)
			recon := []float64{(1-tt)*x0hat[0] + tt*epshat[0], (1-tt)*x0hat[1] + tt*epshat[1]}
			checkClose64(t, "(1−t)x̂0 + tε̂ = x", recon, x, 1e-12, 1e-12)
			checkClose64(t, "v = (x − x̂0)/t", v, []float64{(x[0] - x0hat[0]) / tt, (x[1] - x0hat[1]) / tt}, 1e-10, 1e-10)
			checkClose64(t, "Σγ = 1", []float64{gamma[0] + gamma[1] + gamma[2]}, []float64{1}, 1e-14, 0)
		}
	}
}

// TestGMMVelocityEnds checks the ends of the path: at t = 1 (pure noise) v(x) = x − E[x0];
// at t = 0 (data) ε is independent of x0 = x, so v(x) = −x.
func TestGMMVelocityEnds(t *testing.T) {
	g := testGMM2()
	x := []float64{0.7, -1.1}
	m := g.Mean()
	checkClose64(t, "v(x, 1)", g.Velocity(x, 1), []float64{x[0] - m[0], x[1] - m[1]}, 1e-14, 1e-14)
	checkClose64(t, "v(x, 0)", g.Velocity(x, 0), []float64{-x[0], -x[1]}, 1e-14, 1e-14)
}

// TestGMMVelocityMonteCarlo estimates E[x0 | x_t = x] by self-normalised importance sampling
// (x0 drawn from the mixture, weighted by N(x; (1−t)x0, t²I)) and compares v = (x − x̂0)/t.
func TestGMMVelocityMonteCarlo(t *testing.T) {
	g := testGMM2()
	const M = 200000
	x0s := g.Sample(tensor.NewRNG(2), M)
	for _, tt := range []float64{0.5, 0.8} {
		for _, x := range [][]float64{{0.5, 0.2}, {1.2, -1}, {-1, 1}} {
			var sw, sw2 float64
			num := []float64{0, 0}
			ws := make([]float64, M)
			for i := 0; i < M; i++ {
				dx, dy := x[0]-(1-tt)*x0s[2*i], x[1]-(1-tt)*x0s[2*i+1]
				w := math.Exp(-(dx*dx + dy*dy) / (2 * tt * tt))
				ws[i] = w
				sw += w
				sw2 += w * w
				num[0] += w * x0s[2*i]
				num[1] += w * x0s[2*i+1]
			}
			est := []float64{num[0] / sw, num[1] / sw}
			// Delta-method standard error of a self-normalised estimate.
			se := []float64{0, 0}
			for i := 0; i < M; i++ {
				for d := 0; d < 2; d++ {
					r := x0s[2*i+d] - est[d]
					se[d] += ws[i] * ws[i] * r * r
				}
			}
			v := g.Velocity(x, tt)
			for d := 0; d < 2; d++ {
				se[d] = math.Sqrt(se[d]) / sw / tt // SE of the velocity coordinate
				vmc := (x[d] - est[d]) / tt
				if se[d] > 0.02 {
					t.Fatalf("t=%g x=%v: Monte Carlo SE %.3g too large for a meaningful check (ESS %.0f)", tt, x, se[d], sw*sw/sw2)
				}
				if math.Abs(v[d]-vmc) > 5*se[d] {
					t.Errorf("t=%g x=%v coord %d: exact v %.5f, Monte Carlo %.5f ± %.5f", tt, x, d, v[d], vmc, se[d])
				}
			}
		}
	}
}

// TestGMMODETransport integrates dx = v dt from t = 1 to 0 with 500 Euler steps on 20 000
// N(0, I) draws: the exact velocity must carry the noise onto the mixture.
func TestGMMODETransport(t *testing.T) {
	g := testGMM2()
	n, steps := 20000, 500
	if testing.Short() {
		n = 4000
	}
	rng := tensor.NewRNG(3)
	xs := make([]float64, 2*n)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	v := make([]float64, 2)
	for s := 0; s < steps; s++ {
		tc, tn := 1-float64(s)/float64(steps), 1-float64(s+1)/float64(steps)
		f := g.At(tc)
		for i := 0; i < n; i++ {
			x := xs[2*i : 2*i+2]
			f.Velocity(v, x)
			x[0] += (tn - tc) * v[0]
			x[1] += (tn - tc) * v[1]
		}
	}
	mean, cov := sampleMoments(xs, 2)
	meanTol, covTol := momentTolerances(g.Cov(), 2, n)
	t.Logf("ODE transport: mean %.4f (want %.4f), cov %.4f (want %.4f)", mean, g.Mean(), cov, g.Cov())
	checkWithin(t, "transported mean", mean, g.Mean(), meanTol)
	checkWithin(t, "transported covariance", cov, g.Cov(), covTol)
	f := g.At(0)
	avg := make([]float64, 3)
	for i := 0; i < n; i++ {
		gamma, _, _ := f.Posterior(xs[2*i : 2*i+2])
		for k := range avg {
			avg[k] += gamma[k] / float64(n)
		}
	}
	t.Logf("ODE transport: mean responsibilities %.4f (weights %.4f)", avg, g.Weights)
	checkClose64(t, "transported component weights", avg, g.Weights, 4*math.Sqrt(0.25/float64(n)), 0)
}

// gridTilt integrates p(x)·exp(r(x)/β) on a 1-D grid: it returns the normalised density at the
// grid points and the mean and variance.
func gridTilt(g *GMM, r func(x float64) float64, beta, lo, hi float64, m int) (xs, dens []float64, mean, variance float64) {
	h := (hi - lo) / float64(m)
	xs, dens = make([]float64, m), make([]float64, m)
	var z float64
	for i := range xs {
		x := lo + (float64(i)+0.5)*h
		xs[i] = x
		dens[i] = math.Exp(g.LogDensity([]float64{x}) + r(x)/beta)
		z += dens[i] * h
	}
	for i, x := range xs {
		dens[i] /= z
		mean += dens[i] * x * h
	}
	for i, x := range xs {
		variance += dens[i] * (x - mean) * (x - mean) * h
	}
	return xs, dens, mean, variance
}

func TestGMMTilt1D(t *testing.T) {
	g := testGMM1()
	cases := []struct {
		name string
		tilt *GMM
		r    func(x float64) float64
		beta float64
	}{
		{"linear", g.TiltLinear([]float64{1.3}, 0.7), func(x float64) float64 { return 1.3 * x }, 0.7},
		{"linear-negative", g.TiltLinear([]float64{-0.4}, 0.25), func(x float64) float64 { return -0.4 * x }, 0.25},
		{"quadratic", g.TiltQuadratic([]float64{2}, []float64{1}, 0.5), func(x float64) float64 { return -0.5 * 2 * (x - 1) * (x - 1) }, 0.5},
		{"quadratic-weak", g.TiltQuadratic([]float64{0.3}, []float64{-3}, 2), func(x float64) float64 { return -0.5 * 0.3 * (x + 3) * (x + 3) }, 2},
	}
	for _, c := range cases {
		xs, dens, mean, variance := gridTilt(g, c.r, c.beta, -30, 30, 60000)
		got := make([]float64, len(xs))
		for i, x := range xs {
			got[i] = math.Exp(c.tilt.LogDensity([]float64{x}))
		}
		checkClose64(t, c.name+": tilted density vs grid", got, dens, 1e-9, 1e-7)
		checkClose64(t, c.name+": mean and variance", []float64{c.tilt.Mean()[0], c.tilt.Cov()[0]}, []float64{mean, variance}, 1e-8, 1e-7)
		t.Logf("%s: tilted weights %.4f means %.4f (grid mean %.6f var %.6f)", c.name, c.tilt.Weights, c.tilt.Means, mean, variance)
	}
	// The form of the quadratic tilt weights in docs/algorithms.md §7.2, for invertible Q: w' ∝ w_k N(c; μ_k, Σ_k + βQ⁻¹).
	q := g.TiltQuadratic([]float64{2}, []float64{1}, 0.5)
	spec := make([]float64, 3)
	var z float64
	for k, w := range g.Weights {
		v := g.Covs[k][0] + 0.5/2
		spec[k] = w * math.Exp(-(1-g.Means[k][0])*(1-g.Means[k][0])/(2*v)) / math.Sqrt(v)
		z += spec[k]
	}
	for k := range spec {
		spec[k] /= z
	}
	checkClose64(t, "quadratic weights vs spec form", q.Weights, spec, 1e-13, 1e-12)
}

// TestGMMTilt2D checks the 2-D tilts (full covariances, a full and a singular Q) against the
// moments of p·exp(r/β) on a grid.
func TestGMMTilt2D(t *testing.T) {
	g := testGMM2()
	a := []float64{0.6, -0.9}
	Qfull := []float64{1.5, 0.4, 0.4, 0.8}
	Qsing := []float64{2, 0, 0, 0} // rewards only the first coordinate
	c := []float64{1, 1}
	quad := func(Q []float64) func(x, y float64) float64 {
		return func(x, y float64) float64 {
			dx, dy := x-c[0], y-c[1]
			return -0.5 * (Q[0]*dx*dx + (Q[1]+Q[2])*dx*dy + Q[3]*dy*dy)
		}
	}
	cases := []struct {
		name string
		tilt *GMM
		r    func(x, y float64) float64
		beta float64
	}{
		{"linear", g.TiltLinear(a, 0.8), func(x, y float64) float64 { return a[0]*x + a[1]*y }, 0.8},
		{"quadratic", g.TiltQuadratic(Qfull, c, 0.6), quad(Qfull), 0.6},
		{"quadratic-singular", g.TiltQuadratic(Qsing, c, 1.5), quad(Qsing), 1.5},
	}
	const lo, hi, m = -10.0, 10.0, 500
	h := (hi - lo) / m
	for _, tc := range cases {
		var z float64
		mom := make([]float64, 5)
		var maxErr, maxDens float64
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				x, y := lo+(float64(i)+0.5)*h, lo+(float64(j)+0.5)*h
				p := math.Exp(g.LogDensity([]float64{x, y}) + tc.r(x, y)/tc.beta)
				z += p * h * h
				mom[0] += p * x
				mom[1] += p * y
				mom[2] += p * x * x
				mom[3] += p * x * y
				mom[4] += p * y * y
			}
		}
		for k := range mom {
			mom[k] *= h * h / z
		}
		// Pointwise: the tilted mixture's density equals p·exp(r/β)/Z.
		for i := 0; i < m; i += 7 {
			for j := 0; j < m; j += 7 {
				x, y := lo+(float64(i)+0.5)*h, lo+(float64(j)+0.5)*h
				want := math.Exp(g.LogDensity([]float64{x, y})+tc.r(x, y)/tc.beta) / z
				maxErr = max(maxErr, math.Abs(math.Exp(tc.tilt.LogDensity([]float64{x, y}))-want))
				maxDens = max(maxDens, want)
			}
		}
		if maxErr > 1e-8*maxDens {
			t.Errorf("%s: tilted density differs from the grid by %.3g (peak %.3g)", tc.name, maxErr, maxDens)
		}
		mu, cv := tc.tilt.Mean(), tc.tilt.Cov()
		want := []float64{mu[0], mu[1], cv[0] + mu[0]*mu[0], cv[1] + mu[0]*mu[1], cv[3] + mu[1]*mu[1]}
		checkClose64(t, tc.name+": moments vs grid", want, mom, 1e-8, 1e-8)
		t.Logf("%s: weights %.4f, mean %.4f, grid mean [%.4f %.4f]", tc.name, tc.tilt.Weights, mu, mom[0], mom[1])
	}
}
