package sd3

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtune/flowtune/nn"
	"github.com/flowtune/flowtune/tensor"
)

// loraModel is the fixture model with a random (non-zero B) rank-3 adapter on the default
// targets, active and the only trainable weights.
func loraModel(t *testing.T) (*Model, fixture) {
	t.Helper()
	b := tensor.CPU()
	m, err := Load(b, filepath.Join("testdata", "stability.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := AddLoRA(m, "policy", 3, 6, DefaultTargets, tensor.NewRNG(5))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3*8-1 { // the pre-only block has no to_add_out
		t.Fatalf("%d adapted layers, want 23", n)
	}
	rng := tensor.NewRNG(6)
	for _, p := range nn.AdapterParams(m, "policy") {
		if strings.Contains(p.Name, "lora_B") {
			nn.InitNormal(p.P, rng, 0.2)
		}
	}
	nn.FreezeBase(m)
	nn.UseAdapter(m, "policy")
	return m, loadFixture(t, b)
}

// TestLoRAGradientsFiniteDifferences: the gradient of a scalar of the output with respect to
// adapter weights (image and text stream, A and B, a pre-only block) matches central finite
// differences, computed in float64 on the host from float32 forwards; with per-block
// recomputation the gradients are the same as without.
func TestLoRAGradientsFiniteDifferences(t *testing.T) {
	m, fx := loraModel(t)
	b := tensor.CPU()
	proj := tensor.NewRNG(8).Normal(b, fx.x.Shape()...)
	loss := func() *tensor.Tensor {
		return tensor.Sum(tensor.Mul(m.Forward(fx.x, fx.timesteps, fx.context, fx.pooled), proj))
	}
	params := nn.AdapterParams(m, "policy")
	byName := map[string]*tensor.Tensor{}
	for _, p := range params {
		byName[p.Name] = p.P
	}
	nn.ZeroGrads(m)
	loss().Backward()
	grads := map[string][]float32{}
	for _, p := range params {
		if p.P.Grad() == nil {
			t.Fatalf("%s has no gradient", p.Name)
		}
		grads[p.Name] = p.P.Grad().Data()
	}

	checks := []struct {
		name string
		idx  []int
	}{
		{"transformer_blocks.0.attn.to_q.lora_A.policy.weight", []int{0, 17}},
		{"transformer_blocks.0.attn.to_q.lora_B.policy.weight", []int{5, 40}},
		{"transformer_blocks.1.attn.add_v_proj.lora_A.policy.weight", []int{3}},
		{"transformer_blocks.1.attn.to_add_out.lora_B.policy.weight", []int{11}},
		{"transformer_blocks.2.attn.to_out.0.lora_A.policy.weight", []int{9}},
		{"transformer_blocks.2.attn.add_k_proj.lora_B.policy.weight", []int{20}},
	}
	const h = 1e-2
	for _, c := range checks {
		p := byName[c.name]
		if p == nil {
			t.Fatalf("no adapter weight %s", c.name)
		}
		for _, i := range c.idx {
			data := p.Data()
			orig := data[i]
			eval := func(v float32) float64 {
				data[i] = v
				p.SetData(data)
				var l float64
				tensor.NoGrad(func() { l = float64(loss().Item()) })
				return l
			}
			fd := (eval(orig+h) - eval(orig-h)) / (2 * h)
			eval(orig)
			g := float64(grads[c.name][i])
			if math.Abs(fd-g) > 2e-3+1e-2*math.Abs(fd) {
				t.Errorf("%s[%d]: gradient %g, finite differences %g", c.name, i, g, fd)
			}
		}
	}

	// Recomputation: the same gradients, also when the adapters are switched off between the
	// forward and the backward (as rl.Policies does after each evaluation).
	m.Recompute = true
	nn.ZeroGrads(m)
	l := loss()
	nn.UseAdapter(m, "")
	l.Backward()
	nn.UseAdapter(m, "policy")
	for _, p := range params {
		a, r := grads[p.Name], p.P.Grad().Data()
		for i := range a {
			if math.Abs(float64(a[i]-r[i])) > 1e-5*(1+math.Abs(float64(a[i]))) {
				t.Fatalf("recomputed gradient of %s[%d] = %g, taped %g", p.Name, i, r[i], a[i])
			}
		}
	}
}

// TestPEFTRoundTrip: an adapter saved in the PEFT layout has diffusers' keys and LoraConfig
// metadata, and loads back into a fresh model as the same function.
func TestPEFTRoundTrip(t *testing.T) {
	m, fx := loraModel(t)
	dir := filepath.Join(t.TempDir(), "adapter")
	if err := SavePEFT(dir, m, "policy"); err != nil {
		t.Fatal(err)
	}
	f, err := nn.OpenSafetensors(filepath.Join(dir, PEFTFile))
	if err != nil {
		t.Fatal(err)
	}
	names := f.Names()
	meta := f.Metadata()
	f.Close()
	if len(names) != 2*23 || !strings.HasPrefix(names[0], "transformer.transformer_blocks.0.attn.") {
		t.Fatalf("keys %d, first %q", len(names), names[0])
	}
	for _, want := range []string{"transformer.transformer_blocks.0.attn.to_q.lora_A.weight",
		"transformer.transformer_blocks.1.attn.to_add_out.lora_B.weight", "transformer.transformer_blocks.2.attn.to_out.0.lora_A.weight"} {
		if _, ok := f.Info(want); !ok {
			t.Fatalf("missing key %s (have %v)", want, names[:4])
		}
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(meta["lora_adapter_metadata"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["transformer.r"] != 3.0 || cfg["transformer.lora_alpha"] != 6.0 || meta["format"] != "pt" {
		t.Fatalf("metadata %v", meta)
	}

	want := m.Forward(fx.x, fx.timesteps, fx.context, fx.pooled).Data()
	fresh, err := Load(tensor.CPU(), filepath.Join("testdata", "diffusers"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPEFT(dir, fresh, "start"); err != nil {
		t.Fatal(err)
	}
	nn.UseAdapter(fresh, "start")
	checkClose(t, "reloaded adapter", fresh.Forward(fx.x, fx.timesteps, fx.context, fx.pooled).Data(), want, 1e-6)

	// A PEFT save_pretrained folder: base_model.model. keys, alpha in adapter_config.json.
	ts0, _, err := nn.ReadSafetensors(filepath.Join(dir, PEFTFile))
	if err != nil {
		t.Fatal(err)
	}
	peftDir := t.TempDir()
	renamed := map[string]nn.HostTensor{}
	for k, v := range ts0 {
		renamed["base_model.model."+strings.TrimPrefix(k, "transformer.")] = v
	}
	if err := nn.WriteSafetensors(filepath.Join(peftDir, "adapter_model.safetensors"), renamed, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(peftDir, "adapter_config.json"), []byte(`{"r": 3, "lora_alpha": 6, "peft_type": "LORA"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPEFT(peftDir, fresh, "peft"); err != nil {
		t.Fatal(err)
	}
	nn.UseAdapter(fresh, "peft")
	checkClose(t, "PEFT save_pretrained folder", fresh.Forward(fx.x, fx.timesteps, fx.context, fx.pooled).Data(), want, 1e-6)

	// Folded scale: a file without the alpha (alpha = r) is the same function.
	folded := filepath.Join(t.TempDir(), "folded.safetensors")
	if err := SavePEFTWith(folded, m, "policy", PEFTOptions{FoldScale: true}); err != nil {
		t.Fatal(err)
	}
	ts, _, err := nn.ReadSafetensors(folded)
	if err != nil {
		t.Fatal(err)
	}
	if err := nn.WriteSafetensors(folded, ts, nil); err != nil { // drop the metadata
		t.Fatal(err)
	}
	if _, err := LoadPEFT(folded, fresh, "folded"); err != nil {
		t.Fatal(err)
	}
	nn.UseAdapter(fresh, "folded")
	checkClose(t, "folded adapter without metadata", fresh.Forward(fx.x, fx.timesteps, fx.context, fx.pooled).Data(), want, 1e-5)
}

// TestPEFTErrors: adapter files that do not fit the model are refused, naming file and key.
func TestPEFTErrors(t *testing.T) {
	m, _ := loraModel(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := SavePEFT(good, m, "policy"); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := nn.ReadSafetensors(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(edit func(map[string]nn.HostTensor)) string {
		c := map[string]nn.HostTensor{}
		for k, v := range ts {
			c[k] = v
		}
		edit(c)
		p := filepath.Join(dir, "bad.safetensors")
		os.Remove(p)
		if err := nn.WriteSafetensors(p, c, meta); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fresh, _ := Load(tensor.CPU(), filepath.Join("testdata", "stability.safetensors"))
	const k = "transformer.transformer_blocks.0.attn.to_q.lora_B.weight"
	_, err = LoadPEFT(write(func(c map[string]nn.HostTensor) { delete(c, k) }), fresh, "x")
	wantErr(t, err, "bad.safetensors", "transformer_blocks.0.attn.to_q", "only one of lora_A and lora_B")
	_, err = LoadPEFT(write(func(c map[string]nn.HostTensor) {
		c["transformer.transformer_blocks.9.attn.to_q.lora_A.weight"] = c["transformer.transformer_blocks.0.attn.to_q.lora_A.weight"]
	}), fresh, "x")
	wantErr(t, err, "transformer_blocks.9.attn.to_q", "does not have")
	_, err = LoadPEFT(write(func(c map[string]nn.HostTensor) { c[k] = nn.HostTensor{Shape: []int{31, 3}, Data: make([]float32, 93)} }), fresh, "x")
	wantErr(t, err, "transformer_blocks.0.attn.to_q", "[31, 3]", "32 → 32")
	_, err = LoadPEFT(write(func(c map[string]nn.HostTensor) {
		c["text_encoder.layers.0.q.lora_A.weight"] = nn.HostTensor{Shape: []int{1}, Data: []float32{1}}
	}), fresh, "x")
	wantErr(t, err, "text_encoder.layers.0.q.lora_A.weight", "not a LoRA weight of the transformer")
	if nn.HasAdapter(fresh, "x") {
		t.Fatal("a refused file left an adapter behind")
	}
}
