package diffusion

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

func tinyConfig() ModelConfig {
	return ModelConfig{Channels: 3, Size: 8, Patch: 4, Dim: 16, Depth: 2, Heads: 2, MLPRatio: 2,
		QKNorm: true, Vocab: 10, TextLen: 4, FreqDim: 8, Seed: 3}
}

func tinyCond(B int) Cond {
	c := Cond{B: B, L: 4}
	for i := 0; i < B; i++ {
		n := 1 + i%4 // 1..4 real tokens, the rest padding
		for j := 0; j < 4; j++ {
			if j < n {
				c.Tokens = append(c.Tokens, int32(1+(i+j)%9))
				c.Mask = append(c.Mask, 1)
			} else {
				c.Tokens = append(c.Tokens, 0)
				c.Mask = append(c.Mask, 0)
			}
		}
	}
	return c
}

// perturb gives every parameter non-trivial values (the zero-initialised adaLN and final layers
// would otherwise make the model output exactly 0 and hide wiring mistakes).
func perturb(m *Model, seed uint64) {
	rng := tensor.NewRNG(seed)
	m.Params("", func(name string, p *tensor.Tensor) {
		nn.InitNormal(p, rng, 0.2)
	})
}

func TestModelFreshPredictsZero(t *testing.T) {
	b := tensor.CPU()
	m, err := NewModel(b, tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.NewRNG(1).Normal(b, 2, 3, 8, 8)
	v := m.Velocity(x, []float32{0.3, 0.9}, tinyCond(2)).Data()
	for i, e := range v {
		if e != 0 {
			t.Fatalf("fresh model (zero-initialised final layer) predicted v[%d]=%g, want 0", i, e)
		}
	}
}

// Padding must be invisible: a prompt's padded positions may hold any token id.
func TestModelIgnoresPaddedTokens(t *testing.T) {
	b := tensor.CPU()
	m, _ := NewModel(b, tinyConfig())
	perturb(m, 5)
	x := tensor.NewRNG(2).Normal(b, 2, 3, 8, 8)
	c := tinyCond(2)
	v1 := m.Velocity(x, []float32{0.5, 0.5}, c).Data()
	c2 := Cond{B: c.B, L: c.L, Tokens: append([]int32(nil), c.Tokens...), Mask: c.Mask}
	for i := range c2.Tokens {
		if c2.Mask[i] == 0 {
			c2.Tokens[i] = 7
		}
	}
	v2 := m.Velocity(x, []float32{0.5, 0.5}, c2).Data()
	for i := range v1 {
		if d := v1[i] - v2[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("changing padded token ids changed v[%d]: %g vs %g", i, v1[i], v2[i])
		}
	}
	// ...while changing a real token does change the output.
	c2.Tokens[0] = (c2.Tokens[0] % 9) + 1
	v3 := m.Velocity(x, []float32{0.5, 0.5}, c2).Data()
	same := true
	for i := range v1 {
		if v1[i] != v3[i] {
			same = false
		}
	}
	if same {
		t.Fatal("changing a real prompt token did not change the prediction")
	}
}

func TestModelSaveLoadRoundTrip(t *testing.T) {
	b := tensor.CPU()
	m, _ := NewModel(b, tinyConfig())
	perturb(m, 9)
	path := filepath.Join(t.TempDir(), "base.safetensors")
	if err := m.Save(path, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	m2, meta, err := LoadModel(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["note"] != "test" {
		t.Fatalf("metadata lost: %v", meta)
	}
	x := tensor.NewRNG(4).Normal(b, 2, 3, 8, 8)
	v1 := m.Velocity(x, []float32{0.2, 0.7}, tinyCond(2)).Data()
	v2 := m2.Velocity(x, []float32{0.2, 0.7}, tinyCond(2)).Data()
	for i := range v1 {
		if v1[i] != v2[i] {
			t.Fatalf("reloaded model differs at %d: %g vs %g", i, v1[i], v2[i])
		}
	}
	// A checkpoint of another shape is refused with a message naming the tensor.
	cfg := tinyConfig()
	cfg.Dim = 32
	other, _ := NewModel(b, cfg)
	dst := map[string]*tensor.Tensor{}
	other.Params("", func(n string, p *tensor.Tensor) { dst[n] = p })
	err = nn.LoadInto(path, dst)
	if err == nil || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("loading into a wider model: want a shape error, got %v", err)
	}
}

// The flow-matching loss gradient reaches every parameter once the zero-initialised layers are
// perturbed (a wiring check for the whole model).
func TestModelGradientsReachEveryParameter(t *testing.T) {
	b := tensor.CPU()
	m, _ := NewModel(b, tinyConfig())
	perturb(m, 11)
	rng := tensor.NewRNG(6)
	x0 := rng.Normal(b, 2, 3, 8, 8)
	eps := rng.Normal(b, 2, 3, 8, 8)
	loss := FlowMatchLoss(m, x0, eps, []float32{0.4, 0.8}, tinyCond(2))
	loss.Backward()
	m.Params("", func(name string, p *tensor.Tensor) {
		g := p.Grad()
		if g == nil {
			t.Errorf("%s: no gradient", name)
			return
		}
		nz := false
		for _, v := range g.Data() {
			if v != 0 {
				nz = true
				break
			}
		}
		// The last block's text stream is pre-only (SD3): its queries feed attention outputs
		// nobody reads, so their gradient is zero by design.
		unused := strings.HasPrefix(name, "blocks.1.context.attn.to_q") || strings.HasPrefix(name, "blocks.1.context.attn.norm_q")
		if !nz && !unused {
			t.Errorf("%s: gradient is all zero", name)
		}
	})
}
