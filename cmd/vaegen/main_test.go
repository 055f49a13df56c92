package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/flowtune/flowtune/diffusion/vae"
	"github.com/flowtune/flowtune/tensor"
)

func TestWritesALoadableVAE(t *testing.T) {
	out := filepath.Join(t.TempDir(), "vae")
	var so, se bytes.Buffer
	if rc := run([]string{"-config", "tiny", "-out", out}, &so, &se); rc != 0 {
		t.Fatalf("rc %d: %s", rc, se.String())
	}
	d, err := vae.Load(tensor.CPU(), out, vae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Config.LatentChannels != 16 || d.Config.Factor() != 2 {
		t.Fatalf("config %+v", d.Config)
	}
	if rc := run([]string{"-config", "huge", "-out", out}, &so, &se); rc != 2 {
		t.Fatalf("unknown config: rc %d", rc)
	}
}
