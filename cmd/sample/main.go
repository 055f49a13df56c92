// Command sample draws images from a flowtune model and writes them as one PNG grid.
//
//	go run ./cmd/sample -prompt "two red circles" -out samples.png
//	go run ./cmd/sample -prompt 'a sign that says "K7Q"' -n 8 -steps 40 -cfg 3 -sde -out k7q.png
//
// With -model unset it uses the shipped base model. Several -prompt flags make several rows.
//
// -heldout TASK scores the model on the task's held-out prompts instead (ODE, fixed seeds, every
// built-in reward) and writes a grid of the first prompts:
//
//	go run ./cmd/sample -heldout compose -n 2 -steps 10 -out heldout_compose.png
package main

import (
	"flag"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"strings"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/base"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/tensor"
)

type prompts []string

func (p *prompts) String() string     { return strings.Join(*p, "; ") }
func (p *prompts) Set(s string) error { *p = append(*p, s); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sample:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	flag := flag.NewFlagSet("sample", flag.ContinueOnError)
	var ps prompts
	flag.Var(&ps, "prompt", "prompt to sample (repeat for more rows)")
	model := flag.String("model", "", "model checkpoint (.safetensors); empty: the shipped base model")
	out := flag.String("out", "samples.png", "output PNG")
	n := flag.Int("n", 4, "images per prompt")
	steps := flag.Int("steps", 40, "sampling steps (shift-3 grid)")
	cfg := flag.Float64("cfg", 1, "classifier-free guidance scale (1: none)")
	sde := flag.Bool("sde", false, "use the Flow-GRPO SDE sampler (noise level -noise) instead of the ODE")
	noise := flag.Float64("noise", 0.7, "SDE noise level a")
	seed := flag.Uint64("seed", 1, "noise seed")
	scale := flag.Int("scale", 4, "upscaling of each image in the grid")
	heldout := flag.String("heldout", "", "score the model on this task's held-out prompts (compose, text or pref) with every reward")
	limit := flag.Int("prompts", 0, "with -heldout: use only this many held-out prompts (0: all)")
	if err := flag.Parse(args); err != nil {
		return err
	}
	if len(ps) == 0 && *heldout == "" {
		return fmt.Errorf("no -prompt given (example: -prompt \"two red circles\", or -heldout compose to score the held-out prompts)")
	}
	if len(ps) > 0 && *heldout != "" {
		return fmt.Errorf("give either -prompt or -heldout, not both")
	}
	if *n < 1 || *steps < 1 {
		return fmt.Errorf("-n and -steps must be ≥ 1")
	}
	b := tensor.CPU()
	var m *diffusion.Model
	var err error
	if *model == "" {
		m, err = base.Load(b)
	} else {
		m, _, err = diffusion.LoadModel(b, *model)
	}
	if err != nil {
		return err
	}
	tok := world.NewTokenizer(m.Cfg.TextLen)
	o := diffusion.SampleOptions{PerPrompt: *n, Steps: *steps, CFG: float32(*cfg), Seed: *seed}
	if *sde {
		o.SDE = &diffusion.SDEConfig{Kind: tensor.SDEFlow, Noise: *noise}
	}
	if *heldout != "" {
		return scoreHeldOut(stdout, m, tok, *heldout, *limit, o, *out, *scale)
	}
	imgs, err := diffusion.SamplePrompts(m, tok, ps, o)
	if err != nil {
		return err
	}
	if err := diffusion.SavePNG(*out, diffusion.Grid(imgs, *n, *scale)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d prompt(s) × %d image(s), %d steps, cfg %g, %s\n", *out, len(ps), *n, *steps, *cfg,
		map[bool]string{false: "ODE", true: fmt.Sprintf("SDE a=%g", *noise)}[*sde])
	return nil
}

// scoreHeldOut samples every held-out prompt of task o.PerPrompt times and prints the mean
// and standard error of each built-in reward.
func scoreHeldOut(stdout io.Writer, m *diffusion.Model, tok *world.Tokenizer, task string, limit int, o diffusion.SampleOptions, out string, scale int) error {
	w, err := world.New(world.DefaultConfig())
	if err != nil {
		return err
	}
	t, err := w.Task(task)
	if err != nil {
		return err
	}
	prompts := t.HeldOut
	if limit > 0 && limit < len(prompts) {
		prompts = prompts[:limit]
	}
	const batch = 32
	var imgs []image.Image
	var grid []*image.RGBA
	var all []string
	for lo := 0; lo < len(prompts); lo += batch {
		part := prompts[lo:min(lo+batch, len(prompts))]
		o.Seed += uint64(lo) // a different noise draw per batch, fixed by -seed
		got, err := diffusion.SamplePrompts(m, tok, part, o)
		if err != nil {
			return err
		}
		for i, im := range got {
			imgs = append(imgs, im)
			all = append(all, part[i/o.PerPrompt])
		}
		if lo == 0 {
			grid = got[:min(len(got), 8*o.PerPrompt)]
		}
	}
	fmt.Fprintf(stdout, "%s held-out: %d prompts × %d images, %d ODE steps, cfg %g\n", task, len(prompts), o.PerPrompt, o.Steps, o.CFG)
	for _, name := range reward.Names() {
		r, _ := reward.ByName(name)
		s, err := reward.ScoreAll(r, all, imgs)
		if err != nil {
			fmt.Fprintf(stdout, "  %-15s n/a on this task (%v)\n", name, err)
			continue
		}
		mu, se := meanStderr(s)
		fmt.Fprintf(stdout, "  %-15s %.4f ± %.4f\n", name, mu, se)
	}
	if err := diffusion.SavePNG(out, diffusion.Grid(grid, o.PerPrompt, scale)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (first prompts, one row each)\n", out)
	return nil
}

func meanStderr(v []float64) (float64, float64) {
	n := float64(len(v))
	mu := 0.0
	for _, x := range v {
		mu += x
	}
	mu /= n
	ss := 0.0
	for _, x := range v {
		ss += (x - mu) * (x - mu)
	}
	if n < 2 {
		return mu, 0
	}
	return mu, math.Sqrt(ss/(n-1)) / math.Sqrt(n)
}
