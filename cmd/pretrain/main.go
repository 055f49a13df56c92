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
	"os"
	"os/signal"
	"time"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/tensor"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pretrain:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := diffusion.DefaultPretrainConfig()
	out := flag.String("out", "runs/pretrain", "output directory")
	flag.IntVar(&cfg.Steps, "steps", cfg.Steps, "optimizer steps")
	flag.IntVar(&cfg.Batch, "batch", cfg.Batch, "images per step")
	flag.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (warm-up, then cosine decay)")
	flag.Float64Var(&cfg.EMADecay, "ema", cfg.EMADecay, "EMA decay of the saved weights")
	flag.IntVar(&cfg.SampleEvery, "sample-every", cfg.SampleEvery, "write a sample grid every N steps")
	flag.IntVar(&cfg.SaveEvery, "save-every", cfg.SaveEvery, "checkpoint every N steps")
	flag.IntVar(&cfg.LogEvery, "log-every", cfg.LogEvery, "progress line every N steps")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "data and noise seed")
	dim := flag.Int("dim", 0, "model width (0: default)")
	depth := flag.Int("depth", 0, "MMDiT blocks (0: default)")
	flag.Parse()

	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	w, err := world.New(world.DefaultConfig())
	if err != nil {
		return err
	}
	tok := world.NewTokenizer(0)
	mcfg := diffusion.DefaultModelConfig(tok.VocabSize(), tok.MaxLen)
	if *dim > 0 {
		mcfg.Dim = *dim
	}
	if *depth > 0 {
		mcfg.Depth = *depth
	}
	m, err := diffusion.NewModel(tensor.CPU(), mcfg)
	if err != nil {
		return err
	}
	log.Info().Int("params", diffusion.CountParamsOf(m)).Interface("model", mcfg).Interface("train", cfg).Msg("pretraining the base model")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p := &diffusion.Pretrainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: *out, Log: log,
		SamplePrompts: diffusion.DefaultSamplePrompts}
	return p.Run(ctx)
}
