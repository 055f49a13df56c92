package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
