package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/tensor"
)

// The paper preset is a valid config with the papers' group shape, under every algorithm.
func TestPaperPresetValidates(t *testing.T) {
	for _, algo := range Algorithms {
		cfg, err := ResolveConfig("", map[string]string{"algo": algo, "preset": PresetPaper})
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		if cfg.Preset != PresetPaper || cfg.Group != 24 || cfg.Prompts < 16 || cfg.Steps < 200 || cfg.Task != "compose" ||
			cfg.CFG != 1 || cfg.EvalCFG != 1 {
			t.Fatalf("%s: preset paper gave %+v", algo, cfg)
		}
		// Every held-out prompt under several seeds: a standard error near 0.01 at a per-image
		// sd of 0.26 (the compose reward's on the shipped base) needs about 660 images.
		if n := cfg.EvalPrompts * cfg.EvalSeeds; n < 660 {
			t.Errorf("%s: evaluation of %d images; want ≥ 660", algo, n)
		}
		if (cfg.Prompts*cfg.Group)%cfg.MicroBatch != 0 {
			t.Errorf("%s: micro_batch %d does not divide the %d rollouts of a step", algo, cfg.MicroBatch, cfg.Prompts*cfg.Group)
		}
	}
	if _, err := ResolveConfig("", map[string]string{"preset": "huge"}); err == nil || !strings.Contains(err.Error(), `"huge"`) ||
		!strings.Contains(err.Error(), PresetPaper) {
		t.Fatalf("unknown preset: error %v, want one naming it and the valid ones", err)
	}
}

// Layers: defaults, then the preset, then the file, then the flags; config.yaml records the
// preset with the values, and reading it back gives the same config.
func TestPresetLayersAndRecord(t *testing.T) {
	def := DefaultConfig("")
	cfg, err := ResolveConfig("", map[string]string{"preset": PresetPaper, "group": "8", "steps": "5"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Group != 8 || cfg.Steps != 5 || cfg.Prompts != 16 || cfg.LR != def.LR {
		t.Fatalf("flags over the preset: %+v", cfg)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(file, []byte("preset: paper\nprompts: 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = ResolveConfig(file, map[string]string{"eval_seeds": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Prompts != 20 || cfg.Group != 24 || cfg.EvalSeeds != 2 || cfg.Preset != PresetPaper {
		t.Fatalf("file and flag over the preset: %+v", cfg)
	}
	// A flag can also turn the file's preset off.
	off, err := ResolveConfig(file, map[string]string{"preset": ""})
	if err != nil {
		t.Fatal(err)
	}
	if off.Preset != "" || off.Group != def.Group || off.Prompts != 20 {
		t.Fatalf("-preset '' over a file with preset paper: %+v", off)
	}

	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "preset: paper") {
		t.Fatalf("config.yaml does not record the preset:\n%s", y)
	}
	again := filepath.Join(dir, ConfigFile)
	if err := os.WriteFile(again, y, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := ResolveConfig(again, nil)
	if err != nil {
		t.Fatal(err)
	}
	if back != cfg {
		t.Fatalf("config.yaml read back:\n%+v\nwant\n%+v", back, cfg)
	}
}

// The paper preset is refused on the CPU unless forced, with the way out in the message.
func TestPresetDeviceCheck(t *testing.T) {
	paper, err := ResolveConfig("", map[string]string{"preset": PresetPaper})
	if err != nil {
		t.Fatal(err)
	}
	err = CheckDevice(paper, "cpu", false)
	if err == nil || !strings.Contains(err.Error(), "-device cuda") || !strings.Contains(err.Error(), "-force-cpu") {
		t.Fatalf("paper on the CPU: error %v, want a refusal naming -device cuda and -force-cpu", err)
	}
	for _, c := range []struct {
		cfg    Config
		device string
		force  bool
	}{{paper, "cpu", true}, {paper, "cuda", false}, {DefaultConfig(""), "cpu", false}} {
		if err := CheckDevice(c.cfg, c.device, c.force); err != nil {
			t.Errorf("preset %q on %s (force %v): %v", c.cfg.Preset, c.device, c.force, err)
		}
	}
}

// Sized for one GPU: the paper preset's memory estimate for a larger base (width 256, depth 8,
// 64×64 images: what tools/base_gpu.sh can pretrain) stays well inside an 80 GB card, for every
// algorithm.
func TestPaperPresetFitsAGPU(t *testing.T) {
	tok := world.NewTokenizer(0)
	mc := diffusion.DefaultModelConfig(tok.VocabSize(), tok.MaxLen)
	mc.Dim, mc.Depth, mc.Heads, mc.Size = 256, 8, 8, 64
	m, err := diffusion.NewModel(tensor.CPU(), mc)
	if err != nil {
		t.Fatal(err)
	}
	for _, algo := range Algorithms {
		cfg, err := ResolveConfig("", map[string]string{"algo": algo, "preset": PresetPaper})
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, p := range memoryEstimate(cfg, m, 512) {
			total += p.bytes
		}
		t.Logf("%s: about %s", algo, gib(total))
		if total > 40<<30 {
			t.Errorf("%s: the paper preset needs about %s on a 64 px, width-256 model; want ≤ 40 GiB", algo, gib(total))
		}
	}
}

// A comparison under a preset takes its budget from the preset, not from CompareDefaults.
func TestComparisonUnderPreset(t *testing.T) {
	c := &Comparison{Overrides: map[string]string{"preset": PresetPaper, "eval_seeds": "4"}}
	cfg, err := c.config("awm", 1)
	if err != nil {
		t.Fatal(err)
	}
	paper, _ := ResolveConfig("", map[string]string{"algo": "awm", "preset": PresetPaper})
	if cfg.Steps != paper.Steps || cfg.EvalPrompts != paper.EvalPrompts || cfg.EvalSeeds != 4 || cfg.Seed != paper.Seed+1 {
		t.Fatalf("comparison config under the paper preset: %+v", cfg)
	}
}
