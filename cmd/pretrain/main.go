// Command pretrain trains flowtune's base text-to-image model on the built-in world.
//
// The shipped checkpoint (diffusion/base/base.safetensors) was made with the defaults:
//
//	go run ./cmd/pretrain -out runs/pretrain
//
// It prints a progress line every -log-every steps, writes sample grids (PNG), the EMA model
// as base.safetensors and a loss log into -out. Ctrl-C saves and stops.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/logx"
	"github.com/flowtune/flowtune/tensor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code := cli.Report(os.Stderr, "pretrain", run(ctx, os.Args[1:], os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := diffusion.DefaultPretrainConfig()
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: pretrain [flags]\n\nTrains the base text-to-image model on the built-in world "+
			"(the shipped one was made with the defaults).\n\nflags:\n")
		fs.PrintDefaults()
	}
	out := fs.String("out", "runs/pretrain", "output directory")
	fs.IntVar(&cfg.Steps, "steps", cfg.Steps, "optimizer steps")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "images per step")
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (warm-up, then cosine decay)")
	fs.Float64Var(&cfg.EMADecay, "ema", cfg.EMADecay, "EMA decay of the saved weights")
	fs.IntVar(&cfg.SampleEvery, "sample-every", cfg.SampleEvery, "write a sample grid every N steps")
	fs.IntVar(&cfg.SaveEvery, "save-every", cfg.SaveEvery, "checkpoint every N steps")
	fs.IntVar(&cfg.LogEvery, "log-every", cfg.LogEvery, "progress line every N steps")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "data and noise seed")
	dim := fs.Int("dim", 0, "model width (0: default)")
	depth := fs.Int("depth", 0, "MMDiT blocks (0: default)")
	initFrom := fs.String("init", "", "start from this model checkpoint (.safetensors) instead of random weights: a later stage of the curriculum")
	captions := fs.String("captions", "web", "pretraining captions: web (under-describe their images, world.DefaultCaptionNoise) or exact")
	textFrac := fs.Float64("text-fraction", world.DefaultConfig().TextFraction, "fraction of pretraining samples that are signs (0–1)")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}

	log := logx.New(stderr)
	if !(*textFrac >= 0 && *textFrac <= 1) {
		return cli.Usagef("-text-fraction must be in [0, 1] (got %g)", *textFrac)
	}
	wcfg := world.DefaultConfig()
	wcfg.TextFraction = *textFrac
	switch *captions {
	case "web":
	case "exact":
		wcfg.Captions = world.CaptionNoise{}
	default:
		return cli.Usagef("-captions must be web or exact (got %q)", *captions)
	}
	w, err := world.New(wcfg)
	if err != nil {
		return err
	}
	tok := world.NewTokenizer(0)
	var m *diffusion.Model
	if *initFrom != "" {
		if *dim > 0 || *depth > 0 {
			return cli.Usagef("-dim and -depth come from the -init checkpoint; drop them")
		}
		if m, _, err = diffusion.LoadModel(tensor.CPU(), *initFrom); err != nil {
			return err
		}
	} else {
		mcfg := diffusion.DefaultModelConfig(tok.VocabSize(), tok.MaxLen)
		if *dim > 0 {
			mcfg.Dim = *dim
		}
		if *depth > 0 {
			mcfg.Depth = *depth
		}
		if m, err = diffusion.NewModel(tensor.CPU(), mcfg); err != nil {
			return err
		}
	}
	mcfg := m.Cfg
	log.Info().Int("params", diffusion.CountParamsOf(m)).Interface("model", mcfg).Interface("train", cfg).Msg("pretraining the base model")

	p := &diffusion.Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: *out, Log: log,
		SamplePrompts: diffusion.DefaultSamplePrompts}
	return p.Run(ctx)
}
