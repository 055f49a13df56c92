//go:build cuda

package sd3

import (
	"path/filepath"
	"testing"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// TestCUDABF16Base: on the CUDA backend Load keeps the frozen base in bf16 storages (LoRA in
// float32), the forward stays within bf16 accuracy of the reference, and a LoRA backward
// reaches the adapter. Runs on a GPU, or on the CPU emulator:
//
//	cuda/emu/run.sh go test -tags cuda -run CUDA ./diffusion/sd3/
func TestCUDABF16Base(t *testing.T) {
	b, err := cuda.New()
	if err != nil {
		t.Skip("no CUDA device:", err)
	}
	m, err := Load(b, filepath.Join("testdata", "diffusers"))
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Blocks[0].Attn.X.ToQ.Weight.Storage().DType(); d != tensor.BFloat16 {
		t.Fatalf("base weight stored as %s, want bfloat16", d)
	}
	fx := loadFixture(t, b)
	checkClose(t, "bf16 base", m.Forward(fx.x, fx.timesteps, fx.context, fx.pooled).Data(), fx.out, 3e-2)

	if _, err := AddLoRA(m, "policy", 4, 8, DefaultTargets, tensor.NewRNG(1)); err != nil {
		t.Fatal(err)
	}
	nn.UseAdapter(m, "policy")
	m.Recompute = true
	loss := tensor.Mean(tensor.Square(m.Forward(fx.x, fx.timesteps, fx.context, fx.pooled)))
	loss.Backward()
	g := nn.AdapterParams(m, "policy")[0].P.Grad()
	if g == nil || g.Storage().DType() != tensor.Float32 {
		t.Fatal("no float32 gradient on the adapter")
	}
	if nn.GradNorm(nn.AdapterParams(m, "policy")) == 0 {
		t.Fatal("zero adapter gradient")
	}
}
