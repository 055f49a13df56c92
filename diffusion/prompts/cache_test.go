package prompts

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func small() WriteOptions { return WriteOptions{SeqLen: 3, Dim: 5, PooledDim: 4} }

func TestRoundTripAndMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.safetensors")
	prompts := []string{"a red cube", "two 'quoted' cats", "a red cube"}
	if err := WriteRandom(path, prompts, small(), 7); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.SeqLen != 3 || c.Dim != 5 || c.PooledDim != 4 || c.Len() != 3 || !c.Has("") {
		t.Fatalf("cache %+v with %d prompts, empty prompt %v", c, c.Len(), c.Has(""))
	}
	ctx, pooled, err := c.Batch([]string{"two 'quoted' cats", ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(ctx) != 2*15 || len(pooled) != 8 {
		t.Fatalf("batch sizes %d, %d", len(ctx), len(pooled))
	}
	// The same prompt gets the same vectors in another file with other prompts (per-prompt seed).
	path2 := filepath.Join(t.TempDir(), "other.safetensors")
	if err := WriteRandom(path2, []string{"two 'quoted' cats"}, small(), 7); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(path2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	e2, _ := c2.Get("two 'quoted' cats")
	for i, v := range e2.Embeds {
		if v != ctx[i] {
			t.Fatalf("embedding %d differs between files: %g vs %g", i, v, ctx[i])
		}
	}
	_, err = c.Get("a blue sphere")
	if err == nil || !strings.Contains(err.Error(), `prompt "a blue sphere" is not in the embedding cache`) ||
		!strings.Contains(err.Error(), "python3 tools/encode_prompts.py --model '<SD3 model dir>' --out "+path+" --update --prompt 'a blue sphere'") {
		t.Fatalf("missing prompt error: %v", err)
	}
	err = c.CheckAll([]string{"a red cube", "x", "y"}, true)
	if err == nil || !strings.Contains(err.Error(), `2 prompts are not in the embedding cache`) || !strings.Contains(err.Error(), `"x"`) || !strings.Contains(err.Error(), "--prompts <prompt file>") {
		t.Fatalf("CheckAll: %v", err)
	}
	if err := c.CheckWidths(5, 4); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckWidths(4096, 2048); err == nil || !strings.Contains(err.Error(), "width 5 (pooled 4), but the model expects 4096 (pooled 2048)") {
		t.Fatalf("CheckWidths: %v", err)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.safetensors")
	if err := Write(path, map[string]Entry{"a": {Embeds: make([]float32, 3), Pooled: make([]float32, 4)}}, small()); err == nil ||
		!strings.Contains(err.Error(), `prompt "a" has 3 context and 4 pooled values, want 3×5 and 4`) {
		t.Fatalf("Write with a short entry: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "absent.safetensors")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

// TestPythonWriter has tools/encode_prompts.py's own writer (numpy only) write a cache and
// reads it here, in bf16 and fp32: the two sides agree on the file format.
func TestPythonWriter(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skip("python3 has no numpy")
	}
	_, here, _, _ := runtime.Caller(0)
	tools := filepath.Join(filepath.Dir(here), "..", "..", "tools")
	dir := t.TempDir()
	script := `
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import encode_prompts as ep
e = {p: (np.arange(6, dtype=np.float32).reshape(2, 3) * (i + 1) + 0.5, np.full(4, -i, dtype=np.float32))
     for i, p in enumerate(["", "a cat", "ünïcode \"quotes\""])}
ep.write_cache(sys.argv[2], e, model="stabilityai/stable-diffusion-3.5-medium", bf16=True)
ep.write_cache(sys.argv[3], e, bf16=False)
back, meta = ep.read_cache(sys.argv[2])
assert sorted(back) == sorted(e) and meta["model"].startswith("stabilityai")
`
	bf, f32 := filepath.Join(dir, "bf16.safetensors"), filepath.Join(dir, "f32.safetensors")
	if out, err := exec.Command(py, "-c", script, tools, bf, f32).CombinedOutput(); err != nil {
		t.Fatalf("python writer: %v\n%s", err, out)
	}
	for _, path := range []string{bf, f32} {
		c, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.SeqLen != 2 || c.Dim != 3 || c.PooledDim != 4 || c.Len() != 3 {
			t.Fatalf("%s: %+v", path, c)
		}
		for i, p := range []string{"", "a cat", "ünïcode \"quotes\""} {
			e, err := c.Get(p)
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range e.Embeds {
				if want := float32(j*(i+1)) + 0.5; v != want { // small integers + ½: exact in bf16
					t.Fatalf("%s %q: embeds[%d] = %g, want %g", path, p, j, v, want)
				}
			}
			if e.Pooled[0] != float32(-i) {
				t.Fatalf("%s %q: pooled %v", path, p, e.Pooled)
			}
		}
		if path == bf && !strings.Contains(c.AddCommand("x"), "--model stabilityai/stable-diffusion-3.5-medium") {
			t.Fatalf("add command ignores the recorded model: %s", c.AddCommand("x"))
		}
		c.Close()
	}
	_ = os.Remove(bf)
}
