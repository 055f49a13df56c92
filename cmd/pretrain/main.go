// Command pretrain trains flowtune's base text-to-image model on the built-in world.
//
// The shipped checkpoint (diffusion/base/base.safetensors) was made by a two-stage curriculum on
// the CPU: 12000 steps of a width-192, depth-8 model from random weights, then 10000 steps from
// that model at a lower peak rate, both on exact captions with 20% signs and with the held-out
// pairings in view (-see-held-out). One command runs both and continues an interrupted recipe:
//
//	go run ./cmd/pretrain -recipe shipped -out runs/base
//
// -recipe small makes the previous shipped base (2.06 M parameters, from this command's defaults).
//
// -init, -captions, -text-fraction and -until make any such stage by hand. A run prints a progress line every -log-every steps, writes sample grids (PNG), the EMA model
// as base.safetensors and a loss log into -out. Ctrl-C saves and stops.
//
// -dim, -depth, -heads, -size and -patch shape a larger model; the world renders at the model's
// -size. -device cuda trains on the GPU (a binary built with -tags cuda), e.g.
//
//	go build -tags cuda -o pretrain ./cmd/pretrain
//	./pretrain -device cuda -dim 256 -depth 8 -heads 8 -size 64 -batch 128 -steps 3000 -captions exact
//
// -logit-mean and -logit-std set the training noise levels, σ = sigmoid(u) with u normal (SD3's
// logit-normal; the default mean 0 centres them on σ = 0.5, and ln 3 ≈ 1.0986 puts as much
// weight at high noise as the sampler's shift-3 grid does).
//
// tools/base_gpu.sh builds and runs such a pretraining and scores the result.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"

	"github.com/flowtune/flowtune/cmd/internal/cpuprof"
	"github.com/flowtune/flowtune/cmd/internal/device"
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/logx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code := cli.Report(os.Stderr, "pretrain", run(ctx, os.Args[1:], os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg := diffusion.DefaultPretrainConfig()
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: pretrain [flags]\n\nTrains the base text-to-image model on the built-in world "+
			"(the shipped one was made with the defaults).\n\nflags:\n")
		fs.PrintDefaults()
	}
	out := fs.String("out", "runs/pretrain", "output directory")
	fs.IntVar(&cfg.Steps, "steps", cfg.Steps, "optimizer steps of the learning-rate schedule")
	fs.IntVar(&cfg.StopAfter, "until", 0, "stop after this many steps of the schedule (0: all of -steps)")
	fs.Float64Var(&cfg.TimeBudgetS, "time-budget", 0, "seconds of wall clock the run may take: after a few timed steps the schedule is shortened to fit, and re-fitted every 100 steps if the pace changes (-steps is then its upper bound; 0: no budget)")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "images per step")
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (warm-up, then cosine decay)")
	fs.Float64Var(&cfg.EMADecay, "ema", cfg.EMADecay, "EMA decay of the saved weights")
	fs.Float64Var(&cfg.LogitMean, "logit-mean", cfg.LogitMean, "training noise levels are σ = sigmoid(u), u ~ N(logit-mean, logit-std²); ln 3 ≈ 1.0986 is the sampler's shift 3")
	fs.Float64Var(&cfg.LogitStd, "logit-std", cfg.LogitStd, "spread of the training noise levels' logit (see -logit-mean)")
	fs.IntVar(&cfg.SampleEvery, "sample-every", cfg.SampleEvery, "write a sample grid every N steps (0: only at the end; -1: none)")
	fs.IntVar(&cfg.SaveEvery, "save-every", cfg.SaveEvery, "checkpoint every N steps")
	fs.IntVar(&cfg.LogEvery, "log-every", cfg.LogEvery, "progress line every N steps")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "data and noise seed")
	dim := fs.Int("dim", 0, "model width (0: default)")
	depth := fs.Int("depth", 0, "MMDiT blocks (0: default)")
	heads := fs.Int("heads", 0, "attention heads, dividing -dim (0: default)")
	size := fs.Int("size", 0, fmt.Sprintf("image side in pixels, a multiple of -patch and at least %d (0: default, 32)", world.MinSize))
	patch := fs.Int("patch", 0, "patch side in pixels (0: default, 4)")
	dev := fs.String("device", "cpu", "compute device: cpu or cuda (cuda needs a binary built with -tags cuda)")
	initFrom := fs.String("init", "", "start from this model checkpoint (.safetensors) instead of random weights: a later stage of the curriculum")
	captions := fs.String("captions", "web", "pretraining captions: web (under-describe their images, world.DefaultCaptionNoise) or exact")
	seeHeld := fs.Bool("see-held-out", false, "let pretraining draw the held-out colour–kind pairs, layouts and sign strings, as a web-pretrained base has seen every concept (only the RL prompts stay split); off, held-out prompts ask for pairings the base never saw")
	textFrac := fs.Float64("text-fraction", world.DefaultConfig().TextFraction, "fraction of pretraining samples that are signs (0–1)")
	recipe := fs.String("recipe", "", "run a whole curriculum of stages into -out/<stage> (shipped, alias wide-cpu: the one that made the shipped base; small: the previous 2 M base; wide: a 9.3 M model with GPU stages first); an interrupted recipe continues where it stopped")
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the whole run to this file when it ends (go tool pprof -top FILE)")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	stopProfile, err := cpuprof.Start(*cpuProfile)
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfile(); err == nil {
			err = perr
		}
	}()
	if *recipe != "" {
		return runRecipe(ctx, *recipe, *out, fs, stdout, stderr)
	}

	log := logx.New(stderr)
	if !(*textFrac >= 0 && *textFrac <= 1) {
		return cli.Usagef("-text-fraction must be in [0, 1] (got %g)", *textFrac)
	}
	if math.IsNaN(cfg.LogitMean) || math.IsInf(cfg.LogitMean, 0) {
		return cli.Usagef("-logit-mean must be a finite number (got %g; 0 centres the noise levels on σ = 0.5, ln 3 ≈ 1.0986 shifts them as the sampler's shift 3 does)", cfg.LogitMean)
	}
	if !(cfg.LogitStd > 0) || math.IsInf(cfg.LogitStd, 0) {
		return cli.Usagef("-logit-std must be a finite number > 0 (got %g; 1 is SD3's)", cfg.LogitStd)
	}
	if !(cfg.TimeBudgetS >= 0) || math.IsInf(cfg.TimeBudgetS, 0) {
		return cli.Usagef("-time-budget must be a finite number of seconds ≥ 0 (got %g; 0: no budget)", cfg.TimeBudgetS)
	}
	if cfg.TimeBudgetS > 0 && cfg.StopAfter > 0 {
		return cli.Usagef("-time-budget sets the schedule's length itself; drop -until %d", cfg.StopAfter)
	}
	wcfg := world.DefaultConfig()
	wcfg.TextFraction = *textFrac
	wcfg.PretrainHeldOut = *seeHeld
	switch *captions {
	case "web":
	case "exact":
		wcfg.Captions = world.CaptionNoise{}
	default:
		return cli.Usagef("-captions must be web or exact (got %q)", *captions)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"dim", *dim}, {"depth", *depth}, {"heads", *heads}, {"size", *size}, {"patch", *patch}} {
		if f.v < 0 {
			return cli.Usagef("-%s must be ≥ 0 (got %d; 0 keeps the default)", f.name, f.v)
		}
	}
	backend, err := device.Open(*dev)
	if err != nil {
		return err
	}
	tok := world.NewTokenizer(0)
	var m *diffusion.Model
	if *initFrom != "" {
		if *dim > 0 || *depth > 0 || *heads > 0 || *size > 0 || *patch > 0 {
			return cli.Usagef("-dim, -depth, -heads, -size and -patch come from the -init checkpoint; drop them")
		}
		if m, _, err = diffusion.LoadModel(backend, *initFrom); err != nil {
			return err
		}
	} else {
		mcfg, err := modelConfig(tok, *dim, *depth, *heads, *size, *patch)
		if err != nil {
			return err
		}
		if m, err = diffusion.NewModel(backend, mcfg); err != nil {
			return err
		}
	}
	// The world renders at the model's image size.
	wcfg.Size = m.Cfg.Size
	w, err := world.New(wcfg)
	if err != nil {
		return err
	}
	mcfg := m.Cfg
	if *dev != "cpu" {
		log.Info().Str("device", *dev).Str("gpu", device.Describe(backend)).Msg("device")
	}
	log.Info().Int("params", diffusion.CountParamsOf(m)).Interface("model", mcfg).Interface("train", cfg).Msg("pretraining the base model")

	p := &diffusion.Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: *out, Log: log,
		SamplePrompts: diffusion.DefaultSamplePrompts}
	if cfg.SampleEvery < 0 {
		p.Cfg.SampleEvery, p.SamplePrompts = 0, nil
	}
	return p.Run(ctx)
}

// modelConfig is the default model shape with the flags' non-zero values put in, checked with
// the flag names in the message.
func modelConfig(tok *world.Tokenizer, dim, depth, heads, size, patch int) (diffusion.ModelConfig, error) {
	c := diffusion.DefaultModelConfig(tok.VocabSize(), tok.MaxLen)
	for _, f := range []struct {
		dst *int
		v   int
	}{{&c.Dim, dim}, {&c.Depth, depth}, {&c.Heads, heads}, {&c.Size, size}, {&c.Patch, patch}} {
		if f.v > 0 {
			*f.dst = f.v
		}
	}
	switch {
	case c.Size < world.MinSize:
		return c, cli.Usagef("-size %d is below the world's minimum image side %d", c.Size, world.MinSize)
	case c.Size%c.Patch != 0:
		return c, cli.Usagef("-size %d is not a multiple of -patch %d", c.Size, c.Patch)
	case c.Dim%c.Heads != 0:
		return c, cli.Usagef("-dim %d is not a multiple of -heads %d", c.Dim, c.Heads)
	}
	return c, c.Validate()
}
