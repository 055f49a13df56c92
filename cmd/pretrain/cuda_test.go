//go:build cuda

package main

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/flowtune/flowtune/cuda"
	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/diffusion/world"
	"github.com/flowtune/flowtune/tensor"
)

// TestCUDAMatchesCPU pretrains a tiny model for a few steps on the CPU and on the CUDA backend
// (a GPU, or the emulator: cuda/emu/run.sh go test -tags cuda ./cmd/pretrain/ -run CUDA) from
// the same seeds, and requires the two saved EMA models to have moved the same way: the
// difference of their weight changes is small against the change itself. It exercises the
// whole Pretrainer on a device backend: batches uploaded, the loss, AdamW, the EMA, swapping the
// EMA weights in and out for the checkpoint, and saving. The sample grid is left out (-sample-every
// -1): on the emulator its 160 model evaluations took 6 minutes, against 20 s for the rest.
func TestCUDAMatchesCPU(t *testing.T) {
	if _, err := cuda.New(); err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	dir := t.TempDir()
	// lr 1 with the fixed 200-step warm-up gives steps of 0.005 and 0.01: large enough that a
	// lost or doubled update shows, small enough to stay in the linear regime.
	args := []string{"-steps", "2", "-batch", "2", "-dim", "16", "-depth", "1", "-heads", "2", "-lr", "1",
		"-log-every", "1", "-sample-every", "-1", "-save-every", "0"}
	models := map[string]*diffusion.Model{}
	for _, dev := range []string{"cpu", "cuda"} {
		var out bytes.Buffer
		if err := run(context.Background(), append(args, "-device", dev, "-out", dir+"/"+dev), &out, &out); err != nil {
			t.Fatalf("%s: %v\n%s", dev, err, out.String())
		}
		m, _, err := diffusion.LoadModel(tensor.CPU(), dir+"/"+dev+"/base.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		models[dev] = m
	}
	tok := world.NewTokenizer(0)
	mcfg, err := modelConfig(tok, 16, 1, 2, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	init, err := diffusion.NewModel(tensor.CPU(), mcfg)
	if err != nil {
		t.Fatal(err)
	}
	start := map[string][]float32{}
	init.Params("", func(name string, p *tensor.Tensor) { start[name] = p.Data() })
	gpu := map[string][]float32{}
	models["cuda"].Params("", func(name string, p *tensor.Tensor) { gpu[name] = p.Data() })
	var moved, diff float64
	models["cpu"].Params("", func(name string, p *tensor.Tensor) {
		c := p.Data()
		for i := range c {
			d := float64(c[i] - start[name][i])
			moved += d * d
			e := float64(c[i] - gpu[name][i])
			diff += e * e
		}
	})
	moved, diff = math.Sqrt(moved), math.Sqrt(diff)
	t.Logf("weight change on the CPU %.4g; CUDA − CPU %.4g (%.2f%%)", moved, diff, 100*diff/moved)
	if !(moved > 0) || diff > 0.05*moved {
		t.Fatalf("CUDA and CPU pretraining disagree: change %.4g, difference %.4g (want ≤ 5%% of the change)", moved, diff)
	}
}
