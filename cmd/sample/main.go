// Command sample draws images from a flowtune model (the shipped base, a model checkpoint, or a
// fine-tuning run's adapter on its base) and writes them as one PNG grid, one row per prompt.
//
//	go run ./cmd/sample -prompt "two red circles"                       # the shipped base model
//	go run ./cmd/sample -run runs/ram-20260101-120000 -prompt "two red circles" -prompt "a blue square"
//	go run ./cmd/sample -adapters runs/x/checkpoint.safetensors -prompt 'a sign that says "K7Q"' -n 8 -sde
//	go run ./cmd/sample -run runs/x -export merged.safetensors          # base + LoRA folded into one model
//	go run ./cmd/sample -model merged.safetensors -prompt "two red circles"
//	go run ./cmd/sample -model big.safetensors -export small.safetensors -export-dtype bf16
//
// The grid goes into -out, a folder (default runs/samples-<time>) that receives samples.png and
// prompts.txt (the rows' prompts in order); an -out ending in .png names the grid file itself.
// Existing files are never overwritten without -force.
//
// -run DIR samples the latest trained policy of a finetune run directory (adapters.safetensors,
// or checkpoint.safetensors when that is further on) on the base model the run trained, as the
// adapter file records it (-model overrides). -adapters FILE does the same with one such file.
// -export FILE folds the adapter into the base weights and writes a model checkpoint that -model
// (and finetune -model) load like any other. Without an adapter it writes the model as it is:
// with -export-dtype bf16 that halves a checkpoint (weights rounded to bfloat16, read back as
// float32), the usual form of released model weights.
//
// -heldout TASK scores the model on the task's held-out prompts instead (fixed seeds, every
// built-in reward) and writes a grid of the first prompts:
//
//	go run ./cmd/sample -heldout compose -n 2 -steps 10
//
// -side train scores the task's training prompts the same way: beside the held-out score it
// shows how much of a gap is the pairings pretraining never drew.
//
// -from-truth LEVELS (with -heldout) asks where a model loses an image instead: it renders each
// held-out prompt's ground truth, noises it to each level σ0 of the list with one fixed noise draw,
// brings it back with the ODE on the part of the -steps grid below σ0, and prints every reward per
// level beside the ground truth's own score, with a grid of the first prompts (the ground truth,
// then one column per level):
//
//	go run ./cmd/sample -heldout compose -n 2 -steps 10 -from-truth 0.5,0.6,0.7,0.8,0.9,1
//
// A perfect velocity restores every image from every σ0 < 1; a level where the score falls is a
// range of noise where the model's velocity is wrong. The noised inputs themselves are scored
// too: the detectors see through light noise, so that is the floor a restoration must beat.
//
// -device cuda samples on the GPU (a binary built with -tags cuda); a model of any image size
// (cmd/pretrain -size) is scored by the rewards at its size.
//
// Flag values are checked before any work: finite numbers in sane ranges, and a memory estimate
// of the whole job against -max-mem.
package main

import (
	"flag"
	"fmt"
	"github.com/flowtune/flowtune/internal/memlimit"
	"image"
	"io"
	"math"
	"os"
	"strings"

	"github.com/flowtune/flowtune/cmd/internal/cpuprof"
	"github.com/flowtune/flowtune/cmd/internal/device"
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/internal/plot"
	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/tensor"
)

type prompts []string

func (p *prompts) String() string     { return strings.Join(*p, "; ") }
func (p *prompts) Set(s string) error { *p = append(*p, s); return nil }

// options are the parsed flags.
type options struct {
	prompts                      prompts
	model, run, adapters, export string
	exportDType                  string
	out                          string
	force, sde                   bool
	n, steps, scale, limit       int
	cfg, noise, maxMemGiB        float64
	seed                         uint64
	heldout, side, device        string
	fromTruth                    string
}

func main() {
	memlimit.Apply() // collect garbage before the heap doubles past the machine (internal/memlimit)
	os.Exit(cli.Report(os.Stderr, "sample", run(os.Args[1:], os.Stdout)))
}

func run(args []string, stdout io.Writer) (err error) {
	var o options
	var cpuProfile string
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sample [-model FILE | -run DIR | -adapters FILE] (-prompt TEXT ... | -heldout TASK) [flags]\n"+
			"       sample [-model FILE | -run DIR | -adapters FILE] -export FILE [-export-dtype bf16]\n\n"+
			"Draws images from a flowtune model into a PNG grid, or exports a model (a run's merged).\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.Var(&o.prompts, "prompt", "prompt to sample (repeat for more rows)")
	fs.StringVar(&o.model, "model", "", "model checkpoint (.safetensors); empty: the shipped base model, or with -run/-adapters the run's base")
	fs.StringVar(&o.run, "run", "", "finetune run directory: sample its latest trained adapter on its base model")
	fs.StringVar(&o.adapters, "adapters", "", "a run's adapters.safetensors or checkpoint.safetensors to put on the base model")
	fs.StringVar(&o.export, "export", "", "write the model to this .safetensors file (load it with -model); with -run or -adapters, the base model with the adapter merged into its weights")
	fs.StringVar(&o.exportDType, "export-dtype", "f32", "with -export: stored precision, f32 (exact) or bf16 (half the size, each weight rounded to bfloat16)")
	fs.StringVar(&o.out, "out", "", "output folder (default runs/samples-<time>); a name ending in .png is the grid file itself")
	fs.BoolVar(&o.force, "force", false, "overwrite existing output files")
	fs.IntVar(&o.n, "n", 4, fmt.Sprintf("images per prompt (1–%d)", maxPerPrompt))
	fs.IntVar(&o.steps, "steps", 40, fmt.Sprintf("sampling steps on the shift-3 grid (1–%d)", maxSteps))
	fs.Float64Var(&o.cfg, "cfg", 1, fmt.Sprintf("classifier-free guidance scale (1: none; 0–%g)", maxCFG))
	fs.BoolVar(&o.sde, "sde", false, "use the Flow-GRPO SDE sampler (noise level -noise) instead of the ODE")
	fs.Float64Var(&o.noise, "noise", 0.7, fmt.Sprintf("SDE noise level a (0 < a ≤ %g)", maxNoise))
	fs.Uint64Var(&o.seed, "seed", 1, "noise seed")
	fs.IntVar(&o.scale, "scale", 4, fmt.Sprintf("upscaling of each image in the grid (1–%d)", maxScale))
	fs.StringVar(&o.heldout, "heldout", "", "score the model on this task's held-out prompts (compose, text or pref) with every reward")
	fs.StringVar(&o.fromTruth, "from-truth", "", "with -heldout: render each prompt's ground truth, noise it to each of these levels σ0 (comma-separated, in (0, 1]) and restore it with the ODE; prints the rewards per level (where the model loses an image)")
	fs.StringVar(&o.side, "side", "heldout", "with -heldout: which of the task's prompt lists to score, heldout or train (the training side uses only pairings pretraining has seen; compare the two by family)")
	fs.IntVar(&o.limit, "prompts", 0, "with -heldout: use only this many held-out prompts (0: all)")
	fs.StringVar(&o.device, "device", "cpu", "compute device: cpu or cuda (cuda needs a binary built with -tags cuda)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the whole run to this file when it ends (go tool pprof -top FILE)")
	fs.Float64Var(&o.maxMemGiB, "max-mem", 0, "refuse jobs estimated to need more than this many GiB (0: 80% of the memory available now)")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	stopProfile, err := cpuprof.Start(cpuProfile)
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfile(); err == nil {
			err = perr
		}
	}()

	backend, err := device.Open(o.device)
	if err != nil {
		return err
	}
	m, src, err := loadModel(backend, o)
	if err != nil {
		return err
	}
	if o.export != "" {
		if err := export(m, src, o.export, o.exportDType, o.force); err != nil {
			return err
		}
		what := "merged"
		if src.adapter == nil {
			what = "as " + strings.ToUpper(o.exportDType)
		}
		fmt.Fprintf(stdout, "wrote %s: %s, %s (sample it with -model %s)\n", o.export, src.describe(), what, o.export)
		if len(o.prompts) == 0 && o.heldout == "" {
			return nil
		}
	}

	tok := world.NewTokenizer(m.Cfg.TextLen)
	so := diffusion.SampleOptions{PerPrompt: o.n, Steps: o.steps, CFG: float32(o.cfg), Seed: o.seed}
	if o.sde {
		so.SDE = &diffusion.SDEConfig{Kind: tensor.SDEFlow, Noise: o.noise}
	}
	if o.fromTruth != "" {
		levels, err := parseLevels(o.fromTruth)
		if err != nil {
			return err
		}
		return restoreHeldOut(stdout, m, src, tok, o, levels)
	}
	if o.heldout != "" {
		return scoreHeldOut(stdout, m, src, tok, o, so)
	}
	if err := o.checkMemory(m, len(o.prompts), len(o.prompts), len(o.prompts)); err != nil {
		return err
	}
	out, err := newOutput(o.out, "samples.png", o.force)
	if err != nil {
		return err
	}
	imgs, err := diffusion.SamplePrompts(m, tok, o.prompts, so)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("%s; %s", o.settings(), src.short())
	if err := out.write(captioned(title, imgs, o.prompts, o.n, o.scale), o.prompts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s, %d prompt(s) × %d image(s), %s\n", out.grid, src.describe(), len(o.prompts), o.n, o.settings())
	return nil
}

// heldOutBatch is how many held-out prompts are sampled at once.
const heldOutBatch = 32

// heldOutGridRows is how many of the held-out prompts the grid shows.
const heldOutGridRows = 8

// scoreHeldOut samples every held-out prompt of task o.heldout so.PerPrompt times and prints the
// mean and standard error of each built-in reward.
func scoreHeldOut(stdout io.Writer, m *diffusion.Model, src source, tok *world.Tokenizer, o options, so diffusion.SampleOptions) error {
	_, prompts, err := heldOutPrompts(m, o)
	if err != nil {
		return err
	}
	if err := o.checkMemory(m, len(prompts), min(heldOutBatch, len(prompts)), min(heldOutGridRows, len(prompts))); err != nil {
		return err
	}
	out, err := newOutput(o.out, "heldout_"+o.heldout+".png", o.force)
	if err != nil {
		return err
	}
	var imgs []image.Image
	var grid []*image.RGBA
	var all []string
	for lo := 0; lo < len(prompts); lo += heldOutBatch {
		part := prompts[lo:min(lo+heldOutBatch, len(prompts))]
		so.Seed += uint64(lo) // a different noise draw per batch, fixed by -seed
		got, err := diffusion.SamplePrompts(m, tok, part, so)
		if err != nil {
			return err
		}
		for i, im := range got {
			imgs = append(imgs, im)
			all = append(all, part[i/so.PerPrompt])
		}
		if lo == 0 {
			grid = got[:min(len(got), heldOutGridRows*so.PerPrompt)]
		}
	}
	fmt.Fprintf(stdout, "%s %s: %d prompts × %d images, %d %s steps, cfg %g\n", o.heldout, o.sideName(), len(prompts), so.PerPrompt, so.Steps,
		map[bool]string{false: "ODE", true: "SDE"}[so.SDE != nil], so.CFG)
	scores := map[string][]float64{}
	for _, name := range reward.Names() {
		r, _ := reward.ByName(name)
		s, err := reward.ScoreAll(r, all, imgs)
		if err != nil {
			fmt.Fprintf(stdout, "  %-15s n/a on this task (%v)\n", name, err)
			continue
		}
		scores[name] = s
		mu, se := meanStderr(s)
		fmt.Fprintf(stdout, "  %-15s %.4f ± %.4f\n", name, mu, se)
	}
	if o.heldout == "compose" {
		printFamilies(stdout, all, scores["compose"], scores["compose_strict"])
	}
	rows := prompts[:min(heldOutGridRows, len(prompts))]
	title := fmt.Sprintf("%s %s, first %d of %d prompts; %s", o.heldout, o.sideName(), len(rows), len(prompts), o.settings())
	title = fmt.Sprintf("%s; %s", title, src.short())
	if err := out.write(captioned(title, grid, rows, so.PerPrompt, o.scale), rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (first prompts, one row each)\n", out.grid)
	return nil
}

// sideName names the prompt list -side picked, as the reports print it.
func (o options) sideName() string {
	if o.side == "train" {
		return "training-side"
	}
	return "held-out"
}

// heldOutPrompts is task o.heldout of the world built at the model's image size, and its first
// -prompts held-out prompts (all of them for 0).
func heldOutPrompts(m *diffusion.Model, o options) (*world.Task, []string, error) {
	wcfg := world.DefaultConfig()
	wcfg.Size = m.Cfg.Size // the held-out prompts do not depend on it; the world is built for the model
	w, err := world.New(wcfg)
	if err != nil {
		return nil, nil, err
	}
	t, err := w.Task(o.heldout)
	if err != nil {
		return nil, nil, cli.Usagef("-heldout: %v", err)
	}
	prompts := t.HeldOut
	if o.side == "train" {
		prompts = t.Train
	}
	if o.limit > 0 && o.limit < len(prompts) {
		prompts = prompts[:o.limit]
	}
	return t, prompts, nil
}

// printFamilies breaks the compose scores down by GenEval-like prompt family
// (world.Spec.ComposeFamily), as GenEval reports its tasks.
func printFamilies(stdout io.Writer, prompts []string, compose, strict []float64) {
	if len(compose) != len(prompts) || len(strict) != len(prompts) {
		return
	}
	byFam := map[string][2][]float64{}
	for i, p := range prompts {
		spec, err := world.Parse(p)
		if err != nil {
			continue
		}
		f := spec.ComposeFamily()
		v := byFam[f]
		v[0], v[1] = append(v[0], compose[i]), append(v[1], strict[i])
		byFam[f] = v
	}
	fmt.Fprintf(stdout, "  by family:       %-8s %-17s %s\n", "images", "compose", "compose_strict")
	for _, f := range world.ComposeFamilies {
		v, ok := byFam[f]
		if !ok {
			continue
		}
		mu, se := meanStderr(v[0])
		smu, sse := meanStderr(v[1])
		fmt.Fprintf(stdout, "    %-15s %-8d %.4f ± %.4f   %.4f ± %.4f\n", f, len(v[0]), mu, se, smu, sse)
	}
}

// settings describes the sampler the flags chose.
func (o options) settings() string {
	s := fmt.Sprintf("%d ODE steps", o.steps)
	if o.sde {
		s = fmt.Sprintf("%d SDE steps (a=%g)", o.steps, o.noise)
	}
	return fmt.Sprintf("%s, cfg %g, seed %d", s, o.cfg, o.seed)
}

// captioned lays imgs (perRow images per prompt, prompt by prompt) out as a grid with each row
// under its prompt.
func captioned(title string, imgs []*image.RGBA, prompts []string, perRow, scale int) *image.RGBA {
	var rows [][]*image.RGBA
	for lo := 0; lo < len(imgs); lo += perRow {
		rows = append(rows, imgs[lo:min(lo+perRow, len(imgs))])
	}
	return plot.CaptionedGrid(title, rows, prompts, scale)
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
