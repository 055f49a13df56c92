package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/rl/train"
)

// The summary line prints a z only where it means something: not for a change that is rounding
// noise (one image off by 1e-7 out of 64 gives a z of 1), nor for a zero stderr.
func TestSummaryZLine(t *testing.T) {
	for _, c := range []struct {
		r    train.RewardSummary
		want string
	}{
		{train.RewardSummary{Delta: 1.6e-9, DeltaStderr: 1.6e-9, DeltaZ: 1}, "(+0.0000 ± 0.0000, no change at this precision)"},
		{train.RewardSummary{}, "(+0.0000 ± 0.0000, no change at this precision)"},
		{train.RewardSummary{Delta: 0.02}, "(+0.0200 ± 0.0000, zero stderr: z undefined)"},
		{train.RewardSummary{Delta: 0.02, DeltaStderr: 0.005, DeltaZ: 4}, "(+0.0200 ± 0.0050, z = 4.0)"},
		{train.RewardSummary{Delta: 0.00003, DeltaStderr: 0.0001, DeltaZ: 0.3}, "(+0.0000 ± 0.0001, z = 0.3)"},
	} {
		var out bytes.Buffer
		printSummary(&out, &train.Summary{Rewards: map[string]train.RewardSummary{"r": c.r}}, "dir")
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("%+v printed\n%s\nwant a line with %q", c.r, out.String(), c.want)
		}
	}
}
