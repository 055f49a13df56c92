package train

// Translation of the config's per-algorithm sections into the loss configurations.

import (
	"fmt"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

func (c Config) awmConfig() rl.AWMConfig {
	w, _ := rl.ParseWeighting(c.AWM.Weighting)
	tt, _ := parseTimeType(c.AWM.TimeType)
	a := rl.DefaultAWMConfig()
	a.Weighting, a.GHuberP, a.ClipRange = w, c.AWM.GHuberP, c.AWM.ClipRange
	a.KLBeta, a.EMABeta = c.AWM.KLBeta, c.AWM.EMABeta
	a.Timesteps, a.TimeType, a.GridSteps, a.Fraction = c.AWM.Timesteps, tt, c.AWM.GridSteps, c.AWM.Fraction
	return a
}

func (c Config) ramConfig() rl.RAMConfig {
	return rl.RAMConfig{Multiplier: c.RAM.Multiplier, Targets: c.RAM.Targets}
}

func (c Config) nftConfig() rl.NFTConfig {
	n := rl.DefaultNFTConfig()
	n.Beta, n.KLBeta, n.AdvClip = c.NFT.Beta, c.NFT.KLBeta, c.NFT.AdvClip
	n.GridSteps, n.Timesteps = c.RolloutSteps, c.NFT.Timesteps
	return n
}

// grpoConfig needs the empty prompt for the guided training forward.
func (c Config) grpoConfig(uncond diffusion.Cond) rl.GRPOConfig {
	g := rl.DefaultGRPOConfig()
	kind, _ := parseSDE(c.GRPO.SDE)
	g.ClipRange, g.AdvClip, g.KLBeta, g.TimestepFraction = c.GRPO.ClipRange, c.GRPO.AdvClip, c.GRPO.KLBeta, c.GRPO.TimestepFraction
	g.CFG, g.Uncond = float32(c.CFG), uncond
	g.SDE = diffusion.SDEConfig{Kind: kind, Noise: c.GRPO.Noise}
	return g
}

// advantageConfig is the normalisation each algorithm's reference uses (docs/algorithms.md §2.3, §4.6, §6.5;
// DiffusionNFT clips inside its loss, so it gets the unclipped group advantage).
func (c Config) advantageConfig() rl.AdvantageConfig {
	switch c.Algo {
	case "awm":
		return rl.AWMAdvantages()
	case "flowgrpo":
		return rl.FlowGRPOAdvantages()
	}
	return rl.RAMAdvantages()
}

func parseSDE(s string) (tensor.SDEKind, error) {
	switch s {
	case "flow", "":
		return tensor.SDEFlow, nil
	case "cps":
		return tensor.SDECPS, nil
	}
	return 0, fmt.Errorf("config: unknown flowgrpo.sde %q (valid: flow, cps)", s)
}
