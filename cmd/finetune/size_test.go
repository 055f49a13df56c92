package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/rl/train"
	"github.com/flowtune/flowtune/tensor"
)

// A base model at 64×64 (cmd/pretrain -size 64) fine-tunes: the world is built at the model's
// size, rollouts and evaluation images are 64×64, and the compose rewards score them.
func TestFinetunesA64PixelBase(t *testing.T) {
	tok := world.NewTokenizer(0)
	m, err := diffusion.NewModel(tensor.CPU(), diffusion.ModelConfig{Channels: 3, Size: 64, Patch: 16, Dim: 16, Depth: 1,
		Heads: 2, MLPRatio: 2, QKNorm: true, Vocab: tok.VocabSize(), TextLen: tok.MaxLen, FreqDim: 16, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "tiny64.safetensors")
	if err := m.Save(model, nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	code, out := runCLI(context.Background(), "-model", model, "-out", dir, "-task", "compose", "-steps", "1", "-prompts", "1",
		"-group", "2", "-rollout-steps", "2", "-micro-batch", "2", "-eval-prompts", "2", "-eval-seeds", "1", "-eval-steps", "2",
		"-ram.targets", "1")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, train.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s train.Summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if !s.Completed || s.EvalImages != 2 {
		t.Fatalf("summary: %+v", s)
	}
	if _, ok := s.Rewards["compose"]; !ok {
		t.Errorf("summary lacks the compose reward: %+v", s.Rewards)
	}
}

// -preset paper is refused on the CPU with the way out; forced and shrunk by flags it runs, and
// config.yaml records the preset beside the values the flags overrode.
func TestPaperPreset(t *testing.T) {
	model := tinyModelFile(t)
	dir := filepath.Join(t.TempDir(), "run")
	code, out := runCLI(context.Background(), "-preset", "paper", "-model", model, "-out", dir)
	if code != exitError || !strings.Contains(out, "-device cuda") || !strings.Contains(out, "-force-cpu") {
		t.Fatalf("paper on the CPU: exit %d, want %d with a refusal naming -device cuda and -force-cpu\n%s", code, exitError, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the refused run created %s (stat: %v)", dir, err)
	}
	code, out = runCLI(context.Background(), "-preset", "paper", "-force-cpu", "-model", model, "-out", dir, "-steps", "1",
		"-prompts", "1", "-group", "2", "-rollout-steps", "2", "-micro-batch", "2", "-eval-prompts", "2", "-eval-seeds", "1",
		"-eval-steps", "2", "-ram.targets", "1")
	if code != exitOK {
		t.Fatalf("forced, shrunk paper run: exit %d\n%s", code, out)
	}
	cfg, err := train.ResolveConfig(filepath.Join(dir, train.ConfigFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Preset != train.PresetPaper || cfg.Task != "compose" || cfg.Group != 2 || cfg.EvalEvery != 25 {
		t.Fatalf("config.yaml: %+v; want preset paper, its task and eval_every, the flags' group", cfg)
	}
	code, out = runCLI(context.Background(), "-compare", "awm,flowgrpo", "-preset", "paper", "-model", model, "-out", t.TempDir())
	if code != exitError || !strings.Contains(out, "-force-cpu") {
		t.Fatalf("-compare with paper on the CPU: exit %d, want a refusal\n%s", code, out)
	}
}
