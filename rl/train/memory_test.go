package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/internal/memlimit"
	"github.com/flowtune/flowtune/tensor"
)

// Configurations that would exhaust memory are refused before anything is allocated, with the
// estimate, the memory available and the keys to lower; the CI-sized run fits.
func TestRunRefusesConfigThatDoesNotFit(t *testing.T) {
	const avail = 2 << 30
	tok := world.NewTokenizer(0)
	m := tinyModel(t, tok)
	task, err := sharedWorld(t).Task("pref")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		algo, key, value, want string
	}{
		{"ram", "prompts", "1000000000", "prompts × group"},
		{"ram", "lora_rank", "100000000", "lora_rank"},
		{"flowgrpo", "rollout_steps", "1000000000", "rollout_steps"},
		{"ram", "ram.targets", "1000000000", "ram.targets"},
		{"awm", "micro_batch", "100000000", "micro_batch"},
		{"nft", "eval_seeds", "1000000000", "eval_seeds"},
	} {
		cfg := tinyConfig(c.algo)
		if err := cfg.Set(c.key, c.value); err != nil {
			t.Fatal(err)
		}
		if c.key == "rollout_steps" {
			cfg.NFT.Timesteps = 2
		}
		dir := filepath.Join(t.TempDir(), "run")
		tr := newTinyTrainer(t, cfg, dir)
		tr.memAvailable = func() (float64, bool) { return avail, true }
		_, err := tr.Run(context.Background())
		wantErr(t, err, "would need about", "more than the 2.0 GiB of memory available", c.want)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("%s=%s: the refused run created its directory", c.key, c.value)
		}
	}
	for _, algo := range Algorithms {
		if err := checkMemory(tinyConfig(algo), m, len(task.Train), func() (float64, bool) { return 64 << 20, true }); err != nil {
			t.Fatalf("%s: the CI-sized run does not fit in 64 MiB: %v", algo, err)
		}
	}
	// The default run on the shipped model's shape fits in 1 GiB.
	full, err := diffusion.NewModel(tensor.CPU(), diffusion.DefaultModelConfig(tok.VocabSize(), tok.MaxLen))
	if err != nil {
		t.Fatal(err)
	}
	for _, algo := range Algorithms {
		if err := checkMemory(DefaultConfig(algo), full, len(task.Train), func() (float64, bool) { return 1 << 30, true }); err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
	}
	if _, ok := memlimit.Available(); !ok {
		t.Log("this machine reports no available memory; the check is skipped here")
	}
}
