package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/diffusion/prompts"
)

func TestRandomAndList(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "p.txt")
	os.WriteFile(pf, []byte("a cat\na dog\n"), 0o644)
	out := filepath.Join(dir, "c.safetensors")
	var so, se bytes.Buffer
	if rc := run([]string{"-random", "-prompts", pf, "-prompt", "a bird", "-out", out, "-seq", "4", "-dim", "8", "-pooled", "6"}, &so, &se); rc != 0 {
		t.Fatalf("rc %d: %s", rc, se.String())
	}
	c, err := prompts.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 4 || c.SeqLen != 4 || c.Dim != 8 || c.PooledDim != 6 || !c.Has("a bird") || !c.Has("") {
		t.Fatalf("%+v", c)
	}
	c.Close()
	so.Reset()
	if rc := run([]string{"-list", out}, &so, &se); rc != 0 || !strings.Contains(so.String(), `"a dog"`) || !strings.Contains(so.String(), "4 prompts, prompt_embeds [4, 8], pooled [6]") {
		t.Fatalf("list rc %d: %s", rc, so.String())
	}
	if rc := run([]string{"-random"}, &so, &se); rc != 2 {
		t.Fatalf("no -out: rc %d", rc)
	}
}
