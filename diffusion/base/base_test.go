package base

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/tensor"
)

// The embedded checkpoint is the finished last stage of the shipped curriculum (cmd/pretrain
// -recipe shipped: 10000 steps at lr 3e-4, seed 12, after the 12000-step first stage; its
// flags are checked against the recipe in cmd/pretrain) and fits the built-in world: a change
// to the tokenizer or the renderer without re-shipping the base fails here, not in a user's run.
func TestShippedBaseFitsTheWorld(t *testing.T) {
	m, meta, err := diffusion.DecodeModel(tensor.CPU(), Name, Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := meta["flowtune.pretrain_step"]; got != "10000" {
		t.Fatalf("shipped checkpoint is from pretraining step %q, want the finished last stage (10000)", got)
	}
	var cfg diffusion.PretrainConfig
	if err := json.Unmarshal([]byte(meta["flowtune.pretrain_config"]), &cfg); err != nil {
		t.Fatalf("shipped checkpoint's pretrain config: %v", err)
	}
	if cfg.Steps != 10000 || cfg.LR != 3e-4 || cfg.Seed != 12 || cfg.StopAfter != 0 {
		t.Fatalf("shipped checkpoint's pretrain config %+v is not the recipe's last stage (10000 steps, lr 3e-4, seed 12)", cfg)
	}
	w, err := world.New(world.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tok := world.NewTokenizer(0)
	if m.Cfg.Vocab != tok.VocabSize() || m.Cfg.TextLen != tok.MaxLen || m.Cfg.Size != w.Size() {
		t.Fatalf("base model (vocab %d, text %d, %d px) does not fit the world (vocab %d, text %d, %d px)",
			m.Cfg.Vocab, m.Cfg.TextLen, m.Cfg.Size, tok.VocabSize(), tok.MaxLen, w.Size())
	}
	if _, err := Load(tensor.CPU()); err != nil {
		t.Fatal(err)
	}
}

// The base model has learned colour from the prompt: "a red square" yields images whose ink is
// mostly red, "a blue square" mostly blue (an untrained or mismatched model fails this).
func TestShippedBaseFollowsColour(t *testing.T) {
	m, err := Load(tensor.CPU())
	if err != nil {
		t.Fatal(err)
	}
	tok := world.NewTokenizer(m.Cfg.TextLen)
	imgs, err := diffusion.SamplePrompts(m, tok, []string{"a red square", "a blue square"}, diffusion.SampleOptions{PerPrompt: 8, Steps: 10, CFG: 1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	// Per prompt, the total red and blue ink over its images: single images of this small
	// base can miss (a magenta or white shape), the group must not.
	var ink [2][2]float64 // [prompt][red, blue]
	for i, im := range imgs {
		for p := 0; p+3 < len(im.Pix); p += 4 {
			ink[i/8][0] += float64(im.Pix[p])
			ink[i/8][1] += float64(im.Pix[p+2])
		}
	}
	t.Logf("red prompt: red %.0f blue %.0f; blue prompt: red %.0f blue %.0f", ink[0][0], ink[0][1], ink[1][0], ink[1][1])
	if ink[0][0] < 2*ink[0][1] || ink[1][1] < 1.5*ink[1][0] {
		t.Fatalf("colour does not follow the prompt: red prompt red/blue ink %.0f/%.0f, blue prompt %.0f/%.0f",
			ink[0][0], ink[0][1], ink[1][0], ink[1][1])
	}
}

// A binary built without the model (-tags noembedbase) refuses to load it and says where the
// same file is.
func TestLoadWithoutTheEmbeddedModelSaysWhatToPass(t *testing.T) {
	saved := checkpoint
	t.Cleanup(func() { checkpoint = saved })
	checkpoint = nil
	_, err := Load(tensor.CPU())
	if err == nil || !strings.Contains(err.Error(), "noembedbase") || !strings.Contains(err.Error(), "-model diffusion/base/base.safetensors") {
		t.Fatalf("Load without the embedded model: error %v, want one naming the tag and the -model to pass", err)
	}
}
