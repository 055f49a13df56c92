package rl

// Group-relative advantages (GRPO "stat tracking", docs/algorithms.md §2.3, §4.6, §6.5): every sample's reward
// is centred on the mean of its prompt's group and divided by a standard deviation, then clipped
// and optionally rescaled. Host float64; rewards of one epoch are passed in all at once, so
// there is no history between epochs.

import (
	"fmt"
	"math"
	"sort"
)

// AdvantageConfig selects the normalisation.
type AdvantageConfig struct {
	// GlobalStd divides by the std of all rewards of the epoch (Flow-GRPO SD3, AWM, NFT);
	// otherwise by the std of the sample's own group.
	GlobalStd bool
	// Eps is added to the std (1e-4).
	Eps float64
	// Clip bounds the normalised advantage to [−Clip, Clip]; 0 means no clipping (RAM).
	Clip float64
	// Scale divides the clipped advantage (AWM: 5, giving A ∈ [−1, 1]); 0 or 1 means none.
	Scale float64
}

// FlowGRPOAdvantages is Flow-GRPO's normalisation: global std, +1e-4, clip ±5 (§2.3).
func FlowGRPOAdvantages() AdvantageConfig {
	return AdvantageConfig{GlobalStd: true, Eps: 1e-4, Clip: 5}
}

// AWMAdvantages is AWM's: Flow-GRPO's, then divided by 5, so A ∈ [−1, 1] (§4.6).
func AWMAdvantages() AdvantageConfig {
	return AdvantageConfig{GlobalStd: true, Eps: 1e-4, Clip: 5, Scale: 5}
}

// RAMAdvantages is RAM's group-relative advantage without clipping (§6.5).
func RAMAdvantages() AdvantageConfig {
	return AdvantageConfig{GlobalStd: true, Eps: 1e-4}
}

// AdvantageStats summarises an epoch's rewards.
type AdvantageStats struct {
	Groups         int     // distinct prompts
	ZeroSpreadFrac float64 // fraction of groups whose rewards are all equal (their advantages are 0)
	RewardMean     float64 // over all samples
	RewardStd      float64 // over all samples (population std, as NumPy's np.std)
	ClippedFrac    float64 // fraction of samples whose advantage hit the clip bound
}

// Advantages normalises rewards within groups: keys[i] names the group (prompt) of sample i;
// groups need not be contiguous. Per sample,
//
//	A_i = clip((r_i − mean_{g(i)} r) / (std + Eps), −Clip, Clip) / Scale
//
// with std the global or the per-group population std. It panics when keys and rewards differ
// in length; a non-finite reward is a user-facing error.
func Advantages(rewards []float64, keys []string, cfg AdvantageConfig) ([]float64, AdvantageStats, error) {
	if len(keys) != len(rewards) {
		panic(fmt.Sprintf("rl.Advantages: %d rewards and %d group keys", len(rewards), len(keys)))
	}
	var st AdvantageStats
	for i, r := range rewards {
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, st, fmt.Errorf("rl.Advantages: reward %d (group %q) is %g", i, keys[i], r)
		}
	}
	adv := make([]float64, len(rewards))
	if len(rewards) == 0 {
		return adv, st, nil
	}
	groups := map[string][]int{}
	var order []string
	for i, k := range keys {
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	st.Groups = len(groups)
	st.RewardMean, st.RewardStd = meanStd(rewards, nil)

	scale := cfg.Scale
	if scale == 0 {
		scale = 1
	}
	zero, clipped := 0, 0
	for _, k := range order {
		idx := groups[k]
		mean, std := meanStd(rewards, idx)
		if cfg.GlobalStd {
			std = st.RewardStd
		}
		if spread(rewards, idx) == 0 {
			zero++
		}
		for _, i := range idx {
			a := (rewards[i] - mean) / (std + cfg.Eps)
			if cfg.Clip > 0 && math.Abs(a) > cfg.Clip {
				a = math.Copysign(cfg.Clip, a)
				clipped++
			}
			adv[i] = a / scale
		}
	}
	st.ZeroSpreadFrac = float64(zero) / float64(len(groups))
	st.ClippedFrac = float64(clipped) / float64(len(rewards))
	return adv, st, nil
}

// meanStd is the mean and population std of v over idx (all of v when idx is nil), in two
// passes for accuracy.
func meanStd(v []float64, idx []int) (mean, std float64) {
	n := len(idx)
	at := func(j int) float64 { return v[idx[j]] }
	if idx == nil {
		n = len(v)
		at = func(j int) float64 { return v[j] }
	}
	for j := 0; j < n; j++ {
		mean += at(j)
	}
	mean /= float64(n)
	for j := 0; j < n; j++ {
		d := at(j) - mean
		std += d * d
	}
	return mean, math.Sqrt(std / float64(n))
}

// spread is max − min over idx.
func spread(v []float64, idx []int) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, i := range idx {
		lo, hi = min(lo, v[i]), max(hi, v[i])
	}
	return hi - lo
}

// WeightedRewards combines several rewards per sample into r = Σ_k w_k r_k (§2.3, multi-reward)
// before normalisation. Every weighted reward must be present with one score per sample; rewards
// without a weight are ignored. Problems are returned as errors (they come from configs).
func WeightedRewards(rewards map[string][]float64, weights map[string]float64) ([]float64, error) {
	if len(weights) == 0 {
		return nil, fmt.Errorf("rl.WeightedRewards: no reward weights given")
	}
	names := make([]string, 0, len(weights))
	for name := range weights {
		names = append(names, name)
	}
	sort.Strings(names) // a fixed summation order keeps runs bit-reproducible
	var out []float64
	for _, name := range names {
		r, ok := rewards[name]
		if !ok {
			return nil, fmt.Errorf("rl.WeightedRewards: weight given for reward %q, which was not computed", name)
		}
		if out == nil {
			out = make([]float64, len(r))
		} else if len(r) != len(out) {
			return nil, fmt.Errorf("rl.WeightedRewards: reward %q has %d scores, others %d", name, len(r), len(out))
		}
		w := weights[name]
		for i, v := range r {
			out[i] += w * v
		}
	}
	return out, nil
}

// NonZero returns the indices of samples with a non-zero advantage: Flow-GRPO drops the others
// (e.g. whole groups with equal rewards) before training (§2.3).
func NonZero(adv []float64) []int {
	var out []int
	for i, a := range adv {
		if a != 0 {
			out = append(out, i)
		}
	}
	return out
}
