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

// -export without an adapter writes the model itself; -export-dtype bf16 halves the file and
// stores every weight rounded to bfloat16, which loads back as those exact values.
func TestExportConvertsToBF16(t *testing.T) {
	_, tiny := tinyRun(t)
	dir := t.TempDir()
	src, _, err := diffusion.LoadModel(tensor.CPU(), tiny)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "trained.safetensors") // with a training record to carry over
	if err := src.Save(model, map[string]string{"flowtune.pretrain_step": "7"}); err != nil {
		t.Fatal(err)
	}
	f32, bf16 := filepath.Join(dir, "f32.safetensors"), filepath.Join(dir, "bf16.safetensors")
	var out bytes.Buffer
	if err := run([]string{"-model", model, "-export", f32}, &out); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-model", model, "-export", bf16, "-export-dtype", "bf16"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "as BF16") || !strings.Contains(out.String(), "-model "+bf16) {
		t.Fatalf("export report %q", out.String())
	}
	orig, _, err := diffusion.LoadModel(tensor.CPU(), model)
	if err != nil {
		t.Fatal(err)
	}
	same, _, err := diffusion.LoadModel(tensor.CPU(), f32)
	if err != nil {
		t.Fatal(err)
	}
	half, meta, err := diffusion.LoadModel(tensor.CPU(), bf16)
	if err != nil {
		t.Fatalf("the bf16 export is not a loadable model: %v", err)
	}
	if meta["flowtune.converted_from"] != model || meta["flowtune.pretrain_step"] != "7" {
		t.Fatalf("bf16 export metadata %v: want converted_from and the source's pretraining record", meta)
	}
	want := map[string][]float32{}
	orig.Params("", func(name string, p *tensor.Tensor) { want[name] = p.Data() })
	rounded := 0
	check := func(m *diffusion.Model, round bool) {
		m.Params("", func(name string, p *tensor.Tensor) {
			for i, v := range p.Data() {
				w := want[name][i]
				if round {
					if w != nn.BF16ToFloat32(nn.Float32ToBF16(w)) {
						rounded++
					}
					w = nn.BF16ToFloat32(nn.Float32ToBF16(w))
				}
				if math.Float32bits(v) != math.Float32bits(w) {
					t.Fatalf("%s[%d] = %g after export, want %g (round to bf16: %v)", name, i, v, w, round)
				}
			}
		})
	}
	check(same, false)
	check(half, true)
	if rounded == 0 {
		t.Fatal("no weight changed in rounding to bf16; the test would prove nothing")
	}
	a, _ := os.Stat(f32)
	b, _ := os.Stat(bf16)
	if r := float64(b.Size()) / float64(a.Size()); r > 0.55 {
		t.Fatalf("bf16 file is %.2f of the f32 one, want about half", r)
	}

	for _, args := range [][]string{
		{"-model", model, "-export", filepath.Join(dir, "x.safetensors"), "-export-dtype", "f16"},
		{"-model", model, "-prompt", "x", "-export-dtype", "bf16"},
	} {
		if err := run(args, &out); cli.ExitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "-export") {
			t.Fatalf("%v: %v, want a usage error naming -export", args, err)
		}
	}
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
