// Command sd3step times the phases of RL steps on an SD3-family checkpoint: a CFG rollout
// (Euler ODE, no tape), then one AWM and one RAM training step (taped forward, backward and
// AdamW on a rank-32 LoRA), with random prompt embeddings. It is the measurement the SD3 work
// leaves for a GPU:
//
//	go run ./cmd/sd3gen -out /tmp/sd35m                         # a random SD3.5-Medium, bf16
//	go run -tags cuda ./cmd/sd3step -device cuda -model /tmp/sd35m -size 512 -batch 4
//
// and it runs the same on the CPU with a small checkpoint:
//
//	go run ./cmd/sd3step -model diffusion/sd3/testdata/diffusers -size 64 -batch 2 -text 7
//
// Peak device memory is not read here (the backend keeps no high-water mark); sample it beside
// the run, e.g. nvidia-smi --query-gpu=memory.used --format=csv -lms 100.
package main

import (
	"flag"
	"fmt"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/memlimit"
	"os"
	"strings"
	"time"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/sd3"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl"
	"github.com/flowtune/flowtune/tensor"
)

func main() {
	memlimit.Apply() // collect garbage before the heap doubles past the machine (internal/memlimit)
	os.Exit(cli.Report(os.Stderr, "sd3step", run(os.Args[1:])))
}

func run(args []string) error {
	fs := flag.NewFlagSet("sd3step", flag.ContinueOnError)
	model := fs.String("model", "", "SD3 checkpoint: diffusers folder, transformer/ folder or single file")
	device := fs.String("device", "cpu", "cpu or cuda")
	size := fs.Int("size", 512, "image side in pixels (latent side = size/8)")
	batch := fs.Int("batch", 4, "images per training micro-batch (and per rollout)")
	text := fs.Int("text", 333, "prompt tokens")
	rank := fs.Int("rank", sd3.DefaultRank, "LoRA rank (alpha = 2·rank)")
	steps := fs.Int("rollout-steps", 10, "sampler steps of the rollout")
	cfgScale := fs.Float64("cfg", 4.5, "guidance scale of the rollout")
	recompute := fs.Bool("recompute", true, "per-block activation recomputation")
	algos := fs.String("algos", "awm,ram", "training steps to time")
	if err := cli.Parse(fs, args, os.Stdout); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("-model is required")
	}
	var b tensor.Backend
	switch *device {
	case "cpu":
		b = tensor.CPU()
	case "cuda":
		cb, err := cuda.New()
		if err != nil {
			return fmt.Errorf("-device cuda: %w", err)
		}
		b = cb
	default:
		return fmt.Errorf("unknown -device %q (cpu, cuda)", *device)
	}

	t0 := time.Now()
	m, info, err := sd3.LoadWith(b, *model, sd3.LoadOptions{})
	if err != nil {
		return err
	}
	cfg := m.Cfg
	fmt.Printf("load: %.1f s (%s layout, on-disk %v, base stored as %s)\n", time.Since(t0).Seconds(), info.Layout,
		info.DTypes, m.Blocks[0].Attn.X.ToQ.Weight.Storage().DType())
	if _, err := sd3.AddLoRA(m, rl.PolicyAdapter, *rank, float32(2**rank), sd3.DefaultTargets, tensor.NewRNG(1)); err != nil {
		return err
	}
	nn.CopyAdapter(m, rl.OldAdapter, rl.PolicyAdapter)
	nn.CopyAdapter(m, rl.EMAAdapter, rl.PolicyAdapter)
	nn.FreezeBase(m)
	nn.UseAdapter(m, rl.PolicyAdapter)
	m.Recompute = *recompute
	p := rl.NewPolicies(m)
	params := nn.AdapterParams(m, rl.PolicyAdapter)
	fmt.Printf("LoRA: rank %d on %d layers, %d trainable parameters; recompute %v\n",
		*rank, len(sd3.LoRATargets(m, sd3.DefaultTargets)), nn.Count(params), *recompute)
	est := sd3.EstimateTrainMemory(cfg, sd3.TrainShape{ImageSize: *size, TextTokens: *text, MicroBatch: *batch,
		LoRARank: *rank, BaseBF16: m.Blocks[0].Attn.X.ToQ.Weight.Storage().DType() == tensor.BFloat16,
		Recompute: *recompute, AdapterCopies: 2})
	fmt.Printf("estimated peak of a training step: %s\n", est)

	rng := tensor.NewRNG(7)
	B, lat := *batch, *size/8
	cond, err := diffusion.EmbeddingCond(rng.Normal(tensor.CPU(), B, *text, cfg.JointAttentionDim).Data(),
		rng.Normal(tensor.CPU(), B, cfg.PooledProjectionDim).Data(), B, *text, cfg.JointAttentionDim, cfg.PooledProjectionDim)
	if err != nil {
		return err
	}
	uncond, _ := diffusion.EmbeddingCond(make([]float32, *text*cfg.JointAttentionDim), make([]float32, cfg.PooledProjectionDim),
		1, *text, cfg.JointAttentionDim, cfg.PooledProjectionDim)

	sync := func() { _ = m.Blocks[0].Attn.X.ToQ.Bias.Data()[0] } // a download waits for the device
	t1 := time.Now()
	noise := rng.Normal(b, B, cfg.InChannels, lat, lat)
	x0 := diffusion.SampleODE(diffusion.Guided{Model: p.Sampler(rl.OldAdapter), Uncond: uncond, Scale: float32(*cfgScale)},
		noise, diffusion.SigmaGrid(*steps, diffusion.SD3Shift), cond)
	sync()
	fmt.Printf("rollout: %d images %d×%d, %d steps, CFG %.1f: %.2f s\n", B, *size, *size, *steps, *cfgScale, time.Since(t1).Seconds())

	adv := make([]float64, B)
	for i := range adv {
		adv[i] = float64(i%2)*2 - 1
	}
	batchData := rl.Batch{X0: x0, Cond: cond, Adv: adv}
	opt := nn.NewAdamW(params, nn.DefaultAdamWConfig())
	for _, algo := range strings.Split(*algos, ",") {
		nn.ZeroGrads(m)
		t2 := time.Now()
		var loss *tensor.Tensor
		switch algo {
		case "awm":
			c := rl.DefaultAWMConfig()
			d := rl.DrawAWM(rng, c, x0)
			loss, _ = rl.AWMLoss(p, batchData, d.Part(0), c)
		case "ram":
			loss, _ = rl.RAMLoss(p, batchData, rl.DrawRAM(rng, 1, x0), rl.DefaultRAMConfig())
		default:
			return fmt.Errorf("unknown algorithm %q in -algos (awm, ram)", algo)
		}
		fwd := time.Since(t2)
		loss.Backward()
		sync()
		bwd := time.Since(t2) - fwd
		norm := opt.Step()
		sync()
		fmt.Printf("%s step: loss %.4g, grad norm %.3g; forward+targets %.2f s, backward %.2f s, total %.2f s\n",
			algo, loss.Item(), norm, fwd.Seconds(), bwd.Seconds(), time.Since(t2).Seconds())
	}
	return nil
}
