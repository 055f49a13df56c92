package train

// Flow-GRPO in the trainer: policy rollouts by the SDE with stored log-probs, rl.FlowGRPOLoss
// replayed on each stored step, on-policy (no lagged adapter).

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// GRPOSection is Flow-GRPO's part of the config (docs/algorithms.md §2).
type GRPOSection struct {
	ClipRange        float64 `yaml:"clip_range" help:"PPO ratio clip ε"`
	AdvClip          float64 `yaml:"adv_clip" help:"advantage clip"`
	KLBeta           float64 `yaml:"kl_beta" help:"weight of the KL to the base model's step mean"`
	TimestepFraction float64 `yaml:"timestep_fraction" help:"share of the rollout steps trained"`
	SDE              SDE     `yaml:"sde" help:"rollout SDE: flow or cps"`
	Noise            float64 `yaml:"noise" help:"SDE noise level a"`
}

var grpoSpec = &algoSpec{
	name: "flowgrpo",
	defaults: func(c *Config) {
		g := rl.DefaultGRPOConfig()
		c.GRPO = GRPOSection{ClipRange: g.ClipRange, AdvClip: g.AdvClip, KLBeta: g.KLBeta,
			TimestepFraction: g.TimestepFraction, SDE: SDE(g.SDE.Kind), Noise: g.SDE.Noise}
	},
	validate: func(c Config) error {
		if k := (rl.GRPOConfig{TimestepFraction: c.GRPO.TimestepFraction}).TrainSteps(c.RolloutSteps); k < 1 || k > c.RolloutSteps {
			return fmt.Errorf("config: flowgrpo.timestep_fraction %g trains %d of %d rollout steps", c.GRPO.TimestepFraction, k, c.RolloutSteps)
		}
		if !(c.GRPO.Noise > 0) || !(c.GRPO.ClipRange > 0) {
			return fmt.Errorf("config: flowgrpo.noise and flowgrpo.clip_range must be > 0 (got %g, %g)", c.GRPO.Noise, c.GRPO.ClipRange)
		}
		return nil
	},
	advantages: rl.FlowGRPOAdvantages(),
	build:      func(r *run) algorithm { return &grpoAlgo{r: r, cfg: r.cfg.grpoConfig(r.uncond)} },
}

// grpoConfig needs the empty prompt for the guided training forward.
func (c Config) grpoConfig(uncond diffusion.Cond) rl.GRPOConfig {
	g := rl.DefaultGRPOConfig()
	g.ClipRange, g.AdvClip, g.KLBeta, g.TimestepFraction = c.GRPO.ClipRange, c.GRPO.AdvClip, c.GRPO.KLBeta, c.GRPO.TimestepFraction
	g.CFG, g.Uncond = float32(c.CFG), uncond
	g.SDE = diffusion.SDEConfig{Kind: tensor.SDEKind(c.GRPO.SDE), Noise: c.GRPO.Noise}
	return g
}

type grpoAlgo struct {
	r   *run
	cfg rl.GRPOConfig
}

func (a *grpoAlgo) rolloutAdapter() string           { return rl.PolicyAdapter }
func (a *grpoAlgo) sde() (diffusion.SDEConfig, bool) { return a.cfg.SDE, true }

// train replays every group's stored SDE steps (each group is one micro-batch) for the samples
// with a non-zero advantage; each group's losses are weighted by its share of those samples, so
// the gradient is the mean over the kept samples and trained steps (docs/algorithms.md §2.3).
func (a *grpoAlgo) train(b *stepBatch) (map[string]float64, error) {
	G := a.r.cfg.Group
	kept := len(rl.NonZero(b.adv))
	terms := map[string]float64{"loss": 0, "kl": 0, "kept_frac": float64(kept) / float64(len(b.adv))}
	if kept == 0 {
		return terms, nil // every group's rewards were equal: nothing to learn from this step
	}
	for g, ro := range b.sde {
		adv := b.adv[g*G : (g+1)*G]
		n := len(rl.NonZero(adv))
		if n == 0 {
			continue
		}
		w := float64(n) / float64(kept)
		st := rl.FlowGRPOAccumulate(a.r.pol, ro, b.conds[g], adv, a.cfg, w)
		if !finite(st.Loss) {
			return nil, fmt.Errorf("loss is %v in group %d", st.Loss, g)
		}
		for k, v := range map[string]float64{"loss": st.Loss, "pg": st.PG, "kl": st.KL, "ratio_mean": st.RatioMean,
			"clip_frac": st.ClipFrac, "approx_kl": st.ApproxKL} {
			terms[k] += w * v
		}
	}
	return terms, nil
}

func (a *grpoAlgo) afterStep(int) {}
