package diffusion

import (
	"math"
	"sort"
	"testing"

	"github.com/flowtune/flowtune/tensor"
)

// The σ grids are rational numbers: σ_min = Shift(1/1000, 3) = 1/334, and Shift maps rationals
// to rationals. These fractions were computed exactly (Python fractions.Fraction) from the
// recipe of docs/algorithms.md §1.3.
var (
	exactGrid10 = []float64{1, 891.0 / 928, 390.0 / 427, 223.0 / 260, 279.0 / 353, 447.0 / 632,
		56.0 / 93, 225.0 / 484, 57.0 / 205, 1.0 / 112, 0}
	exactGrid14 = []float64{1, 4009.0 / 4120, 1838.0 / 1949, 3343.0 / 3676, 1505.0 / 1727,
		2677.0 / 3232, 1172.0 / 1505, 2011.0 / 2788, 839.0 / 1283, 1345.0 / 2344, 506.0 / 1061,
		679.0 / 1900, 173.0 / 839, 1.0 / 112, 0}
	// The grids as docs/algorithms.md §1.3 prints them (4 decimals).
	specGrid10 = []float64{1.0, .9601, .9133, .8577, .7904, .7073, .6022, .4649, .2780, .0089, 0}
	specGrid14 = []float64{1.0, .9731, .9430, .9094, .8715, .8283, .7787, .7213, .6539, .5738,
		.4769, .3574, .2062, .0089, 0}
)

func TestSigmaGrid(t *testing.T) {
	g10, g14 := SigmaGrid(10, SD3Shift), SigmaGrid(14, SD3Shift)
	checkClose64(t, "N=10 vs exact", g10, exactGrid10, 1e-12, 0)
	checkClose64(t, "N=14 vs exact", g14, exactGrid14, 1e-12, 0)
	checkClose64(t, "N=10 vs spec", g10, specGrid10, 5.01e-5, 0)
	checkClose64(t, "N=14 vs spec", g14, specGrid14, 5.01e-5, 0)

	// N=40: docs/algorithms.md §1.3 lists the ends: 1.0, .9913, …, .1465, .0810, .0089, 0.
	g40 := SigmaGrid(40, SD3Shift)
	ends := []float64{g40[0], g40[1], g40[37], g40[38], g40[39], g40[40]}
	checkClose64(t, "N=40 ends vs spec", ends, []float64{1, .9913, .1465, .0810, .0089, 0}, 5.01e-5, 0)
	if len(g40) != 41 {
		t.Fatalf("N=40 grid has %d levels, want 41", len(g40))
	}
	// Every grid is the shift of a linspace whose low end is already shifted (the "double shift").
	for _, g := range [][]float64{g10, g14, g40} {
		n := len(g) - 1
		if got, want := Unshift(g[n-1], SD3Shift), Shift(1.0/1000, SD3Shift); math.Abs(got-want) > 1e-15 {
			t.Fatalf("N=%d: unshifted last level %g, want Shift(1/1000) = %g", n, got, want)
		}
		for i := 1; i < n; i++ {
			d0 := Unshift(g[1], SD3Shift) - Unshift(g[0], SD3Shift)
			if di := Unshift(g[i], SD3Shift) - Unshift(g[i-1], SD3Shift); math.Abs(di-d0) > 1e-14 {
				t.Fatalf("N=%d: unshifted spacing %g at %d, want %g (linspace)", n, di, i, d0)
			}
		}
	}
	if g := SigmaGrid(1, SD3Shift); len(g) != 2 || g[0] != 1 || g[1] != 0 {
		t.Fatalf("N=1 grid %v, want [1 0]", g)
	}
	if g := SigmaGrid(4, 1); math.Abs(g[3]-0.001) > 1e-15 || math.Abs(g[1]-(1-0.999/3)) > 1e-15 {
		t.Fatalf("unshifted N=4 grid %v, want linspace(1, 0.001, 4) then 0", g)
	}
}

func TestShiftUnshift(t *testing.T) {
	for _, S := range []float64{1, 3, 6.5} {
		for _, s := range []float64{0, 1e-3, 0.25, 0.5, 0.9, 1} {
			sigma := Shift(s, S)
			if back := Unshift(sigma, S); math.Abs(back-s) > 1e-15 {
				t.Fatalf("Unshift(Shift(%g, %g)) = %g", s, S, back)
			}
		}
	}
	// Shift(½, 3) = 1.5/2 = 0.75.
	if got := Shift(0.5, 3); got != 0.75 {
		t.Fatalf("Shift(0.5, 3) = %g, want 0.75", got)
	}
	if got := Timestep(0.2780487804878049); math.Abs(got-278.0487804878049) > 1e-12 {
		t.Fatalf("Timestep = %g", got)
	}
}

func TestFlowSDEScale(t *testing.T) {
	grid := SigmaGrid(10, SD3Shift)
	got := make([]float64, 10)
	for i := range got {
		got[i] = FlowSDEScale(grid, i, 0.7)
	}
	// docs/algorithms.md §2.1 (3 decimals), and the exact values 0.7·√(σ/(1−σ̃)) on the rational grid.
	spec := []float64{3.506, 3.435, 2.273, 1.719, 1.359, 1.088, 0.861, 0.652, 0.434, 0.066}
	checkClose64(t, "s_t vs spec", got, spec, 5.01e-4, 0)
	exact := make([]float64, 10)
	for i := range exact {
		tilde := exactGrid10[i]
		if i == 0 {
			tilde = exactGrid10[1]
		}
		exact[i] = 0.7 * math.Sqrt(exactGrid10[i]/(1-tilde))
	}
	checkClose64(t, "s_t vs exact", got, exact, 0, 1e-12)
	if s := FlowSDEScale(grid, 10, 0.7); s != 0 {
		t.Fatalf("s_t at σ = 0 is %g, want 0", s)
	}
	// Away from σ = 1 the discrete scale is the continuous coefficient: s_t² = g²(σ).
	if s, g2 := FlowSDEScale(grid, 4, 0.7), FlowSDEG2(grid[4], 0.7); math.Abs(s*s-g2) > 1e-12 {
		t.Fatalf("s_t² = %g, g² = %g", s*s, g2)
	}
	for _, tt := range []float64{0.1, 0.5, 0.9} {
		if a, b := MemorylessG2(tt), FlowSDEG2(tt, math.Sqrt2); math.Abs(a-b) > 1e-12*a {
			t.Fatalf("memoryless g²(%g) = %g, Flow-GRPO with a = √2 gives %g", tt, a, b)
		}
	}
}

func TestAWMStrata(t *testing.T) {
	cases := []struct {
		tt     AWMTimeType
		n, k   int
		lo, hi []int
	}{
		// docs/algorithms.md §4.3: {1}, {2,3}, {4,5}, {6,7}, {8,9}, {10,11}.
		{AWMDiscreteWoInit, 14, 6, []int{1, 2, 4, 6, 8, 10}, []int{2, 4, 6, 8, 10, 12}},
		{AWMDiscrete, 14, 6, []int{0, 2, 4, 6, 8, 10}, []int{2, 4, 6, 8, 10, 12}},
		// linspace(1, 12, 6) = 1, 3.2, 5.4, 7.6, 9.8, 12.
		{AWMDiscreteWithInit, 14, 6, []int{1, 3, 5, 7, 9}, []int{3, 5, 7, 9, 12}},
		// linspace(1, 9, 6) = 1, 2.6, 4.2, 5.8, 7.4, 9.
		{AWMDiscreteWoInit, 10, 5, []int{1, 2, 4, 5, 7}, []int{2, 4, 5, 7, 9}},
	}
	for _, c := range cases {
		lo, hi := AWMStrata(c.tt, c.n, c.k, 0.9)
		if !equalInts(lo, c.lo) || !equalInts(hi, c.hi) {
			t.Errorf("%v n=%d k=%d: strata lo %v hi %v, want lo %v hi %v", c.tt, c.n, c.k, lo, hi, c.lo, c.hi)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAWMIndices(t *testing.T) {
	rng := tensor.NewRNG(7)
	grid := SigmaGrid(14, SD3Shift)
	const draws = 12000
	counts := map[int]int{}
	for d := 0; d < draws; d++ {
		idx := AWMIndices(rng, AWMDiscreteWoInit, 14, 6, 0.9)
		lo, hi := AWMStrata(AWMDiscreteWoInit, 14, 6, 0.9)
		for j, i := range idx {
			if i < lo[j] || i >= hi[j] {
				t.Fatalf("draw %d: index %d of stratum %d outside [%d, %d)", d, i, j, lo[j], hi[j])
			}
			counts[i]++
		}
	}
	// Uniform within each stratum: the five two-index strata split about 50/50.
	for i := 2; i <= 10; i += 2 {
		frac := float64(counts[i]) / draws
		if math.Abs(frac-0.5) > 4*math.Sqrt(0.25/draws) {
			t.Errorf("index %d drawn in %.4f of its stratum's draws, want 0.5", i, frac)
		}
	}
	if counts[1] != draws || counts[0] != 0 || counts[12] != 0 {
		t.Errorf("index counts %v: want index 1 always, never 0 or 12", counts)
	}
	// σ range of the default: [σ_11, σ_1] = [0.357, 0.973].
	for d := 0; d < 200; d++ {
		for _, s := range AWMSigmas(rng, AWMDiscreteWoInit, grid, 6, 0.9) {
			if s < grid[11]-1e-15 || s > grid[1]+1e-15 {
				t.Fatalf("σ = %g outside [%g, %g]", s, grid[11], grid[1])
			}
		}
	}
	withInit := AWMIndices(rng, AWMDiscreteWithInit, 14, 6, 0.9)
	if len(withInit) != 6 || withInit[0] != 0 {
		t.Fatalf("discrete_with_init drew %v, want 6 indices starting with 0", withInit)
	}
	// The same seed replays the same draws.
	a, b := tensor.NewRNG(3), tensor.NewRNG(3)
	if x, y := AWMIndices(a, AWMDiscrete, 14, 6, 0.9), AWMIndices(b, AWMDiscrete, 14, 6, 0.9); !equalInts(x, y) {
		t.Fatalf("same seed, different draws: %v vs %v", x, y)
	}
}

// normalCDF is Φ(z).
func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

func TestTimestepSamplers(t *testing.T) {
	const n = 20000
	rng := tensor.NewRNG(11)
	// Logit-normal: logit(σ) ~ N(m, s²); shifted: logit(Unshift(σ)) ~ N(m, s²).
	var sum, sum2, ssum, ssum2, lin, lin2, below, usum float64
	for i := 0; i < n; i++ {
		u := logit(SampleLogitNormal(rng, 0.5, 1.5))
		sum += u
		sum2 += u * u
		v := logit(Unshift(SampleShiftedLogitNormal(rng, -0.2, 0.8, SD3Shift), SD3Shift))
		ssum += v
		ssum2 += v * v
		tt := SampleLinearT(rng)
		if !(tt > 0 && tt <= 1) {
			t.Fatalf("p(t) ∝ t draw %g outside (0, 1]", tt)
		}
		lin += tt
		lin2 += tt * tt
		if tt < 0.5 {
			below++
		}
		uu := SampleUniform(rng, 0.2, 1)
		if uu < 0.2 || uu >= 1 {
			t.Fatalf("uniform draw %g outside [0.2, 1)", uu)
		}
		usum += uu
	}
	se := 1 / math.Sqrt(n)
	check := func(what string, got, want, sd float64) {
		t.Helper()
		if math.Abs(got-want) > 4*sd*se {
			t.Errorf("%s = %.5f, want %.5f ± %.5f", what, got, want, 4*sd*se)
		}
	}
	check("logit-normal mean", sum/n, 0.5, 1.5)
	check("logit-normal std", math.Sqrt(sum2/n-(sum/n)*(sum/n)), 1.5, 1.5/math.Sqrt2)
	check("shifted logit-normal mean", ssum/n, -0.2, 0.8)
	check("shifted logit-normal std", math.Sqrt(ssum2/n-(ssum/n)*(ssum/n)), 0.8, 0.8/math.Sqrt2)
	// p(t) = 2t: E t = 2/3, E t² = 1/2, P(t < ½) = ¼.
	check("E t under p(t) ∝ t", lin/n, 2.0/3, math.Sqrt(1.0/18))
	check("E t² under p(t) ∝ t", lin2/n, 0.5, math.Sqrt(1.0/3-0.25))
	check("P(t < ½) under p(t) ∝ t", below/n, 0.25, math.Sqrt(0.25*0.75))
	check("uniform mean", usum/n, 0.6, 0.8/math.Sqrt(12))
}

func TestStratifiedSamplers(t *testing.T) {
	rng := tensor.NewRNG(5)
	const k = 6
	firstStratum := 0
	for rep := 0; rep < 500; rep++ {
		// Logit-normal: mapping each σ back to its normal quantile gives one per stratum.
		sig := StratifiedLogitNormal(rng, k, 0, 1, SD3Shift, 0.01)
		ps := make([]float64, k)
		for j, s := range sig {
			if s < 0.01 || s > 1 {
				t.Fatalf("σ = %g outside [0.01, 1]", s)
			}
			ps[j] = normalCDF(logit(Unshift(s, SD3Shift)))
		}
		if ps[0] < 1.0/k {
			firstStratum++ // the first draw came from the lowest stratum
		}
		sort.Float64s(ps)
		for j, p := range ps {
			if p < float64(j)/k-1e-9 || p > float64(j+1)/k+1e-9 {
				t.Fatalf("rep %d: sorted quantiles %v: value %d outside stratum [%g, %g]", rep, ps, j, float64(j)/k, float64(j+1)/k)
			}
		}
		// Uniform on [0.2, 1): one unshifted value per stratum of width 0.8/k.
		us := StratifiedUniform(rng, k, 0.2, 1, SD3Shift)
		for j := range us {
			us[j] = Unshift(us[j], SD3Shift)
		}
		sort.Float64s(us)
		for j, u := range us {
			lo, hi := 0.2+0.8*float64(j)/k, 0.2+0.8*float64(j+1)/k
			if u < lo-1e-12 || u >= hi+1e-12 {
				t.Fatalf("rep %d: sorted unshifted draws %v, value %d outside [%g, %g)", rep, us, j, lo, hi)
			}
		}
	}
	// The order is shuffled: the lowest stratum comes first about 1/k of the time.
	if frac := float64(firstStratum) / 500; math.Abs(frac-1.0/k) > 4*math.Sqrt((1.0/k)*(1-1.0/k)/500) {
		t.Errorf("lowest stratum first in %.3f of draws, want %.3f (shuffled)", frac, 1.0/k)
	}
}
