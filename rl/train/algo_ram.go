package train

// Reinforce Adjoint Matching in the trainer: rollouts of the lagged "old" adapter by the ODE,
// rl.RAMLoss at K levels per endpoint, and the old adapter following the policy by an EMA.

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// RAMSection is Reinforce Adjoint Matching's part of the config (docs/algorithms.md §6.4–6.5).
type RAMSection struct {
	Multiplier  float64 `yaml:"multiplier" help:"reward multiplier m"`
	Targets     int     `yaml:"targets" help:"re-noisings per endpoint (K)"`
	OldMaxDecay float64 `yaml:"old_max_decay" help:"the lagged policy's EMA decay is min(old_max_decay, old_ramp*step)"`
	OldRamp     float64 `yaml:"old_ramp" help:"lagged-policy decay growth per step"`
}

var ramSpec = &algoSpec{
	name: "ram",
	defaults: func(c *Config) {
		c.RAM = RAMSection{Multiplier: rl.DefaultRAMConfig().Multiplier, Targets: 2, OldMaxDecay: 0.9, OldRamp: 0.01}
	},
	validate: func(c Config) error {
		if c.RAM.Targets < 1 {
			return fmt.Errorf("config: ram.targets must be ≥ 1 (got %d)", c.RAM.Targets)
		}
		return checkDecay("ram.old", c.RAM.OldMaxDecay, c.RAM.OldRamp)
	},
	advantages: rl.RAMAdvantages(),
	build: func(r *run) algorithm {
		nn.CopyAdapter(r.net, rl.OldAdapter, rl.PolicyAdapter)
		return &ramAlgo{r: r, cfg: rl.RAMConfig{Multiplier: r.cfg.RAM.Multiplier, Targets: r.cfg.RAM.Targets}}
	},
}

type ramAlgo struct {
	r   *run
	cfg rl.RAMConfig
}

func (a *ramAlgo) rolloutAdapter() string           { return rl.OldAdapter }
func (a *ramAlgo) sde() (diffusion.SDEConfig, bool) { return diffusion.SDEConfig{}, false }

func (a *ramAlgo) train(b *stepBatch) (map[string]float64, error) {
	return a.r.trainEndpoints(b, func(mb rl.Batch) (*tensor.Tensor, map[string]float64) {
		l, st := rl.RAMLoss(a.r.pol, mb, rl.DrawRAM(a.r.trainRNG, a.cfg.Targets, mb.X0), a.cfg)
		// RefGap, mean (v_θ − v_ref)², is the velocity-space KL the other methods log.
		return l, map[string]float64{"loss": st.Loss, "kl": st.RefGap, "shift": st.Shift}
	})
}

func (a *ramAlgo) afterStep(s int) {
	c := a.r.cfg.RAM
	nn.UpdateAdapterEMA(a.r.net, rl.OldAdapter, rl.PolicyAdapter, rampDecay(c.OldMaxDecay, c.OldRamp, s))
}
