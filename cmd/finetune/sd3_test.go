package main

import (
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/diffusion/prompts"
	"github.com/flowtune/flowtune/rl/reward"
)

// sd3Fixture assembles a tiny SD3.5-structured diffusers folder (the transformer fixture of
// diffusion/sd3 and the VAE fixture of diffusion/vae, linked), a random prompt-embedding
// cache and prompt files, and returns their paths.
type sd3Fixture struct {
	model, cache, trainFile, testFile string
}

func newSD3Fixture(t *testing.T) sd3Fixture {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"transformer": "../../diffusion/sd3/testdata/diffusers/transformer",
		"vae":         "../../diffusion/vae/testdata/vae_diffusers",
	} {
		abs, _ := filepath.Abs(target)
		if err := os.Symlink(abs, filepath.Join(model, link)); err != nil {
			t.Fatal(err)
		}
	}
	f := sd3Fixture{model: model, cache: filepath.Join(dir, "cache.safetensors"),
		trainFile: filepath.Join(dir, "train_metadata.jsonl"), testFile: filepath.Join(dir, "test.txt")}
	train := `{"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"}
{"tag": "color_attr", "include": [{"class": "car", "count": 1, "color": "red"}], "prompt": "a photo of a red car"}
{"tag": "counting", "include": [{"class": "cat", "count": 2}], "prompt": "a photo of two cats"}
`
	os.WriteFile(f.trainFile, []byte(train), 0o644)
	os.WriteFile(f.testFile, []byte("a sign that says \"hello\"\na blue bird\n"), 0o644)
	all := []string{"a photo of a bench", "a photo of a red car", "a photo of two cats", `a sign that says "hello"`, "a blue bird"}
	// The fixture transformer takes embeddings of width 24 and pooled 16.
	if err := prompts.WriteRandom(f.cache, all, prompts.WriteOptions{SeqLen: 7, Dim: 24, PooledDim: 16, BF16: true}, 3); err != nil {
		t.Fatal(err)
	}
	return f
}

// brightness is the loopback reward: the mean RGB value, with every request's metadata kept.
type brightness struct {
	mu   sync.Mutex
	meta [][]json.RawMessage
	n    int
}

func (b *brightness) server(t *testing.T) *httptest.Server {
	inner := reward.Handler(lumaReward{}, zerolog.Nop())
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			data, _ := io.ReadAll(r.Body)
			var req struct {
				Image    []string          `json:"image"`
				Metadata []json.RawMessage `json:"metadata"`
			}
			json.Unmarshal(data, &req)
			b.mu.Lock()
			b.meta = append(b.meta, req.Metadata)
			b.n += len(req.Image)
			b.mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(data)))
		}
		inner.ServeHTTP(w, r)
	}))
}

type lumaReward struct{}

func (lumaReward) Name() string { return "brightness" }
func (lumaReward) Score(_ string, img image.Image) (float64, error) {
	bd := img.Bounds()
	s := 0.0
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			s += float64(r+g+b) / (3 * 65535)
		}
	}
	return s / float64(bd.Dx()*bd.Dy()), nil
}

// TestSD3EndToEnd runs finetune on the tiny SD3.5-structured model with the tiny VAE, a random
// embedding cache, GenEval-style prompts and a loopback reward server: AWM, RAM and Flow-GRPO
// (CFG rollouts) each take two steps; the run directory holds the decoded sample grids and the
// adapter in both layouts, and the reward got the prompts' metadata. The reward's value is not
// checked: the weights are random.
func TestSD3EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	f := newSD3Fixture(t)
	rw := &brightness{}
	srv := rw.server(t)
	defer srv.Close()
	for _, algo := range []string{"awm", "ram", "flowgrpo"} {
		out := filepath.Join(t.TempDir(), algo)
		code, log := runCLI(context.Background(), "-model", f.model, "-embeddings", f.cache,
			"-prompts", f.trainFile, "-eval-prompts-file", f.testFile, "-reward", "brightness@"+srv.URL,
			"-algo", algo, "-steps", "2", "-prompts", "2", "-group", "2", "-resolution", "16",
			"-rollout-steps", "3", "-eval-steps", "2", "-eval-prompts", "2", "-eval-seeds", "2", "-eval-every", "0",
			"-lora-rank", "4", "-micro-batch", "4", "-out", out)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s", algo, code, log)
		}
		for _, name := range []string{"config.yaml", "metrics.jsonl", "summary.json", "reward_curve.png",
			"samples_base.png", "samples_final.png", "samples_prompts.txt", "adapters.safetensors",
			"checkpoint.safetensors", "lora/pytorch_lora_weights.safetensors"} {
			if _, err := os.Stat(filepath.Join(out, name)); err != nil {
				t.Fatalf("%s: run directory lacks %s", algo, name)
			}
		}
		// The captioned grid holds 2 prompts × 2 seeds of 16-px decoded images.
		fg, _ := os.Open(filepath.Join(out, "samples_final.png"))
		img, err := png.Decode(fg)
		fg.Close()
		if err != nil || img.Bounds().Dx() < 2*16 || img.Bounds().Dy() < 2*16 {
			t.Fatalf("%s: sample grid %v (%v)", algo, img.Bounds(), err)
		}
		cfgText, _ := os.ReadFile(filepath.Join(out, "config.yaml"))
		for _, want := range []string{"cfg: 4.5", "resolution: 16", "prompts_file: " + f.trainFile, "embeddings: " + f.cache} {
			if !strings.Contains(string(cfgText), want) {
				t.Fatalf("%s: config.yaml lacks %q:\n%s", algo, want, cfgText)
			}
		}
		var s struct {
			Steps int                `json:"steps"`
			Task  string             `json:"task"`
			R     map[string]any     `json:"rewards"`
			X     map[string]float64 `json:"-"`
		}
		data, _ := os.ReadFile(filepath.Join(out, "summary.json"))
		if err := json.Unmarshal(data, &s); err != nil || s.Steps != 2 || s.Task != f.trainFile || s.R["brightness"] == nil {
			t.Fatalf("%s: summary %s (%v)", algo, data, err)
		}
	}
	// Training requests carry the GenEval metadata of their prompt; held-out ones (a .txt
	// file) carry none.
	withMeta, without := 0, 0
	for _, m := range rw.meta {
		if m == nil {
			without++
			continue
		}
		withMeta++
		var obj struct {
			Tag    string `json:"tag"`
			Prompt string `json:"prompt"`
		}
		if err := json.Unmarshal(m[0], &obj); err != nil || obj.Tag == "" || !strings.HasPrefix(obj.Prompt, "a photo of") {
			t.Fatalf("metadata %s", m[0])
		}
	}
	if withMeta == 0 || without == 0 {
		t.Fatalf("%d requests with metadata, %d without", withMeta, without)
	}
}

// TestSD3BadInput: what fails before training starts, with what it says.
func TestSD3BadInput(t *testing.T) {
	f := newSD3Fixture(t)
	srv := (&brightness{}).server(t)
	defer srv.Close()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.txt")
	os.WriteFile(missing, []byte("a photo of a bench\nan unencoded prompt\n"), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"prompt\": \"a photo of a bench\"}\n{\"prompt\": \"x\"\n"), 0o644)
	wide := filepath.Join(dir, "wide.safetensors")
	prompts.WriteRandom(wide, []string{"a photo of a bench"}, prompts.WriteOptions{SeqLen: 7, Dim: 32, PooledDim: 16}, 1)
	base := []string{"-model", f.model, "-reward", "brightness@" + srv.URL, "-resolution", "16", "-steps", "1", "-out", filepath.Join(dir, "run")}
	for _, c := range []struct {
		args  []string
		parts []string
	}{
		{[]string{"-prompts", f.trainFile}, []string{"-embeddings cache.safetensors", "tools/encode_prompts.py"}},
		{[]string{"-embeddings", f.cache}, []string{"-prompts train.txt"}},
		{[]string{"-embeddings", f.cache, "-prompts", missing}, []string{`prompt "an unencoded prompt" is not in the embedding cache`, "--update --prompt 'an unencoded prompt'"}},
		{[]string{"-embeddings", f.cache, "-prompts", bad}, []string{"bad.jsonl:2: not a JSON object"}},
		{[]string{"-embeddings", wide, "-prompts", f.trainFile}, []string{"width 32 (pooled 16), but the model expects 24 (pooled 16)"}},
		{[]string{"-embeddings", f.cache, "-prompts", f.trainFile, "-resolution", "512"}, []string{"resolution 512", "position table"}},
	} {
		code, out := runCLI(context.Background(), append(append([]string{}, base...), c.args...)...)
		if code != exitError {
			t.Fatalf("%v: exit %d\n%s", c.args, code, out)
		}
		for _, p := range c.parts {
			if !strings.Contains(out, p) {
				t.Fatalf("%v: output does not mention %q:\n%s", c.args, p, out)
			}
		}
	}
}
