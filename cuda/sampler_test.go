//go:build cuda

package cuda

import (
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/tensor"
)

// The sampler on the CUDA backend: a small MMDiT sampled with the Euler ODE sampler must give
// the CPU backend's samples, with uninitialised outputs poisoned (an op that read its output
// before writing it would turn the samples into NaNs), and the driver work per sampler step is
// logged (go test -v) for the launch-overhead accounting.

// tinyModelConfig is the shipped model's architecture, shrunk so that the emulator runs it in
// seconds.
func tinyModelConfig() diffusion.ModelConfig {
	return diffusion.ModelConfig{Channels: 3, Size: 8, Patch: 4, Dim: 32, Depth: 2, Heads: 2, MLPRatio: 2,
		QKNorm: true, Vocab: 16, TextLen: 4, FreqDim: 16, Seed: 3}
}

// twinModels builds the same model on the CPU and on b (b's parameters copied from the CPU's).
func twinModels(t *testing.T, b tensor.Backend) (cpu, dev *diffusion.Model) {
	t.Helper()
	cfg := tinyModelConfig()
	cpu, err := diffusion.NewModel(tensor.CPU(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dev, err = diffusion.NewModel(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]*tensor.Tensor{}
	cpu.Params("", func(name string, p *tensor.Tensor) { src[name] = p })
	dev.Params("", func(name string, p *tensor.Tensor) { p.SetData(src[name].Data()) })
	return cpu, dev
}

// tinyCond is a batch of two prompts, the second padded.
func tinyCond() diffusion.Cond {
	return diffusion.Cond{Tokens: []int32{1, 5, 7, 2, 3, 9, 0, 0}, Mask: []float32{1, 1, 1, 1, 1, 1, 0, 0}, B: 2, L: 4}
}

func TestSamplerMatchesCPU(t *testing.T) {
	b := need(t)
	old := b.opt.Poison
	b.opt.Poison = true
	defer func() { b.opt.Poison = old }()
	cpuM, devM := twinModels(t, b)
	c := tinyCond()
	cfg := cpuM.Cfg
	noise := tensor.NewRNG(11).Normal(tensor.CPU(), 2, cfg.Channels, cfg.Size, cfg.Size)
	grid := diffusion.SigmaGrid(3, diffusion.SD3Shift)

	want := diffusion.SampleODE(cpuM, noise, grid, c).Data()
	xdev := tensor.New(b, noise.Data(), noise.Shape()...)
	diffusion.SampleODE(devM, xdev, grid, c) // warm the pool
	c0 := b.Counts()
	got := diffusion.SampleODE(devM, xdev, grid, c).Data()
	per := b.Counts().sub(c0)
	closeTo(t, "ODE samples", got, want, 1e-4)
	steps := int64(len(grid) - 1)
	t.Logf("per sampler step (tiny model; the final download counted once; memsets are the poison fills; no slabs on the emulator): %d launches, %d syncs, %d uploads, %d downloads, %d d2d/memset, %d cuMemAlloc",
		per.Launches/steps, per.Syncs/steps, per.Uploads/steps, per.Downloads/steps, per.DevCopies/steps, per.Allocs/steps)
}
