package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/rl/train"
	"github.com/flowtune/flowtune/tensor"
)

func runCLI(ctx context.Context, args ...string) (int, string) {
	var buf bytes.Buffer
	code := run(ctx, args, &buf, &buf)
	return code, buf.String()
}

func TestBadInputIsReportedWithTheChoices(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("steps: 3\nlearning_rate: 0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args  []string
		code  int
		parts []string
	}{
		{[]string{"-algo", "ppo"}, exitError, []string{"unknown algorithm", "awm, ram, flowgrpo, nft"}},
		{[]string{"-task", "geneval"}, exitError, []string{"unknown task", "compose, text, pref"}},
		{[]string{"-reward", "compose,aesthetic"}, exitError, []string{`"aesthetic"`, "compose_strict, ocr, jpeg, pref"}},
		{[]string{"-config", bad}, exitError, []string{`unknown key "learning_rate"`, "valid keys:", "lr"}},
		{[]string{"-device", "tpu"}, exitError, []string{"cpu, cuda"}},
		{[]string{"-resume", t.TempDir()}, exitError, []string{"no checkpoint"}},
		{[]string{"-no-such-flag"}, exitUsage, []string{"-no-such-flag"}},
		{[]string{"stray"}, exitUsage, []string{"unexpected arguments"}},
	}
	if !cuda.Enabled {
		cases = append(cases, struct {
			args  []string
			code  int
			parts []string
		}{[]string{"-device", "cuda"}, exitError, []string{"without CUDA"}})
	}
	for _, c := range cases {
		code, out := runCLI(context.Background(), c.args...)
		if code != c.code {
			t.Fatalf("%v: exit %d, want %d\n%s", c.args, code, c.code, out)
		}
		for _, p := range c.parts {
			if !strings.Contains(out, p) {
				t.Fatalf("%v: output does not mention %q:\n%s", c.args, p, out)
			}
		}
	}
}

// tinyModelFile writes a small freshly initialised model that fits the world.
func tinyModelFile(t *testing.T) string {
	t.Helper()
	tok := world.NewTokenizer(0)
	m, err := diffusion.NewModel(tensor.CPU(), diffusion.ModelConfig{Channels: 3, Size: 32, Patch: 8, Dim: 32, Depth: 1,
		Heads: 2, MLPRatio: 2, QKNorm: true, Vocab: tok.VocabSize(), TextLen: tok.MaxLen, FreqDim: 32, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := m.Save(p, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// A config file plus explicit flags, an interruption (the context is already cancelled, as
// after Ctrl-C), and a resume with more steps: exit codes, files and the layered config.
func TestConfigFlagsInterruptAndResume(t *testing.T) {
	model := tinyModelFile(t)
	cfgPath := filepath.Join(t.TempDir(), "run.yaml")
	yaml := "task: pref\nseed: 7\nsteps: 5\nprompts: 1\ngroup: 2\nrollout_steps: 2\nmicro_batch: 2\n" +
		"eval_prompts: 2\neval_seeds: 1\neval_steps: 2\nram:\n  targets: 1\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	code, out := runCLI(cancelled, "-config", cfgPath, "-model", model, "-out", dir, "-steps", "1", "-lr", "0.002")
	if code != exitInterrupted || !strings.Contains(out, "checkpoint saved") {
		t.Fatalf("interrupted run: exit %d, want %d\n%s", code, exitInterrupted, out)
	}
	cfg, err := train.ResolveConfig(filepath.Join(dir, train.ConfigFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Steps != 1 || cfg.LR != 0.002 || cfg.Seed != 7 || cfg.Task != "pref" || cfg.RAM.Targets != 1 || cfg.EvalEvery != train.DefaultConfig("").EvalEvery {
		t.Fatalf("resolved config: %+v", cfg)
	}

	code, out = runCLI(context.Background(), "-resume", dir, "-model", model, "-steps", "2")
	if code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s", code, out)
	}
	var s train.Summary
	data, err := os.ReadFile(filepath.Join(dir, train.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Steps != 2 || !s.Completed || s.Algo != train.DefaultAlgo {
		t.Fatalf("summary: %+v", s)
	}
	if _, ok := s.Rewards["pref"]; !ok {
		t.Fatalf("summary lacks the task's reward: %+v", s.Rewards)
	}
	for _, f := range []string{train.AdaptersFile, train.CurveFile, "samples_base.png", "samples_final.png", train.MetricsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("missing %s: %v", f, err)
		}
	}
	if code, out := runCLI(context.Background(), "-resume", dir, "-config", cfgPath); code != exitError || !strings.Contains(out, "-resume reads") {
		t.Fatalf("-resume with -config: exit %d\n%s", code, out)
	}
}

func TestParseProfileSteps(t *testing.T) {
	for in, want := range map[string][2]int{"3:5": {3, 5}, "4": {4, 4}, " 2 : 2 ": {2, 2}} {
		a, b, err := parseSteps(in)
		if err != nil || a != want[0] || b != want[1] {
			t.Errorf("parseSteps(%q) = %d, %d, %v; want %v", in, a, b, err, want)
		}
	}
	for _, bad := range []string{"", "0:3", "5:3", "a:b", "3:"} {
		if _, _, err := parseSteps(bad); err == nil || !strings.Contains(err.Error(), "FROM:TO") {
			t.Errorf("parseSteps(%q) error %v, want one explaining FROM:TO", bad, err)
		}
	}
}
