package train

import (
	"bytes"
	"context"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/flowtune/flowtune/nn"
)

// step0Eval returns the step-0 evaluation line of a run's metrics without its timings: every
// image's reward, and the diversity, a pixel distance between the seeds' images.
func step0Eval(t *testing.T, dir string) string {
	t.Helper()
	var line string
	for _, l := range readMetricLines(t, dir) {
		if strings.Contains(l, `"kind":"eval"`) && (strings.Contains(l, `"step":0,`) || strings.Contains(l, `"step":0}`)) {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("%s: no step-0 evaluation in the metrics", dir)
	}
	return line
}

// storedBaseEval returns the path and bytes of the one stored base evaluation in dir.
func storedBaseEval(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "base-eval-*.bin"))
	if len(files) != 1 {
		t.Fatalf("want one stored base evaluation, found %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return files[0], data
}

// TestSharedBaseEvalMatchesAnUnsharedOne runs four algorithms with different seeds. The first
// evaluates the base model itself; the second samples and stores the shared images; the third
// reads them; the fourth finds the file corrupt, samples again and replaces it. Every step-0
// record must be the same as the unshared run's, which also checks the premise:
// the base evaluation depends neither on the algorithm nor on the seed.
func TestSharedBaseEvalMatchesAnUnsharedOne(t *testing.T) {
	root := t.TempDir()
	shared := filepath.Join(root, "base-eval")
	runs := []struct {
		algo  string
		seed  uint64
		share bool
		log   string // expected in the log, "" for nothing
	}{
		{"ram", 1, false, ""},
		{"awm", 2, true, ""},
		{"flowgrpo", 3, true, `"images_from"`},
		{"nft", 4, true, "unusable; sampling it again"},
	}
	var want string
	for i, rc := range runs {
		if i == 3 { // corrupt one pixel byte of the stored file
			path, data := storedBaseEval(t, shared)
			data[len(data)/2] ^= 0x40
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := tinyConfig(rc.algo)
		cfg.Seed, cfg.Steps, cfg.EvalEvery = rc.seed, 1, 0
		dir := filepath.Join(root, rc.algo)
		tr := newTinyTrainer(t, cfg, dir)
		var logBuf bytes.Buffer
		tr.Log = zerolog.New(&logBuf)
		if rc.share {
			tr.BaseEvalDir = shared
		}
		if _, err := tr.Run(context.Background()); err != nil {
			t.Fatalf("%s: %v", rc.algo, err)
		}
		got := step0Eval(t, dir)
		if i == 0 {
			want = got
		} else if got != want {
			t.Errorf("%s seed %d: the base evaluation differs from the unshared run's:\n got %.300s\nwant %.300s", rc.algo, rc.seed, got, want)
		}
		if rc.log != "" && !strings.Contains(logBuf.String(), rc.log) {
			t.Errorf("%s: the log does not say %s:\n%s", rc.algo, rc.log, logBuf.String())
		}
		if i == 1 && strings.Contains(logBuf.String(), `"images_from"`) {
			t.Errorf("the first sharing run claims to have read images nobody stored")
		}
	}
	// The corrupt file was replaced by a valid one.
	_, data := storedBaseEval(t, shared)
	stored := string(data[len(baseEvalMagic) : len(baseEvalMagic)+64])
	if _, err := decodeBaseEval(data, stored); err != nil {
		t.Errorf("the replaced base evaluation is unreadable: %v", err)
	}
}

// TestBaseEvalKeyCoversWhatTheImagesDependOn: a change to the weights, the noise, the steps,
// the guidance or the prompts must give another key; a change to the run's own seed, algorithm
// or rewards must not.
func TestBaseEvalKeyCoversWhatTheImagesDependOn(t *testing.T) {
	key := func(edit func(*Config), weights func(*Trainer)) string {
		cfg := tinyConfig("ram")
		if edit != nil {
			edit(&cfg)
		}
		tr := newTinyTrainer(t, cfg, t.TempDir())
		tr.BaseEvalDir = t.TempDir()
		if weights != nil {
			weights(tr)
		}
		r, err := tr.setup()
		if err != nil {
			t.Fatal(err)
		}
		r.lock.unlock()
		return r.baseEvalKey
	}
	t.Setenv("FLOWTUNE_CUDA_MATMUL", "")
	base := key(nil, nil)
	if len(base) != 64 {
		t.Fatalf("key %q is not a hex SHA-256", base)
	}
	same := map[string]func(*Config){
		"seed":   func(c *Config) { c.Seed = 9 },
		"algo":   func(c *Config) { c.Algo = "awm" },
		"reward": func(c *Config) { c.Reward = "pref" },
		"lr":     func(c *Config) { c.LR = 1e-5 },
	}
	for name, edit := range same {
		if k := key(edit, nil); k != base {
			t.Errorf("changing %s changed the key", name)
		}
	}
	differ := map[string]func(*Config){
		"eval_seed":    func(c *Config) { c.EvalSeed++ },
		"eval_seeds":   func(c *Config) { c.EvalSeeds++ },
		"eval_steps":   func(c *Config) { c.EvalSteps++ },
		"eval_cfg":     func(c *Config) { c.EvalCFG = 2 },
		"eval_prompts": func(c *Config) { c.EvalPrompts-- },
	}
	for name, edit := range differ {
		if k := key(edit, nil); k == base {
			t.Errorf("changing %s left the key as it was", name)
		}
	}
	t.Setenv("FLOWTUNE_CUDA_MATMUL", "bf16")
	if k := key(nil, nil); k == base {
		t.Error("changing FLOWTUNE_CUDA_MATMUL left the key as it was")
	}
	t.Setenv("FLOWTUNE_CUDA_MATMUL", "")
	if k := key(nil, func(tr *Trainer) {
		w := nn.NamedParams(tr.Model)[0].P
		d := w.Data()
		d[0] += 1e-6
		w.SetData(d)
	}); k == base {
		t.Error("changing one base weight left the key as it was")
	}
}

// TestBaseEvalFileRejectsDamage checks the stored format on its own: a round trip keeps every
// pixel, and truncation, a flipped bit or another key are refused.
func TestBaseEvalFileRejectsDamage(t *testing.T) {
	key := strings.Repeat("ab", 32)
	var imgs []*image.RGBA
	for i := 0; i < 3; i++ {
		im := image.NewRGBA(image.Rect(0, 0, 5, 4))
		for j := range im.Pix {
			im.Pix[j] = byte(i*31 + j*7)
		}
		imgs = append(imgs, im)
	}
	data, err := encodeBaseEval(key, imgs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeBaseEval(data, key)
	if err != nil {
		t.Fatal(err)
	}
	for i := range imgs {
		if !bytes.Equal(back[i].Pix, imgs[i].Pix) || back[i].Rect != imgs[i].Rect {
			t.Fatalf("image %d changed in the round trip", i)
		}
	}
	flipped := bytes.Clone(data)
	flipped[len(baseEvalMagic)+70] ^= 1
	other := strings.Repeat("cd", 32)
	for name, c := range map[string]struct {
		data []byte
		key  string
	}{
		"truncated": {data[:len(data)-9], key},
		"flipped":   {flipped, key},
		"other key": {data, other},
		"empty":     {nil, key},
	} {
		if _, err := decodeBaseEval(c.data, c.key); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := encodeBaseEval(key, []*image.RGBA{imgs[0], image.NewRGBA(image.Rect(0, 0, 4, 4))}); err == nil {
		t.Error("encoded images of two sizes")
	}
}
