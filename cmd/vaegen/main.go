// Command vaegen writes a random-weight SD3-family VAE decoder as a diffusers vae/ folder, to
// pair with a random transformer from cmd/sd3gen for tests and timings without real weights.
//
//	go run ./cmd/sd3gen -config tiny -out /tmp/tiny && go run ./cmd/vaegen -config tiny -out /tmp/tiny/vae
//	go run ./cmd/vaegen -out /work/runs/sd35m-random/vae      # the SD3 VAE's shapes (decoder, ~100 MB in bf16)
//
// The decoded images of random weights mean nothing. Never commit its output.
package main

import (
	"flag"
	"fmt"
	"github.com/flowtune/flowtune/internal/cli"
	"io"
	"os"

	"github.com/flowtune/flowtune/diffusion/vae"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vaegen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "folder to write (config.json, diffusion_pytorch_model.safetensors)")
	config := fs.String("config", "sd3", "sd3 (the SD3 / SD3.5 VAE) or tiny (pairs with sd3gen -config tiny)")
	dtype := fs.String("dtype", nn.SafetensorsBF16, "on-disk dtype: BF16 or F32")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return cli.Report(stderr, "vaegen", err)
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "vaegen: give -out FOLDER (and no other arguments)")
		return 2
	}
	var cfg vae.Config
	switch *config {
	case "sd3":
		cfg = vae.SD3()
	case "tiny":
		cfg = vae.Tiny()
	default:
		fmt.Fprintf(stderr, "vaegen: unknown -config %q (sd3, tiny)\n", *config)
		return 2
	}
	d, err := vae.NewRandom(tensor.CPU(), cfg, *seed)
	if err == nil {
		err = vae.WriteDiffusers(*out, d, *dtype)
	}
	if err != nil {
		fmt.Fprintln(stderr, "vaegen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s: random %s VAE decoder, %d parameters, %d-channel latents, images %d× the latent side\n",
		*out, *config, nn.CountParams(d), cfg.LatentChannels, cfg.Factor())
	return 0
}
