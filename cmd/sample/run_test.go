package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/cli"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl/train"
	"github.com/flowtune/flowtune/tensor"
)

// tinyRun trains a LoRA on a small fresh model for two steps with a large learning rate (so
// that the adapter moves the velocity clearly) and returns the run directory and the base file.
func tinyRun(t *testing.T) (dir, model string) {
	t.Helper()
	tok := world.NewTokenizer(0)
	m, err := diffusion.NewModel(tensor.CPU(), diffusion.ModelConfig{Channels: 3, Size: 32, Patch: 8, Dim: 32, Depth: 1,
		Heads: 2, MLPRatio: 2, QKNorm: true, Vocab: tok.VocabSize(), TextLen: tok.MaxLen, FreqDim: 32, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Random weights everywhere: a fresh model's zero-initialised output layers would make every
	// velocity zero, with or without an adapter.
	rng := tensor.NewRNG(8)
	for _, p := range nn.NamedParams(m) {
		nn.InitNormal(p.P, rng, 0.2)
		if strings.Contains(p.Name, "norm") {
			v := p.P.Data()
			for i := range v {
				v[i] += 1
			}
			p.P.SetData(v)
		}
	}
	model = filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := m.Save(model, nil); err != nil {
		t.Fatal(err)
	}
	w, err := world.New(world.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.DefaultConfig("ram")
	cfg.Task, cfg.Reward = "pref", "pref"
	cfg.Steps, cfg.Prompts, cfg.Group, cfg.RolloutSteps, cfg.MicroBatch = 2, 1, 2, 2, 2
	cfg.EvalEvery, cfg.EvalPrompts, cfg.EvalSeeds, cfg.EvalSteps = 0, 1, 1, 2
	cfg.LR, cfg.LoRARank, cfg.LoRAAlpha, cfg.RAM.Targets = 0.05, 4, 8, 1
	dir = filepath.Join(t.TempDir(), "run")
	tr := &train.Trainer{Cfg: cfg, Model: m, World: w, Tok: tok, OutDir: dir, Log: zerolog.Nop(), BaseName: model}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dir, model
}

func velocityOf(t *testing.T, m *diffusion.Model) []float32 {
	t.Helper()
	tok := world.NewTokenizer(m.Cfg.TextLen)
	c, err := diffusion.EncodePrompts(tok, []string{"two red circles", "a sign that says \"K7Q\""})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.NewRNG(3).Normal(tensor.CPU(), 2, 3, 32, 32)
	var v *tensor.Tensor
	tensor.NoGrad(func() { v = m.Velocity(x, []float32{0.8, 0.35}, c) })
	return v.Data()
}

func maxAbsDiff(a, b []float32) (d, scale float64) {
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return d, scale
}

// -run puts the run's adapter on the base the run trained; -export writes base + LoRA folded
// into one model checkpoint, which -model loads and whose velocities are the adapted model's
// within float32 rounding.
func TestRunAdapterAndMergedExport(t *testing.T) {
	dir, model := tinyRun(t)
	adapted, src, err := loadModel(tensor.CPU(), options{run: dir})
	if err != nil {
		t.Fatal(err)
	}
	if src.base != model || filepath.Base(src.adapter.Path) != train.AdaptersFile || src.adapter.Step != 2 {
		t.Fatalf("-run resolved %s", src.describe())
	}
	base, _, err := diffusion.LoadModel(tensor.CPU(), model)
	if err != nil {
		t.Fatal(err)
	}
	want := velocityOf(t, adapted)
	if d, s := maxAbsDiff(velocityOf(t, base), want); !(d > 1e-3*s && s > 0) {
		t.Fatalf("the adapter moves the velocity by only %.3g (scale %.3g); the test would prove nothing", d, s)
	}

	merged := filepath.Join(t.TempDir(), "merged.safetensors")
	var out bytes.Buffer
	if err := run([]string{"-run", dir, "-export", merged}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "-model "+merged) {
		t.Fatalf("export report %q does not say how to use the file", out.String())
	}
	m, meta, err := diffusion.LoadModel(tensor.CPU(), merged)
	if err != nil {
		t.Fatalf("the merged export is not a loadable model: %v", err)
	}
	if meta["flowtune.merged_from"] != filepath.Join(dir, train.AdaptersFile) || meta["flowtune.base_model"] != model {
		t.Fatalf("merged model metadata %v", meta)
	}
	got := velocityOf(t, m)
	d0, _ := maxAbsDiff(velocityOf(t, base), want)
	if d, s := maxAbsDiff(got, want); d > 1e-5*s+1e-6 {
		t.Fatalf("merged model's velocity differs from the adapted model's by %.3g (scale %.3g)", d, s)
	} else {
		t.Logf("max |v_merged − v_adapted| = %.3g, max |v_base − v_adapted| = %.3g, max |v| = %.3g", d, d0, s)
	}

	// The merged model samples with -model; a second export does not overwrite; -model given an
	// adapter file says what to use instead.
	if err := run([]string{"-model", merged, "-prompt", "two red circles", "-n", "1", "-steps", "1", "-out", t.TempDir()}, &out); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-run", dir, "-export", merged}, &out); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("export over an existing file: %v", err)
	}
	err = run([]string{"-model", filepath.Join(dir, train.AdaptersFile), "-prompt", "x", "-out", t.TempDir()}, &out)
	if err == nil || !strings.Contains(err.Error(), "-adapters") {
		t.Fatalf("-model with an adapter file: %v, want a pointer to -adapters", err)
	}
	if err := run([]string{"-export", merged + "2"}, &out); cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "-run DIR or -adapters FILE") {
		t.Fatalf("-export without an adapter: %v", err)
	}
	if err := run([]string{"-run", dir, "-adapters", filepath.Join(dir, train.CheckpointFile), "-prompt", "x"}, &out); cli.ExitCode(err) != cli.ExitUsage {
		t.Fatalf("-run with -adapters: %v", err)
	}

	// -adapters takes the checkpoint too; it holds the same policy at the end of the run.
	fromCkpt, _, err := loadModel(tensor.CPU(), options{adapters: filepath.Join(dir, train.CheckpointFile)})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := maxAbsDiff(velocityOf(t, fromCkpt), want); d != 0 {
		t.Fatalf("the checkpoint's policy differs from adapters.safetensors by %g", d)
	}
	if err := run([]string{"-adapters", filepath.Join(dir, train.CheckpointFile), "-prompt", "two red circles", "-n", "2", "-steps", "1", "-out", t.TempDir()}, &out); err != nil {
		t.Fatal(err)
	}

	// A run whose base model is gone says so and how to give it.
	if err := os.Remove(model); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadModel(tensor.CPU(), options{run: dir}); err == nil || !strings.Contains(err.Error(), "give the base with -model") {
		t.Fatalf("missing base: %v", err)
	}
}

// -heldout scores a 64×64 model (cmd/pretrain -size 64) at its own size.
func TestHeldOutAt64Pixels(t *testing.T) {
	tok := world.NewTokenizer(0)
	m, err := diffusion.NewModel(tensor.CPU(), diffusion.ModelConfig{Channels: 3, Size: 64, Patch: 16, Dim: 16, Depth: 1,
		Heads: 2, MLPRatio: 2, QKNorm: true, Vocab: tok.VocabSize(), TextLen: tok.MaxLen, FreqDim: 16, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny64.safetensors")
	if err := m.Save(model, nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := run([]string{"-model", model, "-heldout", "text", "-prompts", "2", "-n", "1", "-steps", "2", "-scale", "1", "-out", filepath.Join(dir, "h.png")}, &buf); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !strings.Contains(buf.String(), "ocr") || strings.Contains(buf.String(), "ocr             n/a") {
		t.Errorf("no ocr score at 64 px:\n%s", buf.String())
	}
	checkPNG(t, filepath.Join(dir, "h.png"), 1, 2, 2) // 64 px cells at -scale 1 are checkPNG's 32·2
}
