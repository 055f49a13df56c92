//go:build cuda

package vae

import (
	"path/filepath"
	"testing"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/tensor"
)

// TestParityCUDA decodes the parity fixture on the CUDA backend (fp32 GEMMs): GroupNorm, im2col
// convolutions, upsampling and the mid-block attention on the device match the reference.
// It runs on a GPU or on the CPU emulator (cuda/emu/run.sh).
func TestParityCUDA(t *testing.T) {
	b, err := cuda.Open(cuda.Options{MatMul: cuda.FP32})
	if err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
	d, err := Load(b, filepath.Join("testdata", "vae_diffusers"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	latent, want := readIO(t)
	got := d.Decode(tensor.New(b, latent.Data, latent.Shape...)).Data()
	if e := relErr(got, want.Data); e > 1e-4 {
		t.Fatalf("CUDA decode differs from the reference: relative error %.3g > 1e-4", e)
	} else {
		t.Logf("relative error %.3g", e)
	}
}
