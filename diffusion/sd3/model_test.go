package sd3

import (
	"math"
	"slices"
	"testing"

	"github.com/flowtune/flowtune/diffusion"
	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

func tinyConfig(t *testing.T) Config {
	t.Helper()
	c, err := Named("tiny")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEntriesMatchParams: the layout table and the model agree on every parameter's name and
// element count, for every named configuration's structure (built small where the real one
// is too large to allocate in a test).
func TestEntriesMatchParams(t *testing.T) {
	for _, name := range Names() {
		cfg, _ := Named(name)
		if name != "tiny" {
			// Same structure, small width: keep layers, dual layers and qk-norm.
			cfg.AttentionHeadDim, cfg.NumAttentionHeads, cfg.CaptionProjectionDim = 4, 2, 8
			cfg.JointAttentionDim, cfg.PooledProjectionDim, cfg.PosEmbedMaxSize = 12, 6, 4
		}
		m, err := New(tensor.CPU(), cfg, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		params := map[string]int{}
		for _, p := range nn.NamedParams(m) {
			params[p.Name] = p.P.Size()
		}
		n := 0
		for _, e := range entries(cfg) {
			if e.Name == posTableKey {
				continue
			}
			size := 1
			for _, d := range e.Shape {
				size *= d
			}
			if params[e.Name] != size {
				t.Fatalf("%s: entry %s has %d elements, the model's parameter %d", name, e.Name, size, params[e.Name])
			}
			n++
		}
		if n != len(params) {
			t.Fatalf("%s: %d entries for %d parameters", name, n, len(params))
		}
		if got := CountParams(cfg); got != int64(nn.CountParams(m)) {
			t.Fatalf("%s: CountParams %d, model %d", name, got, nn.CountParams(m))
		}
	}
}

// TestNamedSizes: the named configurations hold as many tensor elements (parameters plus the
// position table) as the releases' transformer files (bf16 bytes / 2: 4.17 GB, 4.94 GB,
// 16.3 GB).
func TestNamedSizes(t *testing.T) {
	for name, want := range map[string]float64{"sd3-medium": 2.08e9, "sd3.5-medium": 2.47e9, "sd3.5-large": 8.15e9} {
		cfg, _ := Named(name)
		got := float64(CountParams(cfg)) + float64(cfg.PosEmbedMaxSize*cfg.PosEmbedMaxSize*cfg.Width())
		if math.Abs(got-want)/want > 0.02 {
			t.Errorf("%s: %.3g parameters, the release has about %.3g", name, got, want)
		}
	}
}

// TestVelocityShapeAndCond: the model runs through diffusion.VelocityModel on a non-square
// latent, and rejects prompts without embeddings.
func TestVelocityShapeAndCond(t *testing.T) {
	b := tensor.CPU()
	cfg := tinyConfig(t)
	m, err := New(b, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(2)
	x := rng.Normal(b, 2, 16, 6, 8)
	c, err := diffusion.EmbeddingCond(rng.Normal(b, 2, 5, 24).Data(), rng.Normal(b, 2, 16).Data(), 2, 5, 24, 16)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Velocity(x, []float32{0.3, 0.9}, c)
	if !slices.Equal(v.Shape(), x.Shape()) {
		t.Fatalf("velocity %v for latents %v", v.Shape(), x.Shape())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a token-only Cond did not panic")
		}
	}()
	m.Velocity(x, []float32{0.3, 0.9}, diffusion.Cond{B: 2})
}
