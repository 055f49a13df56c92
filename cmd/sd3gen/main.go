// Command sd3gen writes a random-weight SD3-family transformer checkpoint in the diffusers
// layout (transformer/config.json and bf16 safetensors, sharded like a Hub download), for
// loading, timing and memory checks without the real weights; with -forward it then loads a
// checkpoint and times one forward on the CPU.
//
//	go run ./cmd/sd3gen -out /work/runs/sd35m-random                 # SD3.5-Medium shapes, ~4.9 GB
//	go run ./cmd/sd3gen -forward /work/runs/sd35m-random -latent 32  # load + one forward, timed
//
// Never commit its output.
package main

import (
	"flag"
	"fmt"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/memlimit"
	"math"
	"os"
	"runtime"
	"time"

	"github.com/flowtune/flowtune/diffusion/sd3"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

func main() {
	memlimit.Apply() // collect garbage before the heap doubles past the machine (internal/memlimit)
	os.Exit(cli.Report(os.Stderr, "sd3gen", run(os.Args[1:])))
}

func run(args []string) error {
	fs := flag.NewFlagSet("sd3gen", flag.ContinueOnError)
	out := fs.String("out", "", "write a random checkpoint to this folder")
	config := fs.String("config", "sd3.5-medium", "named configuration: sd3-medium, sd3.5-medium, sd3.5-large, tiny")
	dtype := fs.String("dtype", nn.SafetensorsBF16, "on-disk dtype: BF16, F16 or F32")
	shard := fs.Int64("shard-gb", 2, "maximum shard size in GB (0: one file)")
	seed := fs.Uint64("seed", 1, "random seed")
	forward := fs.String("forward", "", "load this checkpoint and time one forward on the CPU")
	latent := fs.Int("latent", 32, "latent side for -forward (image side / 8)")
	text := fs.Int("text", 333, "prompt tokens for -forward")
	if err := cli.Parse(fs, args, os.Stdout); err != nil {
		return err
	}
	if *out == "" && *forward == "" {
		return fmt.Errorf("give -out DIR (write a checkpoint) or -forward DIR (time a forward)")
	}
	if *out != "" {
		cfg, err := sd3.Named(*config)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := sd3.WriteRandom(*out, cfg, *dtype, *shard*1e9, *seed); err != nil {
			return err
		}
		fmt.Printf("wrote %s (%s, %d parameters, %s) in %.1f s\n", *out, *config, sd3.CountParams(cfg), *dtype, time.Since(t0).Seconds())
	}
	if *forward != "" {
		return timeForward(*forward, *latent, *text)
	}
	return nil
}

func timeForward(path string, latent, text int) error {
	b := tensor.CPU()
	t0 := time.Now()
	m, info, err := sd3.LoadWith(b, path, sd3.LoadOptions{})
	if err != nil {
		return err
	}
	load := time.Since(t0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("loaded %s (%s layout, %d files, dtypes %v) in %.1f s; heap %.1f GiB\n",
		path, info.Layout, len(info.Files), info.DTypes, load.Seconds(), float64(ms.HeapAlloc)/(1<<30))
	rng := tensor.NewRNG(1)
	cfg := m.Cfg
	x := rng.Normal(b, 1, cfg.InChannels, latent, latent)
	ctx := rng.Normal(b, 1, text, cfg.JointAttentionDim)
	pooled := rng.Normal(b, 1, cfg.PooledProjectionDim)
	var v *tensor.Tensor
	t1 := time.Now()
	tensor.NoGrad(func() { v = m.Forward(x, []float32{500}, ctx, pooled) })
	d := v.Data()
	el := time.Since(t1)
	runtime.ReadMemStats(&ms)
	var sum float64
	for _, f := range d {
		sum += float64(f) * float64(f)
	}
	fmt.Printf("forward: batch 1, latent %d×%d (%d image tokens) + %d text tokens: %.1f s on %d CPU threads; rms(v) %.3f; peak heap %.1f GiB\n",
		latent, latent, (latent/cfg.PatchSize)*(latent/cfg.PatchSize), text, el.Seconds(), runtime.GOMAXPROCS(0),
		math.Sqrt(sum/float64(len(d))), float64(ms.Sys)/(1<<30))
	return nil
}
