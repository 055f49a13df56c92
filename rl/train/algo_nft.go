package train

// DiffusionNFT in the trainer: rollouts of the lagged "old" adapter by the ODE, rl.NFTLoss at K
// levels of the rollout grid, and the old adapter following the policy by an EMA.

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// NFTSection is DiffusionNFT's part of the config (docs/algorithms.md §5).
type NFTSection struct {
	Beta        float64 `yaml:"beta" help:"guidance strength of the implicit policies"`
	KLBeta      float64 `yaml:"kl_beta" help:"weight of the velocity KL to the base model"`
	AdvClip     float64 `yaml:"adv_clip" help:"Z: advantages clipped to ±Z before r = A/(2Z) + 1/2"`
	Timesteps   int     `yaml:"timesteps" help:"rollout-grid levels trained per micro-batch (drawn from the first rollout_steps-1)"`
	OldMaxDecay float64 `yaml:"old_max_decay" help:"the old policy's EMA decay is min(old_max_decay, old_ramp*step)"`
	OldRamp     float64 `yaml:"old_ramp" help:"old-policy decay growth per step"`
}

var nftSpec = &algoSpec{
	name: "nft",
	defaults: func(c *Config) {
		n := rl.DefaultNFTConfig()
		c.NFT = NFTSection{Beta: n.Beta, KLBeta: n.KLBeta, AdvClip: n.AdvClip, Timesteps: 2, OldMaxDecay: 0.5, OldRamp: 0.001}
	},
	validate: func(c Config) error {
		if c.NFT.Timesteps < 1 || c.NFT.Timesteps > c.RolloutSteps-1 {
			return fmt.Errorf("config: nft.timesteps must be in [1, rollout_steps-1 = %d] (got %d)", c.RolloutSteps-1, c.NFT.Timesteps)
		}
		if !(c.NFT.Beta > 0) || !(c.NFT.AdvClip > 0) {
			return fmt.Errorf("config: nft.beta and nft.adv_clip must be > 0 (got %g, %g)", c.NFT.Beta, c.NFT.AdvClip)
		}
		return checkDecay("nft.old", c.NFT.OldMaxDecay, c.NFT.OldRamp)
	},
	// DiffusionNFT clips inside its loss, so it gets the unclipped group advantage.
	advantages: rl.RAMAdvantages(),
	build: func(r *run) algorithm {
		nn.CopyAdapter(r.net, rl.OldAdapter, rl.PolicyAdapter)
		return &nftAlgo{r: r, cfg: r.cfg.nftConfig()}
	},
}

func (c Config) nftConfig() rl.NFTConfig {
	n := rl.DefaultNFTConfig()
	n.Beta, n.KLBeta, n.AdvClip = c.NFT.Beta, c.NFT.KLBeta, c.NFT.AdvClip
	n.GridSteps, n.Timesteps = c.RolloutSteps, c.NFT.Timesteps
	return n
}

type nftAlgo struct {
	r   *run
	cfg rl.NFTConfig
}

func (a *nftAlgo) rolloutAdapter() string           { return rl.OldAdapter }
func (a *nftAlgo) sde() (diffusion.SDEConfig, bool) { return diffusion.SDEConfig{}, false }

func (a *nftAlgo) train(b *stepBatch) (map[string]float64, error) {
	return a.r.trainEndpoints(b, func(mb rl.Batch) (*tensor.Tensor, map[string]float64) {
		l, st := rl.NFTLoss(a.r.pol, mb, rl.DrawNFT(a.r.trainRNG, a.cfg, mb.X0), a.cfg)
		return l, map[string]float64{"loss": st.Loss, "policy": st.Policy, "kl": st.KL,
			"pos_err": st.PosErr, "neg_err": st.NegErr}
	})
}

func (a *nftAlgo) afterStep(s int) {
	c := a.r.cfg.NFT
	nn.UpdateAdapterEMA(a.r.net, rl.OldAdapter, rl.PolicyAdapter, rampDecay(c.OldMaxDecay, c.OldRamp, s))
}
