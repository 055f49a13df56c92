package train

import (
	"context"
	"image"
	"path/filepath"
	"testing"

	"github.com/flowtune/flowtune/rl/reward"
)

// flat scores every image the same, so every group's rewards are equal and every advantage is 0.
type flat struct{}

func (flat) Name() string                               { return "flat" }
func (flat) Score(string, image.Image) (float64, error) { return 0.5, nil }

// A Flow-GRPO step whose samples all have zero advantage trains nothing (docs/algorithms.md
// §2.3): no optimiser step is taken, so even with a large weight decay the adapter after two such
// steps is the adapter after one, bit for bit, and AdamW has counted no step.
func TestFlowGRPOSkipsStepWithoutSignal(t *testing.T) {
	var adapters []map[string][]float32
	for _, steps := range []int{1, 2} {
		cfg := tinyConfig("flowgrpo")
		cfg.Reward, cfg.Steps, cfg.EvalEvery, cfg.WeightDecay = "flat", steps, 0, 0.5
		dir := t.TempDir()
		tr := newTinyTrainer(t, cfg, dir)
		tr.ExtraRewards = map[string]reward.Reward{"flat": flat{}}
		if _, err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := readState(t, dir); st.AdamSteps != 0 {
			t.Errorf("%d steps without signal: AdamW took %d steps, want 0", steps, st.AdamSteps)
		}
		m := map[string][]float32{}
		for name, h := range readTensors(t, filepath.Join(dir, AdaptersFile)) {
			m[name] = h.Data
		}
		adapters = append(adapters, m)
	}
	for name, a := range adapters[0] {
		b := adapters[1][name]
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("adapter %s[%d] moved from %g to %g in a step without signal", name, i, a[i], b[i])
			}
		}
	}
}
