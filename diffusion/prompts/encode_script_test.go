package prompts

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestEncodeScript runs tools/encode_prompts.py end to end against a stand-in for diffusers
// (a StableDiffusion3Pipeline whose encode_prompt returns, for each prompt, embeddings filled
// with the prompt's length): prompt files, the empty prompt, --update keeping earlier
// prompts, and the cache Go reads. Skipped without python3, numpy and torch.
func TestEncodeScript(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if err := exec.Command(py, "-c", "import numpy, torch").Run(); err != nil {
		t.Skip("python3 lacks numpy or torch")
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "stub", "diffusers")
	os.MkdirAll(stub, 0o755)
	os.WriteFile(filepath.Join(stub, "__init__.py"), []byte(`import torch

class StableDiffusion3Pipeline:
    @classmethod
    def from_pretrained(cls, model, transformer="missing", vae="missing", torch_dtype=None):
        assert transformer is None and vae is None, "the text encoders only"
        return cls()

    def to(self, device):
        return self

    def encode_prompt(self, prompt, prompt_2, prompt_3, device=None, do_classifier_free_guidance=True,
                      max_sequence_length=256):
        assert not do_classifier_free_guidance and prompt_2 is None and prompt_3 is None
        emb = torch.stack([torch.full((77 + max_sequence_length, 8), float(len(p))) for p in prompt])
        pooled = torch.stack([torch.full((6,), len(p) + 0.5) for p in prompt])
        return emb, None, pooled, None
`), 0o644)
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "tools", "encode_prompts.py")
	pf := filepath.Join(dir, "test_metadata.jsonl")
	os.WriteFile(pf, []byte(`{"tag": "single_object", "prompt": "a photo of a bench"}`+"\n\n"+`{"tag": "counting", "prompt": "two cats"}`+"\n"), 0o644)
	out := filepath.Join(dir, "cache.safetensors")
	runPy := func(args ...string) {
		t.Helper()
		cmd := exec.Command(py, append([]string{script, "--model", "fake/sd3", "--out", out, "--device", "cpu", "--max-sequence-length", "4"}, args...)...)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(dir, "stub"))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("encode_prompts.py %v: %v\n%s", args, err, b)
		}
	}
	runPy("--prompts", pf)
	runPy("--update", "--prompt", "a red cube")
	c, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.SeqLen != 81 || c.Dim != 8 || c.PooledDim != 6 || c.Len() != 4 || c.Model != "fake/sd3" {
		t.Fatalf("cache %+v with %d prompts", c, c.Len())
	}
	for _, p := range []string{"", "a photo of a bench", "two cats", "a red cube"} {
		e, err := c.Get(p)
		if err != nil {
			t.Fatal(err)
		}
		if e.Embeds[len(e.Embeds)-1] != float32(len(p)) || e.Pooled[0] != float32(len(p))+0.5 {
			t.Fatalf("%q: embeds end %g, pooled %g", p, e.Embeds[len(e.Embeds)-1], e.Pooled[0])
		}
	}
}
