package diffusion

// Training-time noise-level samplers (docs/algorithms.md §1.1, §4.3, §6.5). All draw from a *tensor.RNG on the
// host, so a seeded run picks the same levels on every device.

import (
	"fmt"
	"math"

	"github.com/flowtune/flowtune/tensor"
)

// uniform01 draws u ∈ [0, 1) (the RNG's host uniform is in (0, 1]).
func uniform01(rng *tensor.RNG) float64 { return 1 - rng.Float64() }

func logistic(u float64) float64 { return 1 / (1 + math.Exp(-u)) }

// SampleLogitNormal draws σ = sigmoid(u), u ~ N(mean, std²) (SD3's training sampler with
// mean 0, std 1).
func SampleLogitNormal(rng *tensor.RNG, mean, std float64) float64 {
	return logistic(mean + std*rng.NormFloat64())
}

// SampleShiftedLogitNormal draws a logit-normal level and applies the timestep shift.
func SampleShiftedLogitNormal(rng *tensor.RNG, mean, std, shift float64) float64 {
	return Shift(SampleLogitNormal(rng, mean, std), shift)
}

// SampleUniform draws σ uniform on [lo, hi).
func SampleUniform(rng *tensor.RNG, lo, hi float64) float64 {
	return lo + (hi-lo)*uniform01(rng)
}

// SampleLinearT draws t with density p(t) = 2t on (0, 1] (biased toward noise; RAM's training
// distribution), by inverting the CDF t²: t = √u.
func SampleLinearT(rng *tensor.RNG) float64 { return math.Sqrt(rng.Float64()) }

// StratifiedLogitNormal draws k shifted logit-normal levels, one per quantile stratum
// [j/k, (j+1)/k) of the underlying normal, in random order, clamped below at minSigma — AWM's
// "logit_normal" option (mean 0, std 1, shift 3, minSigma 0.01).
func StratifiedLogitNormal(rng *tensor.RNG, k int, mean, std, shift, minSigma float64) []float64 {
	out := make([]float64, k)
	for j := range out {
		p := (float64(j) + uniform01(rng)) / float64(k)
		p = min(max(p, 1e-7), 1-1e-7) // keep the inverse CDF finite
		z := -math.Sqrt2 * math.Erfcinv(2*p)
		out[j] = max(Shift(logistic(mean+std*z), shift), minSigma)
	}
	shuffleFloats(rng, out)
	return out
}

// StratifiedUniform draws k levels, one uniform in each of k equal strata of [lo, hi), shuffled
// and then shifted — AWM's "uniform" option (lo 0.2, hi 1, shift 3). AWM draws one such column
// per sample of the micro-batch.
func StratifiedUniform(rng *tensor.RNG, k int, lo, hi, shift float64) []float64 {
	out := make([]float64, k)
	for j := range out {
		out[j] = Shift(lo+(hi-lo)*(float64(j)+uniform01(rng))/float64(k), shift)
	}
	shuffleFloats(rng, out)
	return out
}

// shuffleFloats permutes v uniformly (Fisher–Yates).
func shuffleFloats(rng *tensor.RNG, v []float64) {
	for i := len(v) - 1; i > 0; i-- {
		j := rng.Intn(i + 1)
		v[i], v[j] = v[j], v[i]
	}
}

// AWMTimeType selects how AWM draws its training indices on the sampling grid (docs/algorithms.md §4.3).
type AWMTimeType uint8

const (
	// AWMDiscreteWoInit: k strata of indices [1, ⌊n·fraction⌋), never the pure-noise index 0
	// (AWM's default for GenEval and OCR).
	AWMDiscreteWoInit AWMTimeType = iota
	// AWMDiscrete: k strata of [0, ⌊n·fraction⌋), so σ = 1 can be drawn (PickScore).
	AWMDiscrete
	// AWMDiscreteWithInit: index 0 always, plus k−1 strata of [1, ⌊n·fraction⌋).
	AWMDiscreteWithInit
)

func (t AWMTimeType) String() string {
	switch t {
	case AWMDiscreteWoInit:
		return "discrete_wo_init"
	case AWMDiscrete:
		return "discrete"
	case AWMDiscreteWithInit:
		return "discrete_with_init"
	}
	return "awm_time(?)"
}

// AWMStrata returns the index strata [lo_j, hi_j) of an n-step grid: the boundaries are
// linspace(first, ⌊n·fraction⌋, k+1) truncated to integers, where first is 0 for AWMDiscrete
// and 1 otherwise (AWMDiscreteWithInit builds k−1 strata; its fixed index 0 is not a stratum).
// For n = 14, k = 6, fraction 0.9 and AWMDiscreteWoInit: {1}, {2,3}, {4,5}, {6,7}, {8,9},
// {10,11}.
func AWMStrata(tt AWMTimeType, n, k int, fraction float64) (lo, hi []int) {
	first, strata := 1, k
	switch tt {
	case AWMDiscrete:
		first = 0
	case AWMDiscreteWithInit:
		strata = k - 1
	case AWMDiscreteWoInit:
	default:
		panic(fmt.Sprintf("diffusion.AWMStrata: unknown time type %d", tt))
	}
	last := int(float64(n) * fraction)
	if k < 1 || strata < 0 || last <= first || last > n {
		panic(fmt.Sprintf("diffusion.AWMStrata(%v): n=%d k=%d fraction=%g gives no valid strata", tt, n, k, fraction))
	}
	// The truncated boundary first + span·j/strata, in integer arithmetic so an exact integer
	// boundary never rounds down to the one below.
	span := last - first
	for j := 0; j < strata; j++ {
		lo = append(lo, first+span*j/strata)
		hi = append(hi, first+span*(j+1)/strata)
	}
	return lo, hi
}

// AWMIndices draws AWM's k training indices on an n-step grid: one per stratum of AWMStrata,
// lo + ⌊u·(hi − lo)⌋ with u uniform in [0, 1) (an empty stratum, possible when k exceeds the
// number of indices, yields its lower bound, as in the reference).
func AWMIndices(rng *tensor.RNG, tt AWMTimeType, n, k int, fraction float64) []int {
	lo, hi := AWMStrata(tt, n, k, fraction)
	var idx []int
	if tt == AWMDiscreteWithInit {
		idx = append(idx, 0)
	}
	for j := range lo {
		idx = append(idx, lo[j]+int(uniform01(rng)*float64(hi[j]-lo[j])))
	}
	return idx
}

// AWMSigmas draws AWM's k training indices on grid (n+1 levels for n steps) and returns the
// grid levels at those indices, which every sample of the micro-batch shares.
func AWMSigmas(rng *tensor.RNG, tt AWMTimeType, grid []float64, k int, fraction float64) []float64 {
	idx := AWMIndices(rng, tt, len(grid)-1, k, fraction)
	out := make([]float64, len(idx))
	for j, i := range idx {
		out[j] = grid[i]
	}
	return out
}
