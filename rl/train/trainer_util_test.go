package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/rl/reward"
	"github.com/flowtune/flowtune/rl/reward/rewardtest"
	"github.com/flowtune/flowtune/tensor"
)

var (
	worldOnce sync.Once
	testWorld *world.World
	worldErr  error
)

func sharedWorld(t *testing.T) *world.World {
	worldOnce.Do(func() { testWorld, worldErr = world.New(world.DefaultConfig()) })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return testWorld
}

var (
	tinyOnce  sync.Once
	tinyBytes []byte
	tinyErr   error
)

// tinyModel returns a fresh copy of a one-block MMDiT (16 tokens of width 32) pretrained for
// 200 steps on the world: its samples are dark, noisy blobs whose brightness varies from image
// to image, which is enough for an RL test to have something to select.
func tinyModel(t *testing.T, tok *world.Tokenizer) *diffusion.Model {
	t.Helper()
	tinyOnce.Do(func() { tinyBytes, tinyErr = pretrainTiny(sharedWorld(t), tok) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	m, _, err := diffusion.DecodeModel(tensor.CPU(), "tiny test model", tinyBytes)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pretrainTiny(w *world.World, tok *world.Tokenizer) ([]byte, error) {
	m, err := diffusion.NewModel(tensor.CPU(), diffusion.ModelConfig{Channels: 3, Size: 32, Patch: 8, Dim: 32, Depth: 1,
		Heads: 2, MLPRatio: 2, QKNorm: true, Vocab: tok.VocabSize(), TextLen: tok.MaxLen, FreqDim: 32, Seed: 5})
	if err != nil {
		return nil, err
	}
	opt := nn.NewAdamW(nn.Trainable(m), nn.AdamWConfig{LR: 3e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1})
	rng := tensor.NewRNG(1)
	const n = 16
	for step := 0; step < 200; step++ {
		b, err := diffusion.DrawBatch(w, tok, n, 0.1, rng)
		if err != nil {
			return nil, err
		}
		sigma := make([]float32, n)
		for i := range sigma {
			sigma[i] = float32(diffusion.SampleLogitNormal(rng, 0, 1))
		}
		loss := diffusion.FlowMatchLoss(m, tensor.New(tensor.CPU(), b.X0, n, 3, 32, 32), rng.Normal(tensor.CPU(), n, 3, 32, 32), sigma, b.Cond)
		nn.ZeroGrads(m)
		loss.Backward()
		opt.Step()
	}
	dir, err := os.MkdirTemp("", "tinymodel")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.safetensors")
	if err := m.Save(path, nil); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// tinyConfig is a CI-sized run of algo on the brightness reward.
func tinyConfig(algo string) Config {
	c := DefaultConfig(algo)
	c.Reward = "brightness"
	c.Steps, c.Prompts, c.Group, c.RolloutSteps, c.MicroBatch = 4, 2, 4, 4, 4
	c.EvalEvery, c.EvalPrompts, c.EvalSeeds, c.EvalSteps = 2, 4, 2, 4
	c.CheckpointEvery = 1
	c.LoRARank, c.LoRAAlpha = 4, 8
	c.AWM.GridSteps, c.AWM.Timesteps = 4, 2
	c.NFT.Timesteps = 2
	return c
}

// newTinyTrainer builds a trainer with a fresh tiny model writing into dir.
func newTinyTrainer(t *testing.T, cfg Config, dir string) *Trainer {
	t.Helper()
	tok := world.NewTokenizer(0)
	return &Trainer{Cfg: cfg, Model: tinyModel(t, tok), World: sharedWorld(t), Tok: tok, OutDir: dir,
		Log: zerolog.Nop(), BaseName: "tiny test model", ExtraRewards: map[string]reward.Reward{"brightness": rewardtest.Brightness{}}}
}

// readMetrics parses metrics.jsonl into generic objects.
func readMetrics(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// readMetricLines returns the raw lines of metrics.jsonl with the "time" member removed and
// everything else re-encoded from the exact decoded values (json.Number keeps every digit).
func readMetricLines(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "time")
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}
