package train

// Advantage Weighted Matching in the trainer: policy rollouts by the ODE, rl.AWMLoss at K grid
// levels per endpoint, and the KL-EMA adapter following the policy.

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// AWMSection is Advantage Weighted Matching's part of the config (docs/algorithms.md §4).
type AWMSection struct {
	Weighting   Weighting `yaml:"weighting" help:"log-likelihood proxy: ghuber, Uniform, t, t**2, huber"`
	GHuberP     float64   `yaml:"ghuber_p" help:"ghuber exponent"`
	ClipRange   float64   `yaml:"clip_range" help:"PPO ratio clip (1: inactive on-policy)"`
	KLBeta      float64   `yaml:"kl_beta" help:"weight of the velocity KL to the base model"`
	EMABeta     float64   `yaml:"ema_beta" help:"weight of the KL to the EMA of the policy, applied only when kl_beta > 0 as in the official code (0: no EMA adapter)"`
	EMAMaxDecay float64   `yaml:"ema_max_decay" help:"the KL-EMA decay is min(ema_max_decay, ema_ramp*step)"`
	EMARamp     float64   `yaml:"ema_ramp" help:"KL-EMA decay growth per step"`
	Timesteps   int       `yaml:"timesteps" help:"training noise levels per endpoint (K)"`
	TimeType    TimeType  `yaml:"time_type" help:"level strata: discrete_wo_init, discrete, discrete_with_init"`
	GridSteps   int       `yaml:"grid_steps" help:"steps of the grid the levels are drawn from"`
	Fraction    float64   `yaml:"fraction" help:"share of the grid the strata cover"`
}

var awmSpec = &algoSpec{
	name: "awm",
	defaults: func(c *Config) {
		a := rl.DefaultAWMConfig()
		c.AWM = AWMSection{Weighting: Weighting(a.Weighting), GHuberP: a.GHuberP, ClipRange: a.ClipRange,
			KLBeta: a.KLBeta, EMABeta: a.EMABeta, EMAMaxDecay: 0.3, EMARamp: 0.001,
			Timesteps: 2, TimeType: TimeType(a.TimeType), GridSteps: a.GridSteps, Fraction: a.Fraction}
	},
	validate: func(c Config) error {
		s := c.AWM
		if !(s.GHuberP > 0) { // the ghuber weighting raises the error to this power
			return fmt.Errorf("config: awm.ghuber_p must be > 0 (got %g)", s.GHuberP)
		}
		if s.Timesteps < 1 || s.GridSteps < 2 || !(s.Fraction > 0 && s.Fraction <= 1) {
			return fmt.Errorf("config: awm needs timesteps ≥ 1, grid_steps ≥ 2 and fraction in (0,1] (got %d, %d, %g)",
				s.Timesteps, s.GridSteps, s.Fraction)
		}
		return checkDecay("awm.ema", s.EMAMaxDecay, s.EMARamp)
	},
	advantages: rl.AWMAdvantages(),
	build: func(r *run) algorithm {
		if r.cfg.AWM.EMABeta != 0 && r.cfg.AWM.KLBeta > 0 { // the EMA-KL term needs kl_beta > 0 (§4.7)
			nn.CopyAdapter(r.net, rl.EMAAdapter, rl.PolicyAdapter)
		}
		return &awmAlgo{r: r, cfg: r.cfg.awmConfig()}
	},
}

func (c Config) awmConfig() rl.AWMConfig {
	a := rl.DefaultAWMConfig()
	a.Weighting, a.GHuberP, a.ClipRange = rl.Weighting(c.AWM.Weighting), c.AWM.GHuberP, c.AWM.ClipRange
	a.KLBeta, a.EMABeta = c.AWM.KLBeta, c.AWM.EMABeta
	a.Timesteps, a.TimeType, a.GridSteps, a.Fraction = c.AWM.Timesteps, diffusion.AWMTimeType(c.AWM.TimeType), c.AWM.GridSteps, c.AWM.Fraction
	return a
}

type awmAlgo struct {
	r   *run
	cfg rl.AWMConfig
}

func (a *awmAlgo) rolloutAdapter() string           { return rl.PolicyAdapter }
func (a *awmAlgo) sde() (diffusion.SDEConfig, bool) { return diffusion.SDEConfig{}, false }

func (a *awmAlgo) train(b *stepBatch) (map[string]float64, error) {
	return a.r.trainEndpoints(b, func(mb rl.Batch) (*tensor.Tensor, map[string]float64) {
		l, st := rl.AWMLoss(a.r.pol, mb, rl.DrawAWM(a.r.trainRNG, a.cfg, mb.X0), a.cfg)
		return l, map[string]float64{"loss": st.Loss, "pg": st.PG, "kl": st.KL, "ema_kl": st.EMAKL,
			"fm_err": st.FMErr, "ratio_mean": st.RatioMean, "clip_frac": st.ClipFrac}
	})
}

func (a *awmAlgo) afterStep(s int) {
	if a.r.pol.EMA != "" {
		c := a.r.cfg.AWM
		nn.UpdateAdapterEMA(a.r.net, rl.EMAAdapter, rl.PolicyAdapter, rampDecay(c.EMAMaxDecay, c.EMARamp, s))
	}
}
