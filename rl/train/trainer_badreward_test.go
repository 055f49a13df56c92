package train

import (
	"context"
	"errors"
	"image"
	"math"
	"sync/atomic"
	"testing"

	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
)

// wild is brightness until switched on, then answers v (a reward server answering 1e308, or NaN).
type wild struct {
	on *atomic.Bool
	v  float64
}

func (wild) Name() string { return "brightness" }

func (w wild) Score(p string, img image.Image) (float64, error) {
	if w.on.Load() {
		return w.v, nil
	}
	return rewardtest.Brightness{}.Score(p, img)
}

// A reward that answers ±1e308 or NaN, in a training step or in an evaluation, takes the path
// of every reward failure: the run saves a checkpoint, says how to resume, and the metrics stay
// readable; once the reward is fixed, resuming finishes the run.
func TestNonFiniteRewardCheckpointsAndResumes(t *testing.T) {
	for _, c := range []struct {
		name      string
		v         float64
		breakStep int
		want      string
	}{
		{"train 1e308", 1e308, 1, "step 2: reward brightness on"},
		{"train -1e308", -1e308, 1, "scores -1e+308"},
		{"eval NaN", math.NaN(), 0, "evaluation at step 2: reward brightness"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig("ram")
			cfg.CheckpointEvery = 0
			var on atomic.Bool
			dir := t.TempDir()
			tr := newTinyTrainer(t, cfg, dir)
			tr.ExtraRewards = map[string]reward.Reward{"brightness": wild{&on, c.v}}
			tr.afterStep = func(step int) {
				if step == c.breakStep {
					on.Store(true)
				}
			}
			if c.breakStep == 0 {
				// Score the rollouts normally; fail in the evaluation after step 2.
				tr.afterStep = nil
				tr.Phase = func(name string) func() {
					on.Store(name == "eval")
					return func() {}
				}
			}
			_, err := tr.Run(context.Background())
			if !errors.Is(err, ErrReward) {
				t.Fatalf("run returned %v, want ErrReward", err)
			}
			wantErr(t, err, c.want, "was saved", "-resume "+dir)
			readMetrics(t, dir) // every line parses
			want := c.breakStep
			if c.breakStep == 0 {
				want = 2 // the step whose evaluation failed
			}
			if st := readState(t, dir); st.Step != want {
				t.Fatalf("checkpoint holds step %d, want %d", st.Step, want)
			}

			on.Store(false)
			again := newTinyTrainer(t, cfg, dir)
			again.ExtraRewards = map[string]reward.Reward{"brightness": wild{&on, c.v}}
			again.Resume = true
			if s, err := again.Run(context.Background()); err != nil || s.Steps != cfg.Steps {
				t.Fatalf("resume after fixing the reward: %v", err)
			}
		})
	}
}
