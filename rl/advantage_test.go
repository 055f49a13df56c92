package rl

import (
	"math"
	"strings"
	"testing"
)

// Seven rewards in three interleaved groups: a = {1, 2, 3}, b = {5, 5}, c = {0, 4}.
// Over all seven: mean 20/7, Σr² = 80, population variance 80/7 − (20/7)² = 160/49,
// so the global std is 4√10/7 ≈ 1.80702.
var (
	advRewards = []float64{1, 5, 2, 0, 3, 5, 4}
	advKeys    = []string{"a", "b", "a", "c", "a", "b", "c"}
)

func TestAdvantagesGlobalStd(t *testing.T) {
	std := 4 * math.Sqrt(10) / 7
	d := std + 1e-4
	// Group means: a 2, b 5, c 2.
	want := []float64{-1 / d, 0, 0, -2 / d, 1 / d, 0, 2 / d}
	got, st, err := Advantages(advRewards, advKeys, AdvantageConfig{GlobalStd: true, Eps: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "global-std advantages", got, want, 1e-15, 1e-13)
	if st.Groups != 3 || math.Abs(st.ZeroSpreadFrac-1.0/3) > 1e-15 {
		t.Errorf("groups %d, zero-spread fraction %g; want 3 and 1/3 (group b)", st.Groups, st.ZeroSpreadFrac)
	}
	checkClose(t, "reward mean/std", []float64{st.RewardMean, st.RewardStd}, []float64{20.0 / 7, std}, 1e-15, 1e-13)
	if st.ClippedFrac != 0 {
		t.Errorf("clipped fraction %g without clipping", st.ClippedFrac)
	}
}

func TestAdvantagesPerPromptStd(t *testing.T) {
	sa := math.Sqrt(2.0 / 3) // std of {1,2,3}
	// b has std 0: its advantages are 0/(0+1e-4) = 0; c = {0,4} has std 2.
	want := []float64{-1 / (sa + 1e-4), 0, 0, -2 / (2 + 1e-4), 1 / (sa + 1e-4), 0, 2 / (2 + 1e-4)}
	got, _, err := Advantages(advRewards, advKeys, AdvantageConfig{Eps: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "per-prompt advantages", got, want, 1e-15, 1e-13)
}

func TestAdvantagesClipAndScale(t *testing.T) {
	d := 4*math.Sqrt(10)/7 + 1e-4
	// Clip at 1: |±2/d| ≈ 1.107 is clipped (2 of 7 samples), |±1/d| ≈ 0.553 is not.
	got, st, err := Advantages(advRewards, advKeys, AdvantageConfig{GlobalStd: true, Eps: 1e-4, Clip: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "clipped", got, []float64{-1 / d, 0, 0, -1, 1 / d, 0, 1}, 1e-15, 1e-13)
	if math.Abs(st.ClippedFrac-2.0/7) > 1e-15 {
		t.Errorf("clipped fraction %g, want 2/7", st.ClippedFrac)
	}

	// AWM: clip ±5 (inactive here), then /5.
	got, _, err = Advantages(advRewards, advKeys, AWMAdvantages())
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "AWM /5", got, []float64{-0.2 / d, 0, 0, -0.4 / d, 0.2 / d, 0, 0.4 / d}, 1e-15, 1e-13)

	// An outlier group: the global std is √(2·100²/12) ≈ 40.82, so y's advantages are ±2.449,
	// clipped to ±2 and then divided by 2; group x has mean 0 and advantage 0.
	r := []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -100, 100}
	k := []string{"x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "y", "y"}
	got, _, err = Advantages(r, k, AdvantageConfig{GlobalStd: true, Eps: 1e-4, Clip: 2, Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 12)
	want[10], want[11] = -1, 1
	checkClose(t, "clip 2 then /2", got, want, 0, 0)
}

func TestAdvantagesErrorsAndEdges(t *testing.T) {
	if _, _, err := Advantages([]float64{1, math.NaN()}, []string{"a", "a"}, FlowGRPOAdvantages()); err == nil || !strings.Contains(err.Error(), "reward 1") {
		t.Errorf("NaN reward: err = %v", err)
	}
	adv, st, err := Advantages(nil, nil, FlowGRPOAdvantages())
	if err != nil || len(adv) != 0 || st.Groups != 0 {
		t.Errorf("empty input: %v %+v %v", adv, st, err)
	}
	// All rewards equal: every advantage is exactly 0 and every group has zero spread.
	adv, st, _ = Advantages([]float64{3, 3, 3, 3}, []string{"a", "a", "b", "b"}, FlowGRPOAdvantages())
	if maxAbs(adv) != 0 || st.ZeroSpreadFrac != 1 || len(NonZero(adv)) != 0 {
		t.Errorf("constant rewards: %v, zero-spread %g", adv, st.ZeroSpreadFrac)
	}
	if got := NonZero([]float64{0, 1, 0, -2}); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("NonZero = %v, want [1 3]", got)
	}
}

func TestWeightedRewards(t *testing.T) {
	rs := map[string][]float64{"ocr": {1, 2}, "pref": {10, 20}, "unused": {7, 7}}
	got, err := WeightedRewards(rs, map[string]float64{"ocr": 0.5, "pref": 2})
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "weighted sum", got, []float64{20.5, 41}, 0, 0)

	for _, tc := range []struct {
		rewards map[string][]float64
		weights map[string]float64
		msg     string
	}{
		{rs, nil, "no reward weights"},
		{rs, map[string]float64{"jpeg": 1}, `"jpeg"`},
		{map[string][]float64{"a": {1}, "b": {1, 2}}, map[string]float64{"a": 1, "b": 1}, "scores"},
	} {
		if _, err := WeightedRewards(tc.rewards, tc.weights); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("weights %v: err = %v, want mention of %s", tc.weights, err, tc.msg)
		}
	}
}
