package sd3_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/sd3"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

// TestAlgorithmsTrainSD3: AWM, RAM, Flow-GRPO (with CFG 4.5 rollouts) and DiffusionNFT each run
// two optimiser steps of their loss on the tiny SD3.5-structured model, conditioned on prompt
// embeddings; every loss is finite and the policy adapter moves. The samplers and losses are
// the ones the built-in model trains with: nothing is forked per model.
func TestAlgorithmsTrainSD3(t *testing.T) {
	b := tensor.CPU()
	const prompts, group, lat = 2, 2, 8
	for _, algo := range []string{"awm", "ram", "flowgrpo", "nft"} {
		m, err := sd3.Load(b, filepath.Join("testdata", "diffusers"))
		if err != nil {
			t.Fatal(err)
		}
		m.Recompute = algo == "ram" // one algorithm through the recomputing forward
		if _, err := sd3.AddLoRA(m, rl.PolicyAdapter, 4, 8, sd3.DefaultTargets, tensor.NewRNG(1)); err != nil {
			t.Fatal(err)
		}
		nn.CopyAdapter(m, rl.OldAdapter, rl.PolicyAdapter)
		nn.CopyAdapter(m, rl.EMAAdapter, rl.PolicyAdapter)
		nn.FreezeBase(m)
		nn.UseAdapter(m, rl.PolicyAdapter)
		p := rl.NewPolicies(m)

		rng := tensor.NewRNG(11)
		cfg := m.Cfg
		cond, err := diffusion.EmbeddingCond(rng.Normal(b, prompts, 7, cfg.JointAttentionDim).Data(),
			rng.Normal(b, prompts, cfg.PooledProjectionDim).Data(), prompts, 7, cfg.JointAttentionDim, cfg.PooledProjectionDim)
		if err != nil {
			t.Fatal(err)
		}
		uncond, _ := diffusion.EmbeddingCond(make([]float32, 7*cfg.JointAttentionDim), make([]float32, cfg.PooledProjectionDim),
			1, 7, cfg.JointAttentionDim, cfg.PooledProjectionDim)
		c := cond.Repeat(group)
		n := prompts * group
		grid := diffusion.SigmaGrid(4, diffusion.SD3Shift)
		noise := rng.Normal(b, n, cfg.InChannels, lat, lat)
		sampler := diffusion.Guided{Model: p.Sampler(rl.PolicyAdapter), Uncond: uncond, Scale: 4.5}
		roll := diffusion.SampleSDE(sampler, noise, grid, c, diffusion.SDEConfig{Kind: tensor.SDEFlow, Noise: 0.7}, rng)
		x0 := roll.Final()
		adv := []float64{1, -1, 0.5, -0.5}
		batch := rl.Batch{X0: x0, Cond: c, Adv: adv}

		params := nn.AdapterParams(m, rl.PolicyAdapter)
		before := map[string][]float32{}
		for _, q := range params {
			before[q.Name] = q.P.Data()
		}
		opt := nn.NewAdamW(params, nn.DefaultAdamWConfig())
		for step := 0; step < 2; step++ {
			nn.ZeroGrads(m)
			var loss *tensor.Tensor
			switch algo {
			case "awm":
				loss, _ = rl.AWMLoss(p, batch, rl.DrawAWM(rng, rl.DefaultAWMConfig(), x0), rl.DefaultAWMConfig())
			case "ram":
				loss, _ = rl.RAMLoss(p, batch, rl.DrawRAM(rng, 2, x0), rl.DefaultRAMConfig())
			case "nft":
				ncfg := rl.DefaultNFTConfig()
				ncfg.GridSteps, ncfg.Timesteps = 4, 3
				loss, _ = rl.NFTLoss(p, batch, rl.DrawNFT(rng, ncfg, x0), ncfg)
			case "flowgrpo":
				gcfg := rl.DefaultGRPOConfig()
				gcfg.Uncond = uncond
				loss, _ = rl.FlowGRPOLoss(p, roll, step, c, adv, gcfg)
			}
			v := float64(loss.Item())
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s step %d: loss %g", algo, step, v)
			}
			loss.Backward()
			opt.Step()
			t.Logf("%s step %d: loss %.5g", algo, step, v)
		}
		moved := 0.0
		for _, q := range params {
			for i, v := range q.P.Data() {
				moved = math.Max(moved, math.Abs(float64(v-before[q.Name][i])))
			}
		}
		if !(moved > 1e-5) {
			t.Fatalf("%s: the adapter did not move (largest change %g)", algo, moved)
		}
	}
}
